"""Real memcached clients against the lab's server: pymemcache, python-memcached, Twisted's."""

import socket
import time

import pytest
from twisted.internet import defer
from twisted.internet.testing import StringTransport

import lab
from lab.adapters.memcached import MemcachedFactory
from tests.memcached_peers import ask, exchange, lab_server

pytestmark = pytest.mark.reactor


@pytest.fixture(scope="module")
def served():
    """The lab's memcached run by ``python -m lab serve`` for this module's tests."""
    with lab_server() as address:
        yield address


def test_pymemcache_round_trip(served):
    """pymemcache stores, reads, counts, compares-and-sets and deletes through the lab."""
    from pymemcache.client.base import Client

    client = Client(served, connect_timeout=5, timeout=5)
    try:
        assert client.set("greeting", b"hello", expire=60)
        assert b"hello" == client.get("greeting")
        assert {"greeting": b"hello"} == client.get_many(["greeting", "missing"])
        client.set("counter", b"41")
        assert 42 == client.incr("counter", 1)
        value, cas = client.gets("greeting")
        assert client.cas("greeting", b"bye", cas)
        assert not client.cas("greeting", b"again", cas)
        assert client.delete("greeting")
        assert client.get("greeting") is None
        assert client.version().startswith(b"1.6")
    finally:
        client.close()


def test_python_memcached_round_trip(served):
    """python-memcached (the memcache module) sets, gets multi, appends and flushes."""
    import memcache

    host, port = served
    client = memcache.Client([f"{host}:{port}"], socket_timeout=5)
    try:
        assert client.set("a", "one")
        assert client.set_multi({"b": 2, "c": [1, 2]}) == []
        assert {"a": "one", "b": 2, "c": [1, 2]} == client.get_multi(["a", "b", "c"])
        assert client.append("a", "+")
        assert "one+" == client.get("a")
        assert client.flush_all() is None
        assert client.get("a") is None
    finally:
        client.disconnect_all()


def test_twisted_memcache_client_on_the_shared_reactor(lab_reactor):
    """Twisted's MemCacheProtocol talks to the lab's server, all inside the lab's reactor."""
    from twisted.internet import reactor
    from twisted.internet.protocol import ClientCreator
    from twisted.protocols.memcache import MemCacheProtocol

    port = lab.call(reactor.listenTCP, 0, MemcachedFactory(), interface="127.0.0.1")

    @defer.inlineCallbacks
    def conversation():
        client = yield ClientCreator(reactor, MemCacheProtocol).connectTCP(
            "127.0.0.1", port.getHost().port)
        results = [(yield client.set(b"k", b"v", flags=3)),
                   (yield client.get(b"k")),
                   (yield client.set(b"n", b"41")) and (yield client.increment(b"n")),
                   (yield client.getMultiple([b"k", b"none"])),
                   (yield client.version())]
        client.transport.loseConnection()
        return results

    try:
        stored, got, counted, multiple, version = lab.call(conversation, timeout=10)
    finally:
        lab.call(port.stopListening)
    assert stored is True
    assert (3, b"v") == got
    assert {b"k": (3, b"v"), b"none": (0, None)} == multiple
    assert b"1.6.18" == version
    assert 42 == counted


def test_max_connections_refuses_extra_clients(lab_reactor):
    """Past max_connections a client gets memcached's 'Too many open connections' and a close."""
    from twisted.internet import reactor

    factory = MemcachedFactory(max_connections=1)
    listening = lab.call(reactor.listenTCP, 0, factory, interface="127.0.0.1")
    port = listening.getHost().port
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as first:
            first.sendall(b"version\r\n")
            assert first.recv(100).startswith(b"VERSION")
            assert b"ERROR Too many open connections\r\n" == exchange(port, b"version\r\n")
        _wait_until_no_connection(factory)
        assert b"VERSION 1.6.18\r\n" == exchange(port, b"version\r\n")
    finally:
        lab.call(listening.stopListening)


def _wait_until_no_connection(factory, attempts=500):
    """Wait (bounded) until the server has seen the first client leave."""
    for _ in range(attempts):
        if lab.call(lambda: factory.engine.connections["curr"]) == 0:
            return
        time.sleep(0.01)
    raise AssertionError("the server still counts the closed connection after 5 s")


