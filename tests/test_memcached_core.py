"""The memcached core alone: parser, engine, store and decoder, with no reactor and no network."""

import subprocess
import sys

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from lab.protocols.memcached import (NEED_DATA, Closed, Command, Connection,
                                     ConversationDecoder, Engine, Parser, Rejected, Storage,
                                     Store)
from lab.protocols.memcached._events import DropsUnsent
from lab.protocols.memcached._cnum import strtol, strtoul, strtoull


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now=1_700_000_000.0):
        self.now = now

    def __call__(self):
        return self.now


def server(clock=None, **store_options):
    """A connection to a fresh engine with its own store."""
    return Connection(Engine(Store(clock=clock or Clock(), **store_options)))


def run(data, clock=None, **store_options):
    """The reply bytes of a fresh server for ``data``."""
    return server(clock, **store_options).feed(data)


# -- parsing, one event at a time -------------------------------------------


def test_next_event_returns_one_command_per_call():
    """Two pipelined commands come out of the parser one per next_event() call."""
    parser = Parser()
    parser.receive_data(b"get a\r\nset b 1 2 3\r\nxyz\r\n")
    assert Command([b"get", b"a"]) == parser.next_event()
    assert Storage("set", b"b", 1, 2, 0, b"xyz", False) == parser.next_event()
    assert NEED_DATA is parser.next_event()


def test_parser_waits_for_the_whole_data_block():
    """A storage command whose data has not fully arrived is pending, then complete."""
    parser = Parser()
    parser.receive_data(b"set k 0 0 5\r\nhel")
    assert NEED_DATA is parser.next_event()
    assert "set" == parser.pending.name and 7 == parser.expected
    parser.receive_data(b"lo\r\n")
    assert b"hello" == parser.next_event().data


def test_a_line_split_byte_by_byte_parses_the_same():
    """Feeding one byte at a time yields the same events as feeding everything at once."""
    data = b"set k 0 0 2\r\nhi\r\nget k\r\nmn\r\n"
    parser = Parser()
    events = []
    for byte in data:
        parser.receive_data(bytes([byte]))
        while (event := parser.next_event()) is not NEED_DATA:
            events.append(repr(event))
    whole = Parser()
    whole.receive_data(data)
    assert [repr(whole.next_event()) for _ in range(3)] == events


def test_binary_protocol_is_refused():
    """A connection whose first byte is 0x80 (binary protocol) is closed without a reply."""
    connection = server()
    assert b"" == connection.feed(b"\x80\x01\x00\x00version\r\n")
    assert "binary" in connection.closed.reason


def test_quit_closes():
    """quit turns into a Closed event and nothing after it is answered."""
    connection = server()
    assert b"VERSION 1.6.18\r\n" == connection.feed(b"version\r\nquit\r\nversion\r\n")
    assert Closed("quit") == connection.closed


# -- replies memcached gives --------------------------------------------------


def test_storage_and_retrieval_replies():
    """set/get/gets/append/prepend answer like memcached, cas uniques counting from 1."""
    assert (b"STORED\r\nSTORED\r\nSTORED\r\nVALUE k 5 5 3\r\n<abc>\r\nEND\r\n"
            == run(b"set k 5 0 3\r\nabc\r\nappend k 0 0 1\r\n>\r\nprepend k 9 9 1\r\n<\r\n"
                   b"gets k\r\n"))


def test_rejected_set_data_line_gets_an_extra_error():
    """A set with a bad byte count is refused and its data line is answered with ERROR."""
    assert b"CLIENT_ERROR bad command line format\r\nERROR\r\n" == run(b"set k 0 0 x\r\nab\r\n")


def test_bad_data_chunk():
    """A data block longer than announced is a bad data chunk; its tail is a bad command."""
    assert (b"CLIENT_ERROR bad data chunk\r\nERROR\r\nEND\r\n"
            == run(b"set k 0 0 1\r\nabc\r\nget k\r\n"))


def test_too_large_item_is_refused_and_swallowed():
    """A value over item_size_max is refused, its data skipped, and the old value dropped."""
    big = 2048
    data = (b"set k 0 0 1\r\na\r\nset k 0 0 %d\r\n" % big) + b"x" * big + b"\r\nget k\r\n"
    assert (b"STORED\r\nSERVER_ERROR object too large for cache\r\nEND\r\n"
            == run(data, item_size_max=1024, memory_limit=1 << 20))


def test_upper_case_and_unknown_commands_are_errors():
    """Commands are case-sensitive: GET is as unknown as bogus."""
    assert b"ERROR\r\nERROR\r\nERROR\r\n" == run(b"GET k\r\nbogus\r\n\r\n")


