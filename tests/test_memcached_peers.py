"""The lab's memcached against peers no one here wrote: Debian's memcached and memccapable.

Differential tests send the same bytes to a fresh real ``memcached -U 0`` and
to a fresh lab server (both on 127.0.0.1), half-close, and compare every
reply byte.  ``stats`` values differ by nature (pid, uptime), so only their
structure is compared.
"""

import base64
import subprocess

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.memcached_peers import exchange, in_process_lab, lab_server, real_memcached, require

pytestmark = [pytest.mark.peers, pytest.mark.reactor]


def both(data):
    """``(real memcached's reply, the lab's reply)`` to the same bytes, each on a fresh server."""
    with real_memcached() as real_port:
        real = exchange(real_port, data)
    with in_process_lab() as lab_port:
        ours = exchange(lab_port, data)
    return real, ours


B64 = base64.b64encode(b"\x00bin\xffkey")
EDGE_CASES = {
    "storage": b"set a 1 0 1\r\nx\r\nadd a 0 0 1\r\ny\r\nadd b 2 0 1\r\ny\r\nreplace c 0 0 1\r\n"
               b"z\r\nreplace a 3 0 2\r\nzz\r\nappend a 9 9 1\r\n+\r\nprepend a 0 0 1\r\n-\r\n"
               b"append nope 0 0 1\r\nq\r\ngets a b c\r\n",
    "noreply": b"set a 0 0 1 noreply\r\nx\r\nadd a 0 0 1 noreply\r\ny\r\nincr a 1 noreply\r\n"
               b"delete a noreply\r\ndelete a noreply\r\ntouch a 1 noreply\r\nget a\r\n",
    "noreply on errors": b"set a 0 0 z noreply\r\nx\r\nset a 0 0 1 noreply\r\nxyz\r\n"
                         b"incr a q noreply\r\nverbosity x noreply\r\nmn\r\n",
    "token counts": b"set a 0 0\r\nset a 0 0 1 2 3\r\nget\r\ngets\r\nincr a\r\ndelete\r\n"
                    b"touch a\r\nverbosity\r\nflush_all 1 2 3\r\ncas a 0 0 1\r\nx\r\n",
    "bad numbers": b"set a x 0 1\r\nv\r\nset a 0 y 1\r\nv\r\nset a 0 0 -1\r\nv\r\n"
                   b"set a -1 0 1\r\nv\r\nset a 4294967296 4294967297 1\r\nv\r\n"
                   b"set b 0 0 +1\r\nv\r\nset c 0 0 \t1\r\nv\r\ncas a 0 0 1 x\r\nv\r\nget a b c\r\n",
    "bad data chunk": b"set a 0 0 1\r\nabc\r\nset b 0 0 3\r\nab\r\n\r\nget a b\r\n",
    "line ends": b"set a 0 0 1\nx\r\nget a\n\r\n\n \r\nget  a   a \r\nversion\x00junk\r\n",
    "long keys": b"get " + b"k" * 250 + b"\r\nget " + b"k" * 251 + b"\r\nset " + b"k" * 251
                 + b" 0 0 1\r\nx\r\ndelete " + b"k" * 251 + b"\r\nincr " + b"k" * 251 + b" 1\r\n",
    # memcached drops the replies it has queued but not sent when a multi-get has a long key.
    "long key in a multi-get": b"set a 0 0 1\r\nx\r\nget a " + b"k" * 251 + b" a\r\nmn\r\n",
    "long key after mn": b"version\r\nmn\r\nversion\r\nget " + b"k" * 251 + b"\r\nmn\r\n",
    "long key after 21 commands": b"version\r\n" * 23 + b"get " + b"k" * 251 + b"\r\n",
    "long key after 41 commands": b"version\r\n" * 45 + b"get " + b"k" * 251 + b"\r\n",
    "junk after 25 commands": b"version\r\n" * 25 + b"x" * 5000,
    "many keys": b"set a 0 0 1\r\nx\r\nget " + b"a b " * 30 + b"\r\n",
    "many tokens": b"set a 0 0 1 " + b"x " * 30 + b"\r\nmg a " + b"v " * 25 + b"\r\n"
                   b"stats " + b"x " * 30 + b"\r\n",
    "case": b"SET a 0 0 1\r\nx\r\nGet a\r\nMG a\r\nM\r\nm\r\n",
    "incr and decr": b"set n 0 0 2\r\n10\r\ndecr n 1\r\nget n\r\nincr n 99\r\ngets n\r\n"
                     b"decr n 1000\r\nincr n 18446744073709551615\r\nincr n 18446744073709551616\r\n"
                     b"set s 0 0 4\r\n 12 \r\nincr s 1\r\nset t 0 0 3\r\n1x2\r\nincr t 1\r\n"
                     b"set e 0 0 0\r\n\r\nincr e 1\r\nincr zz 1\r\ndecr zz 1\r\nincr n -1\r\n",
    "cas": b"set a 0 0 1\r\nx\r\ngets a\r\ncas a 0 0 1 1\r\ny\r\ncas a 0 0 1 1\r\nz\r\n"
           b"cas a 0 0 1 0\r\nz\r\ncas b 0 0 1 5\r\nz\r\ncas a 0 0 1 2 noreply\r\nw\r\ngets a\r\n",
    "expiry": b"set a 0 -1 1\r\nx\r\nset b 0 100 1\r\ny\r\nset c 0 1 1\r\nz\r\n"
              b"touch b -1\r\ntouch q 10\r\ngat 100 a b c\r\ngats -1 c\r\ngat x a\r\ngat 0\r\n"
              b"get a b c\r\nset d 0 999999999999 1\r\nz\r\nget d\r\n",
    "ttl set to the past": b"set a 0 0 1\r\nx\r\nmg a T-1 t v\r\nmg a v\r\n"
                           b"set b 0 0 1\r\ny\r\nma b T-1 t\r\nget b\r\n",
    "delete": b"set a 0 0 1\r\nx\r\ndelete a 0\r\ndelete a\r\ndelete a 1\r\ndelete a 0 noreply\r\n"
              b"delete a x y\r\ndelete a 0 0\r\n",
    "flush_all": b"set a 0 0 1\r\nx\r\nflush_all\r\nget a\r\nset a 0 0 1\r\ny\r\nflush_all 0\r\n"
                 b"flush_all noreply\r\nflush_all -5\r\nflush_all x\r\nflush_all 100\r\n"
                 b"set b 0 0 1\r\nz\r\ngets b\r\n",
    "misc": b"version\r\nversion x\r\nverbosity 1\r\nverbosity 5 noreply\r\nverbosity x\r\n"
            b"shutdown\r\nstats detail\r\nstats detail on\r\nstats detail dump\r\nstats sizes\r\n"
            b"stats bogus\r\nstats reset\r\nquit\r\nversion\r\n",
    "admin commands": b"slabs automove 1\r\nslabs automove 3\r\nslabs automove x\r\n"
                      b"slabs reassign 1 2\r\nslabs\r\nslabs foo\r\nlru_crawler sleep 100\r\n"
                      b"lru_crawler sleep 2000000\r\nlru_crawler tocrawl 10\r\n"
                      b"lru_crawler bogus\r\nlru tune 10 25 0.1 2.0\r\nlru mode flat\r\n"
                      b"lru temp_ttl 10\r\nlru\r\ncache_memlimit 100\r\ncache_memlimit 1\r\n"
                      b"cache_memlimit x\r\nmn\r\n",
    # A flat LRU is memcached's COLD one, which cachedump lists, most recent first.
    "stats cachedump": b"set a 0 0 1\r\nx\r\nset b 0 0 2\r\nxy\r\nget a\r\n"
                       b"stats cachedump 1 0\r\nstats cachedump 1 1\r\nstats cachedump 5 0\r\n"
                       b"stats cachedump\r\nstats cachedump x y\r\nstats cachedump 99 1\r\n",
    "mg": b"set a 5 100 2\r\nhi\r\nmg a\r\nmg a v\r\nmg a s t f c k h l v\r\nmg a h l\r\n"
          b"mg a Oabc q k\r\nmg miss Oabc q k\r\nmg miss Oabc k\r\nmg a u h\r\nmg a T30 t\r\n"
          b"mg a O" + b"x" * 40 + b"\r\nmg a !\r\nmg a v v\r\nmg a Tx\r\nmg\r\nmg a\xff\r\nmn\r\n",
    "mg vivify and recache": b"mg a N30 v c t\r\nmg a N30 v c\r\nmg a v\r\nset b 0 10 1\r\nx\r\n"
                             b"mg b R30 v\r\nmg b R30 v\r\nmg b R5 v\r\n",
    "ms": b"ms a 2\r\nhi\r\nms a 2 T0 F5 c k Oz\r\nhi\r\nms a 2 q\r\nho\r\nms a 2 ME\r\nxx\r\n"
          b"ms n 1 MR\r\nx\r\nms a 1 MA c\r\n!\r\nms a 1 MP\r\n<\r\nms a 1 MX\r\nx\r\n"
          b"ms a 1 Zbad\r\nx\r\nms a x\r\nms a\r\nms\r\nms a 1 C999\r\nx\r\nms n 1 C1\r\nx\r\n"
          b"ms a 1 O" + b"y" * 40 + b"\r\nx\r\nms a 3\r\nxyzzy\r\nmg a v f c\r\n",
    "ms cas and stale": b"ms a 1\r\nx\r\nmg a c\r\nms a 1 C1 c\r\ny\r\nms a 1 C1 I c\r\nz\r\n"
                        b"mg a v c\r\nms a 1 C2 MA\r\n!\r\nms a 1 C1 MA\r\n?\r\n",
    "md": b"set a 0 0 1\r\nx\r\nmd a q\r\nmd a\r\nmd a Oq k\r\nset b 0 0 1\r\ny\r\nmd b C99\r\n"
          b"md b I T30\r\nmg b v c t\r\nmg b v\r\nmd b !\r\nmd b q q\r\nmn\r\n",
    "ma": b"ma a\r\nma a N0 J10 v\r\nma a v\r\nma a MD D3 v c t\r\nma a M- D100 v\r\n"
          b"ma a MX\r\nma a Dx\r\nma a Jx N0\r\nma a q\r\nma a q v\r\nma b q\r\nma b Oz k\r\n"
          b"set c 0 0 1\r\nx\r\nma c\r\nma a C999\r\nma a T30 t v\r\nmn\r\n",
    "me": b"set a 3 0 2\r\nhi\r\nme a\r\nme nope\r\nme\r\nmg a v\r\nme a\r\n",
    "base64 keys": b"ms " + B64 + b" 2 b k\r\nhi\r\nmg " + B64 + b" b k v\r\nme " + B64 + b" b\r\n"
                   b"md " + B64 + b" b k\r\nmg !!!! b\r\n",
    "meta noreply and mn": b"mg a q\r\nmg b q v\r\nms c 1 q\r\nx\r\nmd c q\r\nmd c q\r\nmn\r\n",
    # memcached only splits on spaces: other control characters are part of a key.
    "control characters in keys": b"set a\x01b 0 0 1\r\nx\r\nget a\x01b a\tb\r\n"
                                  b"set \x7f 0 0 1\r\ny\r\nmg \x7f v k\r\n",
    # memcached switches to its binary protocol when the first byte is 0x80; the lab only
    # speaks text, and closes (an incomplete binary request gets no reply from either).
    "binary magic byte": b"\x80\r\nversion\r\n",
    "endless line closes": b"version\r\n" + b"x" * 5000,
    "long multi-get line": b"set k 0 0 1\r\nv\r\nget " + b"k " * 1500 + b"\r\nmn\r\n",
    "garbage": b"\x00\x01\x02\r\n\xff\xfe\r\n   \r\n\t\r\nget\x00 a\r\nmn\r\n",
}


