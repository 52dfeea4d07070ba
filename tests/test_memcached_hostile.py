"""Hostile clients against the lab's memcached (in a subprocess): its memory stays bounded.

Each test attacks a ``python -m lab serve memcached`` process, reads its
resident memory from /proc, and checks that another client still gets its
answers.  The bounds are the ones the plugin documents: replies produced per
read (``reply_limit``), data held for incomplete requests (``pending_limit``,
by default the memory limit) and the store's overhead per item.
"""

import pytest

from tests.memcached_peers import (ask, fill_tiny_items, lab_server_process, never_reading_gets,
                                   round_trip, rss, settle_rss, stalled_sets)

pytestmark = [pytest.mark.peers]
MiB = 1048576


def _stat(port, name):
    reply = ask(port, b"stats\r\n", b"END\r\n")
    for line in reply.split(b"\r\n"):
        if line.startswith(b"STAT %s " % name.encode()):
            return int(line.split()[2])
    raise AssertionError(f"no {name} in stats")


def test_never_reading_clients_with_pipelined_large_gets_cost_little():
    """Clients pipelining gets of a 1 MB value and never reading grow the server by < 32 MiB."""
    with lab_server_process() as (_, port, pid):
        before = rss(pid)
        socks = never_reading_gets(port)  # ~9,000 gets each: gigabytes of replies
        try:
            assert round_trip(port) < 5
            grown = settle_rss(pid) - before
        finally:
            for sock in socks:
                sock.close()
        assert grown < 32 * MiB, f"grew by {grown / MiB:.1f} MiB"
        assert round_trip(port) < 5


def test_stalled_partial_sets_count_against_the_pending_limit():
    """1,000 connections stalled halfway through 900 kB sets hold at most pending_limit of data."""
    with lab_server_process() as (_, port, pid):
        before = rss(pid)
        socks = stalled_sets(port, count=1000, size=900000, sent=450000)
        try:
            assert round_trip(port) < 5
            grown = settle_rss(pid) - before
            refused = _stat(port, "store_no_memory")
        finally:
            for sock in socks:
                sock.close()
        # 64 MiB of reservations (about 70 items) are admitted; the others were told
        # "SERVER_ERROR out of memory storing object" and their data is skipped, not held.
        assert refused > 900
        assert grown < 2 * 64 * MiB, f"grew by {grown / MiB:.1f} MiB"
        reply = ask(port, b"set after 0 0 2\r\nok\r\nget after\r\n", b"END\r\n")
        assert reply == b"STORED\r\nVALUE after 0 2\r\nok\r\nEND\r\n"


def test_a_refused_set_is_said_to_that_client():
    """The client whose set does not fit the pending limit reads why; its data is skipped."""
    with lab_server_process("pending_limit=2000000") as (_, port, _pid):
        first = stalled_sets(port, count=1, size=1000000, sent=1000)
        try:
            reply = ask(port, b"set second 0 0 1000000\r\n" + b"y" * 1000000 + b"\r\nversion\r\n",
                        b"VERSION 1.6.18\r\n")
            assert reply == b"SERVER_ERROR out of memory storing object\r\nVERSION 1.6.18\r\n"
        finally:
            first[0].close()


def test_tiny_items_cost_a_small_factor_of_the_memory_limit():
    """A cache filled to its 16 MiB limit with tiny items grows the process by under 4x that."""
    with lab_server_process(f"memory_limit={16 * MiB}") as (_, port, pid):
        before = rss(pid)
        fill_tiny_items(port, 16)
        grown = settle_rss(pid, 0.2) - before
        assert _stat(port, "curr_items") > 150000
        assert grown < 4 * 16 * MiB, f"grew by {grown / MiB:.1f} MiB"