def test_noreply_silences_success_but_not_the_next_command():
    """noreply hides a reply for its own command only."""
    assert b"VALUE k 0 1\r\nv\r\nEND\r\n" == run(b"set k 0 0 1 noreply\r\nv\r\nget k\r\n")


def test_incr_wraps_at_64_bits_and_decr_stops_at_zero():
    """incr wraps around 2**64, decr floors at 0 and pads in place with spaces."""
    data = (b"set n 0 0 20\r\n18446744073709551615\r\nincr n 2\r\n"
            b"set m 0 0 2\r\n10\r\ndecr m 3\r\nget m\r\ndecr m 100\r\nincr m x\r\n")
    assert (b"STORED\r\n1\r\nSTORED\r\n7\r\nVALUE m 0 2\r\n7 \r\nEND\r\n0\r\n"
            b"CLIENT_ERROR invalid numeric delta argument\r\n" == run(data))


def test_incr_of_a_non_number():
    """incr on text is a client error."""
    assert (b"STORED\r\nCLIENT_ERROR cannot increment or decrement non-numeric value\r\n"
            == run(b"set k 0 0 3\r\nabc\r\nincr k 1\r\n"))


def test_cas_exists_and_not_found():
    """cas stores with the right unique, says EXISTS with a wrong one, NOT_FOUND without item."""
    data = (b"set k 0 0 1\r\na\r\ncas k 0 0 1 99\r\nb\r\ncas k 0 0 1 1\r\nc\r\n"
            b"cas zz 0 0 1 1\r\nd\r\ngets k\r\n")
    assert (b"STORED\r\nEXISTS\r\nSTORED\r\nNOT_FOUND\r\nVALUE k 0 1 2\r\nc\r\nEND\r\n"
            == run(data))


def test_key_longer_than_250_bytes():
    """A 251-byte key is a client error; 250 bytes is fine."""
    ok, bad = b"k" * 250, b"k" * 251
    assert (b"END\r\nCLIENT_ERROR bad command line format\r\n"
            == run(b"get " + ok + b"\r\nget " + bad + b"\r\n"))


def test_meta_commands():
    """ms/mg/md/ma/mn answer with their two-letter codes and requested flags."""
    data = (b"ms k 2 T0 F7 c\r\nhi\r\nmg k v f c k s Oxy\r\nmg nope Oq k\r\nma n N0 J5 v\r\n"
            b"md k q\r\nmg k\r\nmn\r\n")
    assert (b"HD c1\r\nVA 2 f7 c1 kk s2 Oxy\r\nhi\r\nEN Oq knope\r\nVA 1\r\n5\r\n"
            b"EN\r\nMN\r\n" == run(data))


def test_meta_flag_errors():
    """Unknown and repeated meta flags are refused with memcached's words."""
    assert (b"CLIENT_ERROR invalid flag\r\nCLIENT_ERROR duplicate flag\r\n"
            == run(b"mg k !\r\nmg k v v\r\n"))


def test_stats_groups():
    """stats and its groups end with END; unknown groups are errors."""
    connection = server()
    connection.feed(b"set k 0 0 1\r\na\r\n")
    general = connection.feed(b"stats\r\n")
    assert general.startswith(b"STAT pid ") and general.endswith(b"END\r\n")
    assert b"STAT curr_items 1\r\n" in general
    assert b"STAT items:1:number 1\r\n" in connection.feed(b"stats items\r\n")
    assert b"STAT 1:chunk_size 96\r\n" in connection.feed(b"stats slabs\r\n")
    assert b"STAT item_size_max 1048576\r\n" in connection.feed(b"stats settings\r\n")
    assert b"ERROR\r\n" == connection.feed(b"stats nonsense\r\n")


# -- time, memory and limits ---------------------------------------------------


def test_expiry_rules():
    """Relative expiry up to 30 days, absolute Unix time beyond, negative is already expired."""
    clock = Clock()
    connection = server(clock)
    absolute = int(clock.now) + 100
    connection.feed(b"set rel 0 10 1\r\na\r\nset abs 0 %d 1\r\nb\r\nset neg 0 -1 1\r\nc\r\n"
                    % absolute)
    assert b"VALUE rel 0 1\r\na\r\nVALUE abs 0 1\r\nb\r\nEND\r\n" == connection.feed(
        b"get rel abs neg\r\n")
    clock.now += 10
    assert b"VALUE abs 0 1\r\nb\r\nEND\r\n" == connection.feed(b"get rel abs\r\n")
    clock.now += 90
    assert b"END\r\n" == connection.feed(b"get abs\r\n")


