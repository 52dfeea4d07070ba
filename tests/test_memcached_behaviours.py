"""memcached behaviours its own test suite checks, compared byte for byte with a real memcached.

Each test runs the same exchanges against a fresh Debian ``memcached`` (with
the matching command-line options) and a fresh lab server (with the matching
plugin options), then compares the replies and the counters both report.
"""

import contextlib

import pytest

import lab
from tests.memcached_peers import exchange, real_memcached

pytestmark = [pytest.mark.peers, pytest.mark.reactor]


@contextlib.contextmanager
def in_process_lab(**options):
    """A fresh lab memcached server on the shared reactor; yields its port."""
    from twisted.internet import reactor

    from lab.adapters.memcached import MemcachedFactory

    port = lab.call(reactor.listenTCP, 0, MemcachedFactory(**options), interface="127.0.0.1")
    try:
        yield port.getHost().port
    finally:
        lab.call(port.stopListening)


def stats(port, group=b""):
    """``{name: value}`` of ``stats [group]`` read on a fresh connection."""
    reply = exchange(port, b"stats" + group + b"\r\n")
    pairs = (line.split(b" ", 2)[1:] for line in reply.split(b"\r\n") if line.startswith(b"STAT "))
    return {name.decode(): value for name, value in pairs}


def run_both(exchanges, real_args=(), **lab_options):
    """Send each exchange on its own connection to both servers; ``(real, ours)`` results.

    A result is ``(replies, stats, settings)``: the list of replies and the
    two statistics groups read afterwards.
    """
    results = []
    for server in (real_memcached(*real_args), in_process_lab(**lab_options)):
        with server as port:
            replies = [exchange(port, data) for data in exchanges]
            results.append((replies, stats(port), stats(port, b" settings")))
    return results


def test_http_looking_commands_close_the_connection(lab_reactor):
    """A command whose last token starts with HTTP/ closes, unless its name is one memcached knows."""
    exchanges = [b"set a 0 0 1\r\nx\r\nGET / HTTP/1.0\r\nget a\r\n",
                 b"version\r\nPOST /form HTTP/1.1\r\nversion\r\n",
                 b"get / HTTP/1.1\r\nHTTP/1.1 200\r\nGET / http/1.0\r\nmx a HTTP/1.0\r\n"
                 b"mxy a HTTP/1.0\r\nversion\r\n",
                 b"bogus HTTP/\r\nversion\r\n"]
    (real, _, _), (ours, _, _) = run_both(exchanges)
    assert real == ours
    assert ours[0] == b""  # the STORED not yet sent is lost when memcached closes


@pytest.mark.parametrize("reqs", [20, 5])
def test_yields_between_pipelined_commands_match(lab_reactor, reqs):
    """reqs_per_event (memcached -R) decides when a connection yields; conn_yields counts each."""
    exchanges = [b"version\r\n" * n for n in (1, 4, 5, 6, 19, 20, 21, 22, 40, 41, 61)]
    exchanges += [b"set a 0 0 1\r\nx\r\n" + b"get a\r\n" * n for n in (4, 5, 20, 21, 41)]
    exchanges += [b"set a 0 0 1\r\nx\r\n" * 30 + b"get " + b"k" * 251 + b"\r\n"]
    (real, real_stats, real_settings), (ours, our_stats, our_settings) = run_both(
        exchanges, ("-R", str(reqs)), reqs_per_event=reqs)
    assert real == ours
    assert real_stats["conn_yields"] == our_stats["conn_yields"] != b"0"
    assert real_settings["reqs_per_event"] == our_settings["reqs_per_event"] == b"%d" % reqs


def test_no_evict_mode_answers_out_of_memory(lab_reactor):
    """With evictions off (memcached -M), a full cache refuses sets and counts store_no_memory."""
    value = b"x" * 100000
    sets = b"".join(b"set k%d 0 0 %d\r\n%s\r\n" % (i, len(value), value) for i in range(120))
    (real, real_stats, real_settings), (ours, our_stats, our_settings) = run_both(
        [sets, b"get k0 k119\r\n"], ("-M", "-m", "8"), evictions=0, memory_limit=8 * 1048576)
    assert real == ours
    assert b"SERVER_ERROR out of memory storing object\r\n" in ours[0]
    for name in ("store_no_memory", "evictions", "curr_items"):
        assert real_stats[name] == our_stats[name], name
    assert real_settings["evictions"] == our_settings["evictions"] == b"off"
