"""The wiretap adapter with Twisted's in-memory transports: no sockets, no reactor."""

import pytest
from twisted.internet.address import IPv4Address
from twisted.internet.error import ConnectionDone
from twisted.internet.protocol import Factory, Protocol
from twisted.internet.testing import StringTransport
from twisted.python.failure import Failure

import lab
from tests.polling import eventually
from lab.adapters.echo import EchoFactory
from lab.adapters.wiretap import WiretapFactory
from lab.model import Capture


def tapped(factory):
    """A wiretapped protocol on a StringTransport, and its capture."""
    capture = Capture()
    wrapper = WiretapFactory(factory, capture)
    transport = StringTransport(peerAddress=IPv4Address("TCP", "10.0.0.2", 5555),
                                hostAddress=IPv4Address("TCP", "127.0.0.1", 7))
    protocol = wrapper.buildProtocol(transport.getPeer())
    protocol.makeConnection(transport)
    return protocol, transport, capture


class Boom(Protocol):
    """Raises on the first byte."""

    def dataReceived(self, data):
        raise ValueError("boom")


def test_wiretap_records_what_the_wrapped_protocol_sees_and_writes():
    """Bytes in reach the echo, its writes reach the transport, and both are recorded in order."""
    protocol, transport, capture = tapped(EchoFactory())
    protocol.dataReceived(b"abc")
    protocol.writeSequence([b"x", b"y"])
    protocol.connectionLost(Failure(ConnectionDone("bye")))
    assert b"abcxy" == transport.value()
    kinds = [(e.kind, e.data, e.offset) for e in capture.events()]
    assert [("connect", b"", 0), ("in", b"abc", 0), ("out", b"abc", 0), ("out", b"xy", 3),
            ("close", b"", 0)] == kinds
    (conn,) = capture.connections()
    assert (("10.0.0.2", 5555), ("127.0.0.1", 7), 3, 5) == (
        conn.peer, conn.local, conn.bytes_in, conn.bytes_out)
    assert "bye" in capture.events()[-1].reason


def test_protocol_exceptions_are_kept_and_still_raised():
    """An exception in dataReceived is recorded for the views and re-raised for Twisted."""
    protocol, _, capture = tapped(Factory.forProtocol(Boom))
    with pytest.raises(ValueError, match="boom"):
        protocol.dataReceived(b"!")
    (error,) = capture.errors
    assert ("dataReceived", "ValueError: boom") == (error.where, error.message)


class Switches(Protocol):
    """Sets its own dataReceived when connected (as some state-machine protocols do)."""

    def connectionMade(self):
        self.seen = []
        self.dataReceived = self.seen.append


def test_a_protocol_that_sets_its_own_data_received_when_connected_still_gets_the_bytes():
    """The wiretap passes reads to the dataReceived the protocol has after connectionMade."""
    protocol, _, capture = tapped(Factory.forProtocol(Switches))
    protocol.dataReceived(b"hello")
    assert [b"hello"] == protocol.wrappedProtocol.seen
    assert [("in", b"hello")] == [(e.kind, e.data) for e in capture.events(kinds=("in",))]


def test_writing_text_is_refused_by_twisted_not_the_recorder():
    """A str written by the served protocol fails with Twisted's TypeError, unrecorded."""
    protocol, _, capture = tapped(EchoFactory())
    with pytest.raises(TypeError, match="Data must be bytes"):
        protocol.write("text")
    assert 0 == capture.bytes_out


def _send_then_half_close(listener, data):
    """Send ``data``, shut down our sending side, and read until the server closes."""
    import socket

    with socket.create_connection((listener.host, listener.port), timeout=5) as sock:
        sock.sendall(data)
        sock.shutdown(socket.SHUT_WR)
        received = b""
        while chunk := sock.recv(4096):
            received += chunk
    return received


def test_half_close_reaches_a_server_that_supports_it(lab_reactor):
    """A client that shuts down its sending side still gets memcached's answers through the wiretap."""
    listener = lab.listen("memcached", name="half-close")
    try:
        received = _send_then_half_close(listener, b"set k 0 0 1\r\nv\r\nget k\r\n")
        assert b"STORED\r\nVALUE k 0 1\r\nv\r\nEND\r\n" == received
    finally:
        listener.stop()


def test_half_close_closes_a_server_that_does_not_support_it(lab_reactor):
    """For an ordinary protocol, the client's half-close closes the connection after the echo."""
    listener = lab.listen("echo", name="half-close-echo")
    try:
        assert b"bye\r\n" == _send_then_half_close(listener, b"bye\r\n")
        assert listener.capture.wait_for(lambda c: c.open_count == 0)
    finally:
        listener.stop()