def test_touch_and_gat_extend_life():
    """touch and gat give an item a new expiry time."""
    clock = Clock()
    connection = server(clock)
    connection.feed(b"set a 0 5 1\r\na\r\nset b 0 5 1\r\nb\r\n")
    assert b"TOUCHED\r\nVALUE b 0 1\r\nb\r\nEND\r\n" == connection.feed(
        b"touch a 100\r\ngat 100 b\r\n")
    clock.now += 50
    assert b"VALUE a 0 1\r\na\r\nVALUE b 0 1\r\nb\r\nEND\r\n" == connection.feed(b"get a b\r\n")


def test_flush_all_with_delay():
    """flush_all 10 keeps items for ten seconds, then they are gone."""
    clock = Clock()
    connection = server(clock)
    connection.feed(b"set a 0 0 1\r\na\r\n")
    assert b"OK\r\nVALUE a 0 1\r\na\r\nEND\r\n" == connection.feed(b"flush_all 10\r\nget a\r\n")
    clock.now += 10
    assert b"END\r\n" == connection.feed(b"get a\r\n")


def test_lru_eviction_under_the_memory_limit():
    """Past the limit a class evicts its least recently used item; a fetch moves one up once a minute."""
    clock = Clock()
    connection = server(clock, memory_limit=2 * 1048576)
    value = b"v" * 100000  # ten to a 1 MiB page: two pages hold 20
    for n in range(20):
        connection.feed(b"set k%d 0 0 100000\r\n%s\r\n" % (n, value))
    connection.feed(b"get k0\r\n")  # within a minute of its set: stays at the tail
    connection.feed(b"set k20 0 0 100000\r\n%s\r\n" % value)
    clock.now += 61
    connection.feed(b"get k1\r\n")  # a minute later: moves to the head
    connection.feed(b"set k21 0 0 100000\r\n%s\r\n" % value)
    hits = connection.feed(b"get k0 k1 k2 k3\r\n")
    assert [b"k1", b"k3"] == [line.split()[1] for line in hits.split(b"\r\n")
                              if line.startswith(b"VALUE")]
    store = connection.engine.store
    assert store.malloced == 2 * 1048576
    assert store.totals()["evicted"] == 2


def test_store_refuses_an_item_limit_above_half_the_memory():
    """item_size_max above half of memory_limit is refused, as memcached refuses it."""
    try:
        Store(memory_limit=1 << 20, item_size_max=1 << 20)
    except ValueError as error:
        assert "half of memory_limit" in str(error)
    else:
        raise AssertionError("Store accepted item_size_max == memory_limit")


def test_an_endless_line_closes_instead_of_growing():
    """A line with no end past 2048 bytes closes the connection and frees the buffer."""
    parser = Parser()
    for _ in range(100):
        parser.receive_data(b"x" * 1000)
        event = parser.next_event()
        if event is not NEED_DATA:
            break
    assert isinstance(event, Closed)
    assert 0 == parser.buffered


def test_a_long_multiget_is_bounded_by_max_line():
    """A get line may exceed 2048 bytes, but not max_line."""
    parser = Parser(max_line=10_000)
    parser.receive_data(b"get " + b"k " * 2000)
    assert NEED_DATA is parser.next_event()
    parser.receive_data(b"k " * 5000)
    assert isinstance(parser.next_event(), Closed)


def test_a_huge_rejected_block_is_skipped_without_buffering():
    """The data of a refused 100 MB set is skipped as it arrives, never buffered."""
    parser = Parser()
    parser.receive_data(b"set k 0 0 100000000\r\n")
    assert isinstance(parser.next_event(), Rejected)
    for _ in range(100):
        parser.receive_data(b"x" * 1_000_000)
        assert NEED_DATA is parser.next_event() and parser.buffered == 0
    parser.receive_data(b"\r\nmn\r\n")
    assert Command([b"mn"]) == parser.next_event()


# -- numbers as C reads them -----------------------------------------------------


def test_numbers_read_like_c():
    """Leading spaces and plus signs are accepted, values narrowed to 32 bits, junk refused."""
    assert (1, 0, -1, None, None) == (strtol(b"4294967297"), strtoul(b"4294967296"),
                                      strtol(b"-1"), strtoul(b"-1"), strtol(b"12x"))
    assert (5, 18446744073709551615, None) == (strtoul(b"\t+5"), strtoull(b"18446744073709551615"),
                                               strtoull(b"18446744073709551616"))


# -- the conversation decoder ------------------------------------------------------


