"""The notebook's client: send, read, read_until, close, transcript, UDP, and its errors."""

import pytest
from twisted.internet.protocol import Factory, Protocol
from twisted.protocols.basic import LineReceiver

import lab
from lab.adapters.echo import EchoDatagram, EchoFactory
from lab.model import ClientError, ConnectionClosed, EndpointError
from tests.polling import eventually

pytestmark = pytest.mark.reactor


@pytest.fixture
def echo(lab_reactor):
    """A running TCP echo listener, stopped after the test."""
    listener = lab.listen(EchoFactory(), name="client-echo")
    yield listener
    lab.model.stop_all()


class Greeter(Protocol):
    """Says hello on connect and hangs up after the first line it gets."""

    def connectionMade(self):
        self.transport.write(b"hello\r\n")

    def dataReceived(self, data):
        self.transport.write(b"bye\r\n")
        self.transport.loseConnection()


def received_marks(client):
    """How many '!' the client has received so far."""
    return sum(e.data.count(b"!") for e in client.transcript if e.direction == "received")


def test_send_str_and_bytes_and_read_until(echo):
    """Strings go out as UTF-8 and read_until returns exactly up to the delimiter."""
    client = lab.connect(echo)
    client.send("héllo ")
    client.send(b"world\r\nrest")
    assert "héllo world\r\n".encode() == client.read_until(b"\r\n")
    assert b"rest" == client.read()
    client.close()


def test_read_returns_empty_bytes_when_nothing_arrives(echo):
    """read() with nothing to read waits its timeout and returns b''."""
    client = lab.connect(echo)
    assert b"" == client.read(timeout=0.05)
    client.close()


class LineEcho(LineReceiver):
    """Answers each whole line, and nothing before its line ending arrives."""

    def lineReceived(self, line):
        self.sendLine(b"got " + line)


def test_an_empty_read_says_why_where_the_learner_looks(lab_reactor):
    """read() still returns b'', and last_read, the transcript and the console say why."""
    from lab.widgets.client_console import ClientConsole

    listener = lab.listen(Factory.forProtocol(LineEcho), name="client-lines")
    client = lab.connect(listener)
    console = ClientConsole(client, live=False)
    console.client = client
    client.send(b"hello")
    assert b"" == client.read(timeout=0.2) == client.read(timeout=0.2)
    assert "nothing arrived within 0.2 s" in client.last_read
    assert "has no line ending" in client.last_read and "line protocol" in client.last_read
    notes = [e.data for e in client.transcript if e.direction == "note"]
    assert 1 == sum(b"nothing arrived" in n for n in notes)  # once, not once per empty read
    console.refresh(force=True)
    assert "has no line ending" in console.transcript.html
    client.send(b"\r\n")
    assert b"got hello\r\n" == client.read_until(b"\r\n")
    assert b"" == client.read(timeout=0.1)
    assert "may still be working" in client.last_read
    client.send(b"again\r\n")
    assert b"got again\r\n" == client.read(timeout=2) and client.last_read is None
    client.close()
    assert b"" == client.read(timeout=0.1) and "connection is closed" in client.last_read
    console.close()
    lab.model.stop_all()


def test_read_until_timeout_keeps_the_partial_data(echo):
    """A delimiter that never comes raises LabTimeout, and the bytes that did come stay readable."""
    client = lab.connect(echo)
    client.send(b"no newline")
    with pytest.raises(lab.LabTimeout, match="did not arrive"):
        client.read_until(b"\n", timeout=0.3)
    assert b"no newline" == client.read()
    client.close()


def test_transcript_records_both_directions(echo):
    """The transcript lists what was sent and what came back, in order, with notes."""
    client = lab.connect(echo)
    client.send(b"abc")
    client.read_until(b"c")
    client.close()
    entries = [(e.direction, e.data) for e in client.transcript if e.direction != "note"]
    assert [("sent", b"abc"), ("received", b"abc")] == entries
    assert "> abc\n< abc" in client.transcript.text()
    assert client.transcript.text().endswith("closed cleanly.")


def test_send_after_close_is_a_clear_error(echo):
    """Sending on a closed client raises ConnectionClosed telling to reconnect."""
    client = lab.connect(echo)
    client.close()
    client.close()
    with pytest.raises(ConnectionClosed, match="lab.connect"):
        client.send(b"late")


def test_server_hangup_ends_read_until(lab_reactor):
    """When the server closes, read_until raises ConnectionClosed with what is left."""
    listener = lab.listen(Factory.forProtocol(Greeter), name="greeter")
    try:
        client = lab.connect(listener)
        assert b"hello\r\n" == client.read_until(b"\r\n")
        client.send(b"x\r\n")
        with pytest.raises(ConnectionClosed, match="bye"):
            client.read_until(b"never", timeout=5)
        assert not client.is_open
    finally:
        listener.stop()


def test_connect_to_port_number_and_endpoint_string(echo):
    """A port number and a 'tcp:HOST:PORT' string both reach the listener."""
    for target in (echo.port, f"tcp:127.0.0.1:{echo.port}", f"tcp:host=127.0.0.1:port={echo.port}"):
        client = lab.connect(target)
        client.send(b"!")
        assert b"!" == client.read_until(b"!")
        client.close()


def test_udp_client_reads_one_datagram_at_a_time(lab_reactor):
    """Over UDP each read() returns one datagram, in order."""
    listener = lab.listen(EchoDatagram(), "udp:0", name="client-udp")
    try:
        client = lab.connect(f"udp:127.0.0.1:{listener.port}")
        for word in (b"a", b"bb", b"ccc"):
            client.send(word)
        assert [b"a", b"bb", b"ccc"] == [client.read() for _ in range(3)]
        client.close()
        with pytest.raises(ConnectionClosed):
            client.send(b"late")
    finally:
        listener.stop()


def test_refused_connection_is_a_client_error(echo):
    """Connecting to a stopped listener's port raises ClientError naming the address."""
    port = echo.port
    echo.stop()
    with pytest.raises(ClientError, match=f"127.0.0.1:{port}"):
        lab.connect(port)
    with pytest.raises(ClientError, match="stopped"):
        lab.connect(echo)


@pytest.mark.parametrize("target", ["nonsense", "tcp:127.0.0.1", "ftp:h:1", "tcp:h:99999", None])
def test_bad_targets_are_endpoint_errors(lab_reactor, target):
    """Unusable connect targets raise EndpointError with an example of a good one."""
    with pytest.raises(EndpointError, match="127.0.0.1|0-65535"):
        lab.connect(target)


def test_inbox_is_bounded(echo):
    """Bytes nobody reads are dropped past the inbox bound, and counted."""
    client = lab.connect(echo)
    client.max_inbox = 1000
    for n in range(1, 6):
        client.send(b"x" * 499 + b"!")
        assert eventually(lambda: received_marks(client) >= n)
    kept = client.read()
    assert 1000 >= len(kept)
    assert 2500 == len(kept) + client.overflowed
    client.close()
