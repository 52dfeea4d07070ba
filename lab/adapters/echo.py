"""Echo: every byte a client sends comes back to it, over TCP and UDP."""

from twisted.internet.protocol import DatagramProtocol, Factory, Protocol

__all__ = ["Echo", "EchoFactory", "EchoDatagram"]


class Echo(Protocol):
    """Writes every chunk it receives back to the same connection.

    A client that sends without reading would make the echoes pile up in
    memory; so the connection is its own producer: when the echoes waiting
    pass the transport's buffer size, Twisted pauses it (echo stops reading
    from that client) and resumes it once the client has read them.
    """

    def connectionMade(self):
        """Stop reading while the echoes are not being read."""
        self.transport.registerProducer(self.transport, True)

    def dataReceived(self, data):
        """Send the bytes straight back."""
        self.transport.write(data)


def EchoFactory():  # noqa: N802 - named like the class it stands for, as plugins expect
    """A server factory that builds :class:`Echo` protocols."""
    factory = Factory.forProtocol(Echo)
    factory.noisy = False
    return factory


class EchoDatagram(DatagramProtocol):
    """Sends every datagram back to the address it came from."""

    noisy = False

    def datagramReceived(self, data, addr):
        """Send the datagram straight back."""
        self.transport.write(data, addr)