@pytest.mark.parametrize("name", sorted(EDGE_CASES))
def test_edge_case_replies_match_memcached(name, lab_reactor):
    """Hand-picked edge cases get byte-identical replies from the lab and from memcached."""
    real, ours = both(EDGE_CASES[name])
    assert real == ours


def test_too_large_items_match_memcached(lab_reactor):
    """The largest storable value and one byte more are treated alike (1 MiB item limit)."""
    limit = 1048576 - 48 - 3 - 1 - 2 - 8
    data = (b"set foo 0 0 %d\r\n" % limit + b"x" * limit + b"\r\nget foo\r\n"
            + b"set foo 0 0 %d\r\n" % (limit + 1) + b"x" * (limit + 1) + b"\r\nget foo\r\n"
            + b"ms foo 2000000\r\n" + b"y" * 2000000 + b"\r\nmn\r\n")
    real, ours = both(data)
    assert real == ours
    assert b"SERVER_ERROR object too large for cache\r\n" in ours


def _stat_names(reply):
    return [line.split(b" ")[1] for line in reply.split(b"\r\n") if line.startswith(b"STAT ")]


@pytest.mark.parametrize("group", [b"", b" settings", b" items", b" slabs"])
def test_stats_have_memcacheds_structure(group, lab_reactor):
    """stats, stats settings/items/slabs list the same statistic names as memcached."""
    data = b"set a 0 0 2\r\nhi\r\nset b 0 0 300\r\n" + b"x" * 300 + b"\r\nstats" + group + b"\r\n"
    real, ours = both(data)
    assert _stat_names(real) == _stat_names(ours)
    assert ours.endswith(b"END\r\n")