def test_a_write_from_a_cell_thread_is_refused_and_recorded(lab_reactor):
    """Writing to a connection's transport outside the reactor thread raises WrongThread, sends nothing, and the capture says so."""
    import socket

    from twisted.internet.protocol import Factory, Protocol

    import lab
    from lab.errors import WrongThread

    class Keep(Protocol):
        def connectionMade(self):
            self.factory.made.append(self)

    factory = Factory.forProtocol(Keep)
    factory.made = []
    listener = lab.listen(factory, name="foreign-write")
    try:
        with socket.create_connection(("127.0.0.1", listener.port), timeout=5) as peer:
            assert eventually(lambda: factory.made)
            proto = factory.made[0]
            with pytest.raises(WrongThread, match="lab.call\\(transport.write, data\\)"):
                proto.transport.write(b"from the kernel thread\n")
            lab.call(proto.transport.write, b"from the reactor\n")
            assert b"from the reactor\n" == peer.recv(100)
        assert eventually(lambda: listener.stats()["errors"] >= 1)
        connection = listener.capture.connections()[0].id
        assert b"from the kernel" not in listener.capture.stream(connection, "out")
    finally:
        listener.stop()


class EchoUntilBoom(Protocol):
    """Echoes each chunk; raises on one that says boom.  Keeps its transport for the test."""

    def connectionMade(self):
        self.factory.made.append(self)

    def dataReceived(self, data):
        if b"boom" in data:
            raise ValueError("boom")
        self.transport.write(data)


def test_a_tcp_connection_reads_straight_into_the_capture(lab_reactor):
    """Over a real socket each read is recorded once and echoed; a raise is noted and drops the connection; EOF closes cleanly."""
    import socket

    factory = Factory.forProtocol(EchoUntilBoom)
    factory.made = []
    listener = lab.listen(factory, name="direct-read")
    try:
        with socket.create_connection(("127.0.0.1", listener.port), timeout=5) as peer:
            assert eventually(lambda: factory.made)
            # The capture's reader is the transport's doRead (lab.adapters._read): one
            # call per read.  Checked here so that a Twisted without it is noticed.
            assert "doRead" in vars(factory.made[0].transport.transport)
            for word in (b"one", b"two"):
                peer.sendall(word)
                assert word == peer.recv(100)
            peer.sendall(b"boom")
            assert b"" == peer.recv(100)  # Twisted drops a connection whose protocol raised
        with socket.create_connection(("127.0.0.1", listener.port), timeout=5) as peer:
            peer.sendall(b"three")
            assert b"three" == peer.recv(100)
            peer.shutdown(socket.SHUT_WR)
            assert b"" == peer.recv(100)
        capture = listener.capture
        assert capture.wait_for(lambda c: c.open_count == 0)
        first, second = (c.id for c in capture.connections())
        assert b"onetwoboom" == capture.stream(first, "in")
        assert b"onetwo" == capture.stream(first, "out")
        assert [b"three"] == [e.data for e in capture.events(second, kinds=("in",))]
        (error,) = capture.errors
        assert (first, "dataReceived", "ValueError: boom") == (
            error.connection, error.where, error.message)
        assert "cleanly" in capture.events(second, kinds=("close",))[0].reason
        assert "doRead" not in vars(factory.made[1].transport.transport)  # given back at close
    finally:
        listener.stop()


class BigThenSmall(Protocol):
    """Answers any chunk with more than a socket takes at once, then a short line."""

    def dataReceived(self, data):
        self.transport.write(bytes(range(256)) * 16384)  # 4 MiB
        self.transport.write(b"the end\n")


def test_what_a_direct_send_leaves_goes_out_before_later_writes(lab_reactor):
    """A reply larger than the socket's buffer is sent in part, the rest buffered, and the next write waits behind it."""
    import socket

    listener = lab.listen(Factory.forProtocol(BigThenSmall), name="big-then-small")
    try:
        with socket.create_connection(("127.0.0.1", listener.port), timeout=10) as peer:
            peer.sendall(b"go")
            expected = bytes(range(256)) * 16384 + b"the end\n"
            received = b""
            while len(received) < len(expected) and (chunk := peer.recv(1 << 20)):
                received += chunk
        assert expected == received
        connection = listener.capture.connections()[0].id
        assert [len(expected) - 8, 8] == [len(e.data) for e in listener.capture.events(
            connection, kinds=("out",))]
    finally:
        listener.stop()