def test_adapter_answers_then_closes_on_half_close():
    """When the client stops sending, the adapter answers what it got, then closes."""
    factory = MemcachedFactory()
    protocol = factory.buildProtocol(None)
    transport = StringTransport()
    protocol.makeConnection(transport)
    protocol.dataReceived(b"set k 0 0 1\r\nv\r\nget k\r\n")
    protocol.readConnectionLost()
    assert b"STORED\r\nVALUE k 0 1\r\nv\r\nEND\r\n" == transport.value()
    assert transport.disconnecting


def test_plugin_is_found_and_builds_the_server():
    """The memcached plugin is discovered by name and builds a factory and a decoder."""
    registry = lab.plugins()
    assert "memcached" in registry.names()
    plugin = registry.get("memcached")
    factory = plugin.build_factory(memory_limit=8 << 20, item_size_max=1 << 20)
    assert 8 << 20 == factory.store.memory_limit
    assert ["-> get k"] == plugin.build_decoder().feed("in", b"get k\r\n")


def test_bad_option_says_what_is_wrong():
    """A nonsensical option fails with a message naming the option."""
    with pytest.raises(ValueError, match="memory_limit"):
        MemcachedFactory(memory_limit=-5)


def test_listener_captures_and_decodes_both_directions(lab_reactor):
    """Through lab.listen the capture holds commands and replies, and the decoder reads both."""
    cache = lab.listen("memcached", name="test-memcached-capture")
    try:
        assert b"STORED\r\nVALUE k 0 2\r\nok\r\nEND\r\n" == ask(
            cache.port, b"set k 0 0 2\r\nok\r\nget k\r\n", b"END\r\n")
        decoder = cache.decoder()
        lines = [line for event in cache.capture.events(kinds=("in", "out"))
                 for line in decoder.feed(event.kind, event.data)]
    finally:
        cache.stop()
    assert ["-> set k flags=0 exptime=0 (2 bytes)", "-> get k", "<- STORED",
            "<- VALUE k 0 2 = 'ok'", "<- END"] == lines


def test_a_client_that_does_not_read_pauses_the_server(lab_reactor):
    """Replies a client does not read pause the server's reading; all arrive once it reads."""
    from twisted.internet import reactor

    factory = MemcachedFactory()
    listening = lab.call(reactor.listenTCP, 0, factory, interface="127.0.0.1")
    port = listening.getHost().port
    value = b"v" * 200_000
    try:
        assert b"STORED\r\n" == ask(port, b"set big 0 0 %d\r\n%s\r\n" % (len(value), value),
                                    b"\r\n")
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.sendall(b"get big\r\n" * 200)  # 40 MB of replies, not read yet
            _wait_until_paused(factory)
            sock.sendall(b"mn\r\n")
            received = _read_until(sock, b"MN\r\n")
    finally:
        lab.call(listening.stopListening)
    assert 200 == received.count(b"VALUE big 0 200000\r\n")


def _wait_until_paused(factory, attempts=500):
    """Wait (bounded) until the server's only connection has stopped reading."""
    def paused():
        return any(transport.producerPaused for transport in _transports(factory))
    for _ in range(attempts):
        if lab.call(paused):
            return
        time.sleep(0.01)
    raise AssertionError("the server kept reading while its replies piled up")


def _transports(factory):
    from twisted.internet import reactor

    return [reader for reader in reactor.getReaders() + reactor.getWriters()
            if getattr(getattr(reader, "protocol", None), "factory", None) is factory]


def _read_until(sock, end):
    chunks, tail = [], b""
    while not tail.endswith(end):
        chunk = sock.recv(1 << 20)
        if not chunk:
            break
        chunks.append(chunk)
        tail = (tail + chunk)[-len(end):]
    return b"".join(chunks)


def test_adapter_without_a_reactor_runs_a_long_pipeline():
    """On a transport with no reactor behind it, thousands of pipelined commands all get answers."""
    protocol = MemcachedFactory().buildProtocol(None)
    transport = StringTransport()
    protocol.makeConnection(transport)
    protocol.dataReceived(b"version\r\n" * 50000)
    assert transport.value() == b"VERSION 1.6.18\r\n" * 50000
    assert protocol.factory.engine.counters["conn_yields"] == 2500
