"""Gates in front of a listener: a connection the gate refuses never reaches the protocol.

:class:`GuardedFactory` stands in front of a stream server's factory: Twisted
asks it for a protocol for each accepted connection, and when the gate gives
a reason to refuse, it records the connection as opened and closed with that
reason and returns None, so Twisted closes the socket at once (the served
protocol never sees it).  :class:`GuardedDatagram` does the same per
datagram for UDP.  The check happens once per connection, not per byte: the
traffic of an admitted connection goes straight to the wiretap.

The gate is any object with::

    refuse_stream(peer, local) -> None or a reason (str)
    refuse_datagram(peer, local) -> None or a reason (str)

and the recorder is the listener's capture (``opened``/``closed``).
"""

from typing import Any

from twisted.internet.protocol import DatagramProtocol, Factory

from lab.adapters.wiretap import address_of

__all__ = ["GuardedFactory", "GuardedDatagram"]


class GuardedFactory(Factory):
    """Asks the gate about each new connection before the wrapped factory builds its protocol."""

    noisy = False

    def __init__(self, wrapped, gate, recorder, local):
        self.wrapped, self.gate, self.recorder, self.local = wrapped, gate, recorder, local

    def doStart(self):
        """Start the wrapped factory."""
        self.wrapped.doStart()

    def doStop(self):
        """Stop the wrapped factory."""
        self.wrapped.doStop()

    def logPrefix(self):
        """The wrapped factory's log prefix."""
        prefix = getattr(self.wrapped, "logPrefix", None)
        return prefix() if prefix else type(self.wrapped).__name__

    def buildProtocol(self, addr: Any) -> Any:
        """The wrapped factory's protocol, or None (Twisted then closes the socket) if refused."""
        peer = address_of(addr)
        reason = self.gate.refuse_stream(peer, self.local())
        if reason is None:
            return self.wrapped.buildProtocol(addr)
        cid = self.recorder.opened("tcp", peer, self.local(), None)
        self.recorder.closed(cid, reason)
        return None


class GuardedDatagram(DatagramProtocol):
    """Drops datagrams the gate refuses; a refused sender is recorded once, with the reason."""

    noisy = False

    def __init__(self, wrapped, gate, recorder):
        self.wrapped, self.gate, self.recorder = wrapped, gate, recorder

    def makeConnection(self, transport):
        """Hand the transport to the wrapped protocol too."""
        DatagramProtocol.makeConnection(self, transport)
        self.wrapped.makeConnection(transport)

    def datagramReceived(self, data: bytes, addr: Any) -> None:
        """Pass the datagram on, or drop it and record why."""
        transport: Any = self.transport
        local = address_of(transport.getHost())
        reason = self.gate.refuse_datagram((addr[0], addr[1]), local)
        if reason is None:
            self.wrapped.datagramReceived(data, addr)
            return
        if self.gate.first_refusal_of((addr[0], addr[1])):
            cid = self.recorder.opened("udp", (addr[0], addr[1]), local, None)
            self.recorder.closed(cid, reason)

    def doStop(self):
        """Stop the wrapped protocol."""
        self.wrapped.doStop()
        DatagramProtocol.doStop(self)
