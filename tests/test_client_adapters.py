"""The client adapters feed a real model Client over StringTransport: no reactor, no sockets."""

from twisted.internet.error import ConnectionDone
from twisted.internet.testing import StringTransport
from twisted.python.failure import Failure

from lab.adapters.clients import DatagramClient, StreamClient
from lab.model import Client, ClientSpec


def test_stream_client_tells_the_model_client_connect_bytes_and_close():
    """connectionMade, dataReceived and connectionLost reach the Client's inbox and transcript."""
    client = Client(ClientSpec("tcp", "127.0.0.1", 7))
    protocol = StreamClient(client)
    protocol.makeConnection(StringTransport())
    protocol.dataReceived(b"hel")
    protocol.dataReceived(b"lo\n")
    assert b"hello\n" == client.read(timeout=0)
    protocol.connectionLost(Failure(ConnectionDone("Connection was closed cleanly.")))
    assert not client.is_open
    assert "Connection was closed cleanly." in client.closed_reason
    text = client.transcript.text()
    assert "# connected to tcp:127.0.0.1:7" in text and "< hel" in text and "# closed:" in text


def test_datagram_client_delivers_one_datagram_per_read_and_notes_a_refusal():
    """Each datagram is one read(); an ICMP refusal becomes a transcript note."""
    client = Client(ClientSpec("udp", "127.0.0.1", 7))
    protocol = DatagramClient(client)
    protocol.datagramReceived(b"one", ("127.0.0.1", 7))
    protocol.datagramReceived(b"two", ("127.0.0.1", 7))
    protocol.connectionRefused()
    assert [b"one", b"two"] == [client.read(timeout=0), client.read(timeout=0)]
    assert client.transcript[-1].data.startswith(b"refused: nothing listens there")


def test_a_bound_udp_client_notes_its_own_address():
    """connected() on a UDP client notes the local address it is bound to."""
    client = Client(ClientSpec("udp", "127.0.0.1", 7))
    client.connected(StringTransport())
    assert client.transcript[-1].data.startswith(b"bound ")
    assert client.transcript[-1].data.endswith(b" for udp:127.0.0.1:7")