def test_decoder_names_commands_and_replies():
    """The decoder turns both directions into readable lines, values included."""
    decoder = ConversationDecoder()
    sent = decoder.feed("in", b"set k 0 0 2\r\nhi\r\nget k\r\n")
    answered = decoder.feed("out", b"STORED\r\nVALUE k 0 2\r\nhi\r\nEND\r\n")
    assert ["-> set k flags=0 exptime=0 (2 bytes)", "-> get k"] == sent
    assert ["<- STORED", "<- VALUE k 0 2 = 'hi'", "<- END"] == answered


def test_decoder_handles_split_replies():
    """A reply split across captures is decoded once it is complete."""
    decoder = ConversationDecoder()
    assert [] == decoder.feed("out", b"VALUE k 0 5\r\nhel")
    assert ["<- VALUE k 0 5 = 'hello'", "<- END"] == decoder.feed("out", b"lo\r\nEND\r\n")


# -- fuzzing -----------------------------------------------------------------------

_WORDS = [b"get", b"gets", b"gat", b"gats", b"set", b"add", b"cas", b"append", b"incr",
          b"decr", b"touch", b"delete", b"flush_all", b"stats", b"mg", b"ms", b"md", b"ma",
          b"me", b"mn", b"noreply", b"0", b"1", b"-1", b"k", b"v", b"q", b"T1", b"N0",
          b"MD", b"Oxx", b"b", b"\r\n", b"\n", b" ", b"\x00", b"4294967296"]
_fuzz_input = st.lists(st.one_of(st.sampled_from(_WORDS), st.binary(max_size=20)),
                       max_size=60).map(b" ".join)


@settings(max_examples=300, deadline=None)
@given(_fuzz_input)
def test_fuzzed_input_never_raises_and_stays_bounded(data):
    """Random and malformed input never raises out of the core and never over-buffers."""
    connection = server()
    for start in range(0, len(data), 7):
        connection.feed(data[start:start + 7])
        assert connection.parser.buffered <= connection.parser.max_line + 7
    if connection.closed is None:
        # whatever came before, a fresh line still gets an answer (or completes a data block)
        connection.feed(b"\r\n" * 3)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=3000))
def test_random_bytes_never_raise(data):
    """Arbitrary bytes never raise out of the core."""
    connection = server()
    reply = connection.feed(data)
    assert isinstance(reply, bytes)


def test_core_imports_only_the_standard_library():
    """Importing the memcached core pulls in no Twisted, crochet or widgets (stdlib only)."""
    code = ("import sys, lab.protocols.memcached; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in "
            "('twisted', 'crochet', 'ipywidgets', 'zope')))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=60)
    assert "[]" == result.stdout.strip(), result.stderr


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["in", "out"]), _fuzz_input), max_size=8))
def test_decoder_never_raises(chunks):
    """The conversation decoder reads any traffic, in any order, without raising."""
    decoder = ConversationDecoder()
    for direction, data in chunks:
        assert all(isinstance(line, str) for line in decoder.feed(direction, data))


@settings(max_examples=200, deadline=None)
@given(_fuzz_input)
def test_stepping_answers_exactly_like_running(data):
    """Stepping one event at a time gives the same reply bytes as the adapter's fast path."""
    clock = Clock()
    fast, stepped = server(clock), server(clock)
    expected = fast.feed(data)
    stepped.receive_data(data)
    replies = []
    for _ in range(len(data) + 2):
        step = stepped.step()
        if step.event is NEED_DATA or stepped.closed is not None:
            break
        replies.append(step.reply)
    # Where memcached would lose unsent replies, the run does and stepping shows them all.
    assume(not any(isinstance(reply, DropsUnsent) for reply in replies))
    assume(stepped.closed is None or stepped.closed.reason == "quit")
    assume(b"STAT rusage_user" not in expected)  # CPU time moves between the two runs
    assert expected == b"".join(replies)


def test_unsent_replies_are_lost_like_memcacheds():
    """A multi-get's long key drops queued replies since the last get, as memcached does."""
    data = b"set a 0 0 1\r\nx\r\nget a\r\nset b 0 0 1\r\ny\r\nget a " + b"k" * 251 + b"\r\n"
    assert (b"STORED\r\nVALUE a 0 1\r\nx\r\nEND\r\nCLIENT_ERROR bad command line format\r\n"
            == run(data))


def test_cachedump_lists_a_slab_class():
    """stats cachedump shows the keys of a slab class with size and expiry, newest first."""
    connection = server()
    connection.feed(b"set a 0 0 1\r\nx\r\nset b 0 0 2\r\nyy\r\n")
    assert (b"ITEM b [2 b; 0 s]\r\nITEM a [1 b; 0 s]\r\nEND\r\n"
            == connection.feed(b"stats cachedump 1 0\r\n"))
