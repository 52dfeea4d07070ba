"""Wiretaps: wrappers that record every connection of a server as events.

A stream server's factory is wrapped in :class:`WiretapFactory`; each
connection's protocol is wrapped in :class:`WiretapProtocol`, a Twisted
``ProtocolWrapper`` that stands between the real transport and the real
protocol, so it sees the connection open, every byte in, every byte the
protocol writes out, and the close with its reason.  UDP servers are wrapped
in :class:`WiretapDatagram`, which treats each peer address as a connection.

The wiretap records nothing itself: it calls a *recorder* (the model's
``Capture``), which needs three methods, all called in the reactor thread::

    opened(transport, peer, local, tap) -> connection id
    record(kind, connection, data)
    closed(connection, reason)
"""

from collections import OrderedDict

from twisted.internet.interfaces import IHalfCloseableProtocol
from twisted.internet.protocol import DatagramProtocol
from twisted.protocols.policies import ProtocolWrapper, WrappingFactory
from zope.interface import implementer

from lab.adapters._send import send_now

__all__ = [
    "CONNECT", "IN", "OUT", "CLOSE",
    "WiretapProtocol", "WiretapFactory", "WiretapDatagram", "address_of", "reason_text",
]

CONNECT, IN, OUT, CLOSE = "connect", "in", "out", "close"

# Why a bound: a UDP server sees a "connection" per peer address, and a
# stream of spoofed or random peers must not grow the table without limit.
MAX_DATAGRAM_PEERS = 4096


def address_of(address):
    """``(host, port)`` of a Twisted address (``("unix", path)`` for UNIX sockets)."""
    host = getattr(address, "host", None)
    if host is not None:
        return (host, getattr(address, "port", 0))
    return ("unix", str(getattr(address, "name", "") or ""))


def _note_error(recorder, connection, where, error):
    """Tell the recorder about an exception the wrapped protocol raised.

    Twisted logs such an exception and drops the connection; a learner in a
    notebook never sees that log, so the recorder keeps it for the views.
    The exception is then re-raised, so Twisted behaves as it always does.
    """
    note = getattr(recorder, "protocol_error", None)
    if note is not None:
        note(connection, where, error)


def reason_text(reason):
    """A one-line description of why a connection closed."""
    value = getattr(reason, "value", reason)
    text = str(value).strip() or type(value).__name__
    return text.splitlines()[0]


@implementer(IHalfCloseableProtocol)
class WiretapProtocol(ProtocolWrapper):
    """Records connect, every read and write, and close of one stream connection.

    It declares half-close support so that a client's shutdown of its sending
    side reaches a wrapped protocol that supports it (memcached answers what
    it got, then closes); for one that does not, it closes the connection as
    Twisted would have, after the pending writes.
    """

    tap_id = None

    def makeConnection(self, transport):
        """Record the connection before the wrapped protocol can write anything."""
        recorder = self.factory.recorder
        self.tap_id = recorder.opened(
            "tcp", address_of(transport.getPeer()), address_of(transport.getHost()), self)
        try:
            ProtocolWrapper.makeConnection(self, transport)
        except Exception as error:
            _note_error(recorder, self.tap_id, "connectionMade", error)
            raise

    def dataReceived(self, data):
        """Record bytes in, then hand them to the wrapped protocol."""
        recorder = self.factory.recorder
        recorder.record(IN, self.tap_id, data)
        try:  # a try costs nothing until it catches; this is the hot path
            self.wrappedProtocol.dataReceived(data)
        except Exception as error:
            _note_error(recorder, self.tap_id, "dataReceived", error)
            raise

    def write(self, data):
        """Record bytes out, then send them (non-bytes get Twisted's own TypeError)."""
        if not isinstance(data, bytes):
            self.transport.write(data)  # raises TypeError for str and the like
            return
        # Record first: a direct send can reach the peer (and a test or user
        # reading the capture) before this method returns.
        self.factory.recorder.record(OUT, self.tap_id, data)
        send_now(self.transport, data)

    def writeSequence(self, data):
        """Record the joined bytes out as one event."""
        self.write(b"".join(data))

    def connectionLost(self, reason):
        """Record the close and its reason, then tell the wrapped protocol."""
        self.factory.recorder.closed(self.tap_id, reason_text(reason))
        ProtocolWrapper.connectionLost(self, reason)

    def readConnectionLost(self):
        """The peer will send no more: pass it on, or close as Twisted would."""
        if IHalfCloseableProtocol.providedBy(self.wrappedProtocol):
            self.wrappedProtocol.readConnectionLost()
        else:
            self.transport.loseConnection()

    def writeConnectionLost(self):
        """Our sending side closed: pass it on to a wrapped protocol that cares."""
        if IHalfCloseableProtocol.providedBy(self.wrappedProtocol):
            self.wrappedProtocol.writeConnectionLost()

    def abort(self):
        """Drop the connection now (used when its listener stops)."""
        abort = getattr(self.transport, "abortConnection", None)
        (abort or self.transport.loseConnection)()


class WiretapFactory(WrappingFactory):
    """Wraps a server factory so that every connection it builds is recorded."""

    protocol = WiretapProtocol
    noisy = False

    def __init__(self, wrapped_factory, recorder):
        WrappingFactory.__init__(self, wrapped_factory)
        self.recorder = recorder


class _TapTransport:
    """What the wrapped datagram protocol sees as its transport: writes are recorded."""

    def __init__(self, transport, tap):
        self._transport, self._tap = transport, tap

    def write(self, data, addr=None):
        """Send a datagram to ``addr`` (or the connected peer), then record it.

        Sending first lets Twisted reject what is not bytes with its own message.
        """
        sent = self._transport.write(data, addr)
        peer = addr if addr is not None else self._transport.getPeer()
        self._tap.record_out(data, address_of(peer) if not isinstance(peer, tuple) else peer)
        return sent

    def __getattr__(self, name):
        return getattr(self._transport, name)


class WiretapDatagram(DatagramProtocol):
    """Wraps a UDP protocol; each peer address counts as one connection."""

    noisy = False

    def __init__(self, wrapped, recorder):
        self.wrapped, self.recorder = wrapped, recorder
        self._peers = OrderedDict()  # (host, port) -> connection id, oldest first

    def makeConnection(self, transport):
        """Give the wrapped protocol a transport whose writes are recorded."""
        DatagramProtocol.makeConnection(self, transport)
        self.wrapped.makeConnection(_TapTransport(transport, self))

    def _peer(self, addr):
        addr = (addr[0], addr[1])
        cid = self._peers.get(addr)
        if cid is None:
            if len(self._peers) >= MAX_DATAGRAM_PEERS:
                _, oldest = self._peers.popitem(last=False)
                self.recorder.closed(oldest, "forgotten: too many UDP peers")
            local = address_of(self.transport.getHost())
            cid = self.recorder.opened("udp", addr, local, None)
            self._peers[addr] = cid
        return cid

    def datagramReceived(self, data, addr):
        """Record a datagram in, then hand it to the wrapped protocol."""
        self.recorder.record(IN, self._peer(addr), data)
        self.wrapped.datagramReceived(data, addr)

    def record_out(self, data, addr):
        """Record a datagram the wrapped protocol sent to ``addr``."""
        self.recorder.record(OUT, self._peer(addr), data)

    def doStop(self):
        """Close every peer's record, then stop the wrapped protocol."""
        for cid in self._peers.values():
            self.recorder.closed(cid, "listener stopped")
        self._peers.clear()
        self.wrapped.doStop()
        DatagramProtocol.doStop(self)
