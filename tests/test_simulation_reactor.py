"""The same scenarios in the simulation and on the real reactor give the same bytes."""

import socket

import pytest

import lab

pytestmark = pytest.mark.reactor

# A memcached client script: storage, retrieval, arithmetic, cas, meta commands and errors.
# Nothing in it depends on the clock or the process (no stats), so replies must match exactly.
SCRIPT = (
    b"set greeting 5 0 5\r\nhello\r\n"
    b"get greeting\r\n"
    b"add greeting 0 0 3\r\nnew\r\n"
    b"replace greeting 1 0 3\r\nhey\r\n"
    b"append greeting 0 0 4\r\n you\r\n"
    b"prepend greeting 0 0 3\r\noh \r\n"
    b"gets greeting\r\n"
    b"set n 0 0 2\r\n10\r\n"
    b"incr n 5\r\ndecr n 20\r\nincr missing 1\r\n"
    b"cas n 0 0 1 999\r\nx\r\n"
    b"touch greeting 100\r\n"
    b"ms meta 2 T0\r\nhi\r\nmg meta v f\r\nmd meta q\r\nmn\r\n"
    b"delete greeting\r\nget greeting n\r\n"
    b"bogus command\r\n"
    b"version\r\n"
    b"flush_all\r\nget n\r\n"
)


def replies_in_the_simulation(script):
    """What the memcached plugin answers to ``script`` in the simulation (client half-closes after)."""
    sim = lab.simulation()
    server = sim.listen("memcached", 11211)
    client = sim.connect(server)
    client.send(script)
    client.shutdown_write()
    sim.run_until_idle()
    assert client.closed_reason is not None, "the server should close after answering"
    return client.received


def replies_on_the_real_reactor(script):
    """What the memcached plugin answers to ``script`` over loopback sockets."""
    listener = lab.listen("memcached", name="sim-compare-memcached")
    try:
        with socket.create_connection((listener.host, listener.port), timeout=10) as sock:
            sock.sendall(script)
            sock.shutdown(socket.SHUT_WR)
            chunks = []
            while True:
                data = sock.recv(65536)
                if not data:
                    return b"".join(chunks)
                chunks.append(data)
    finally:
        listener.stop()


def test_memcached_script_gives_byte_identical_replies(lab_reactor):
    """A memcached client script gets the same bytes back in the simulation and on the real reactor."""
    simulated = replies_in_the_simulation(SCRIPT)
    real = replies_on_the_real_reactor(SCRIPT)
    assert b"VALUE greeting 5 5\r\nhello\r\nEND\r\n" in simulated
    assert real == simulated


def test_one_byte_fragments_change_nothing_for_memcached(lab_reactor):
    """memcached frames its input, so one-byte pieces give the same replies as whole writes."""
    sim = lab.simulation(fragment=1)
    server = sim.listen("memcached", 11211)
    client = sim.connect(server)
    client.send(SCRIPT[:200])
    client.shutdown_write()
    sim.run_until_idle()
    assert replies_in_the_simulation(SCRIPT[:200]) == client.received