# -- generated sequences ------------------------------------------------------------

_keys = st.sampled_from([b"a", b"b", b"k" * 250, b"n"])
_nums = st.sampled_from([b"0", b"1", b"7", b"-1", b"100", b"x", b"4294967296",
                         b"18446744073709551615"])
_value = st.sampled_from([b"", b"1", b"42", b"hello", b"18446744073709551615", b" 9"])
# No relative TTLs or access times here: each server's clock ticks on its own second, and a
# tick between two commands of one example would show as a difference.
_meta_flags = st.lists(st.sampled_from([b"v", b"c", b"f", b"k", b"s", b"q", b"h", b"Oop",
                                        b"N0", b"T0", b"MD", b"ME", b"MA", b"MP", b"MR",
                                        b"D5", b"J3", b"I", b"C1", b"C2", b"u", b"t", b"T-1",
                                        b"M+", b"Dx", b"x"]), max_size=4)
_noreply = st.sampled_from([b"", b" noreply"])


@st.composite
def _storage(draw):
    name = draw(st.sampled_from([b"set", b"add", b"replace", b"append", b"prepend", b"cas"]))
    value = draw(_value)
    cas = b" " + draw(_nums) if name == b"cas" else b""
    size = b"%d" % len(value)
    if draw(st.integers(0, 9)) == 0:  # a wrong length: bad data chunk or an error line
        size = draw(st.sampled_from([b"0", b"x", b"-1"]))
    return b"%s %s %s %s %s%s%s\r\n%s\r\n" % (name, draw(_keys), draw(_nums), b"0", size, cas,
                                             draw(_noreply), value)


