"""Client adapters: Twisted protocols that feed one client connection into the model.

The adapter keeps no state of its own: it calls a *sink*, the model's side of
the connection (a notebook's :class:`lab.Client`, or one client of a load
test), with four notifications, all in the reactor thread::

    connected(transport)      the connection is up (for UDP: the socket is bound)
    received(data)            bytes arrived
    refused()                 UDP only: ICMP "port unreachable" came back
    lost(reason)              the connection closed; ``reason`` is one line of text

The model's clients and the load test share these two classes, so how a
connection talks to the model is written once.
"""

from typing import Protocol as Interface

from twisted.internet.interfaces import ITransport
from twisted.internet.protocol import DatagramProtocol, Protocol, connectionDone
from twisted.python.failure import Failure

from lab.adapters.wiretap import reason_text

__all__ = ["ClientSink", "DatagramSink", "StreamClient", "DatagramClient"]


class ClientSink(Interface):
    """The model's side of a stream connection (see the module's docstring)."""

    def connected(self, transport: ITransport) -> None:
        """The connection is up; ``transport`` writes to the peer."""

    def received(self, data: bytes) -> None:
        """``data`` arrived from the peer."""

    def lost(self, reason: str) -> None:
        """The connection closed, for ``reason``."""


class DatagramSink(Interface):
    """The model's side of a connected UDP socket."""

    def received(self, data: bytes) -> None:
        """A datagram arrived from the peer."""

    def refused(self) -> None:
        """The peer's host answered "port unreachable"."""


class StreamClient(Protocol):
    """A TCP client connection whose events go to ``sink``."""

    def __init__(self, sink: ClientSink) -> None:
        self.sink = sink

    def connectionMade(self) -> None:
        """Tell the sink the connection is up, with its transport."""
        self.sink.connected(self.transport)  # type: ignore[arg-type]

    def dataReceived(self, data: bytes) -> None:
        """Hand the bytes to the sink."""
        self.sink.received(data)

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        """Tell the sink why the connection closed, in one line."""
        self.sink.lost(reason_text(reason))


class DatagramClient(DatagramProtocol):
    """A connected UDP socket whose datagrams go to ``sink``."""

    noisy = False

    def __init__(self, sink: DatagramSink) -> None:
        self.sink = sink

    def datagramReceived(self, datagram: bytes, addr: object) -> None:
        """Hand the datagram to the sink."""
        self.sink.received(datagram)

    def connectionRefused(self) -> None:
        """Tell the sink nothing listens at the address."""
        self.sink.refused()