@st.composite
def _meta(draw):
    name = draw(st.sampled_from([b"mg", b"ms", b"md", b"ma", b"mn", b"me"]))
    flags = b" ".join(draw(_meta_flags))
    if name == b"ms":
        value = draw(_value)
        return b"ms %s %d %s\r\n%s\r\n" % (draw(_keys), len(value), flags, value)
    if name == b"mn":
        return b"mn\r\n"
    return b"%s %s %s\r\n" % (name, draw(_keys), flags)


@st.composite
def _other(draw):
    key = draw(_keys)
    return draw(st.sampled_from([
        b"get %s\r\n" % key, b"gets %s %s\r\n" % (key, draw(_keys)),
        b"incr %s %s%s\r\n" % (key, draw(_nums), draw(_noreply)),
        b"decr %s %s%s\r\n" % (key, draw(_nums), draw(_noreply)),
        b"delete %s%s\r\n" % (key, draw(_noreply)), b"touch %s 0\r\n" % key,
        b"gat 0 %s\r\n" % key, b"gats 0 %s\r\n" % key, b"flush_all\r\n", b"version\r\n",
        b"bogus %s\r\n" % key, b"touch %s -1\r\n" % key, b"gat -1 %s\r\n" % key,
        b"me %s\r\n" % key, b"flush_all 0 noreply\r\n", b"verbosity 1\r\n",
    ]))


_sequences = st.lists(st.one_of(_storage(), _meta(), _other()), min_size=1, max_size=12)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                 HealthCheck.function_scoped_fixture])
@given(_sequences)
def test_generated_sequences_match_memcached(lab_reactor, commands):
    """Hypothesis-generated command sequences get byte-identical replies from both servers."""
    data = b"".join(commands) + b"mn\r\n"
    real, ours = both(data)
    assert real == ours


_RAW_WORDS = [b"get", b"gets", b"gat", b"set", b"add", b"cas", b"append", b"incr", b"decr",
              b"touch", b"delete", b"flush_all", b"mg", b"ms", b"md", b"ma", b"me", b"mn",
              b"noreply", b"0", b"1", b"2", b"-1", b"k", b"v", b"q", b"T1", b"N0", b"c", b"t",
              b"MD", b"Oxx", b"b", b"\r\n", b"\n", b" ", b"\x00", b"\t", b"4294967296",
              b"version", b"I", b"C1"]
_raw = st.lists(st.one_of(st.sampled_from(_RAW_WORDS), st.binary(max_size=6)),
                max_size=60).map(b" ".join)


@settings(max_examples=100, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(_raw)
def test_malformed_input_gets_the_same_replies(lab_reactor, data):
    """Random, mostly malformed token soup gets byte-identical replies from both servers."""
    real, ours = both(data + b"\r\nmn\r\n")
    assert real == ours


# -- conformance and robustness --------------------------------------------------------


def test_memccapable_passes_every_ascii_test():
    """Debian's memccapable -a (ASCII conformance checker) passes all its tests on the lab."""
    binary = require("memccapable")
    with lab_server() as (host, port):
        result = subprocess.run([binary, "-h", host, "-p", str(port), "-a"],
                                capture_output=True, text=True, timeout=120)
    assert "All tests passed" in result.stdout, result.stdout + result.stderr
    assert 0 == result.returncode
    assert "[FAIL]" not in result.stdout


@settings(max_examples=30, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.binary(min_size=1, max_size=4000))
def test_server_keeps_answering_after_garbage(lab_reactor, garbage):
    """After a connection sends random bytes, the server still answers a new connection."""
    with in_process_lab() as port:
        exchange(port, garbage)
        assert b"VERSION 1.6.18\r\n" == exchange(port, b"version\r\n")
