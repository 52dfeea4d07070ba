"""Wiretaps: wrappers that record every connection of a server as events.

A stream server's factory is wrapped in :class:`WiretapFactory`; each
connection's protocol is wrapped in :class:`WiretapProtocol`, a Twisted
``ProtocolWrapper`` that stands between the real transport and the real
protocol, so it sees the connection open, every byte in, every byte the
protocol writes out, and the close with its reason.  UDP servers are wrapped
in :class:`WiretapDatagram`, which treats each peer address as a connection.

The wiretap records nothing itself: it calls a *recorder* (the model's
``Capture``), which needs these methods, all called in the reactor thread::

    opened(transport, peer, local, tap) -> connection id
    recorders(connection, deliver=None, failed=None) -> (record_in, record_out)
    sender(connection, send, gate, otherwise, rest) -> write     # stream connections
    record(kind, connection, data)                               # datagrams
    closed(connection, reason)

(``record_in`` with ``deliver`` records a chunk, then passes it on; the
``write`` from ``sender`` records and sends; see ``Capture``.)

and may have ``protocol_error(connection, where, error)``,
``limit_reached(connection, what)`` and, for bare TCP connections,
``reader(connection, receive, deliver, failed, at_end, refused) -> read``,
which the wiretap makes the transport's ``doRead`` (``lab.adapters._read``).

Back-pressure, for any wrapped protocol: the wiretap registers itself as a
streaming producer of its transport.  When the replies waiting for a peer
pass the transport's buffer size (the peer is not reading them), Twisted
pauses it, and the wiretap stops reading from that peer (and pauses the
wrapped protocol's own producer, if it registered one); when the peer
catches up, both resume.  A protocol that writes unprompted (timers,
broadcasts) while its peer is paused may queue :data:`MAX_HELD_BYTES` more;
past that the connection is dropped, and the recorder told why.  So a
client that never reads costs the process a bounded amount, and only that
client loses anything.
"""

import threading
import weakref
from collections import OrderedDict

from twisted.internet.interfaces import IHalfCloseableProtocol, IPushProducer
from twisted.internet.protocol import DatagramProtocol
from twisted.protocols.policies import ProtocolWrapper, WrappingFactory
from zope.interface import implementer

from lab.adapters._read import install_direct_read, remove_direct_read
from lab.adapters._send import direct_send, idle, send_now
from lab.errors import WrongThread

__all__ = [
    "CONNECT", "IN", "OUT", "CLOSE",
    "WiretapProtocol", "WiretapFactory", "WiretapDatagram", "TrackingFactory", "address_of",
    "reason_text",
]

CONNECT, IN, OUT, CLOSE = "connect", "in", "out", "close"
_get_ident = threading.get_ident

# Why a bound: a UDP server sees a "connection" per peer address, and a
# stream of spoofed or random peers must not grow the table without limit.
MAX_DATAGRAM_PEERS = 4096
# Bytes a protocol may still write to a peer whose reading is paused
# (beyond the transport's own 64 KiB buffer) before that connection is dropped.
MAX_HELD_BYTES = 1024 * 1024


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


def _ignore(data):
    """What records a connection's chunks once it has closed."""


def _note_limit(recorder, connection, what):
    note = getattr(recorder, "limit_reached", None)
    if note is not None:
        note(connection, what)


def reason_text(reason):
    """A one-line description of why a connection closed."""
    value = getattr(reason, "value", reason)
    text = str(value).strip() or type(value).__name__
    return text.splitlines()[0]


@implementer(IHalfCloseableProtocol)
class WiretapProtocol(ProtocolWrapper):
    """Records connect, every read and write, and close of one stream connection.

    Reads and the usual writes go through closures that ``makeConnection``
    sets on the instance (see :meth:`_fast_write_of`); the class's ``write``
    is the checked form the fast one falls back to.

    It declares half-close support so that a client's shutdown of its sending
    side reaches a wrapped protocol that supports it (memcached answers what
    it got, then closes); for one that does not, it closes the connection as
    Twisted would have, after the pending writes.
    """

    tap_id = None
    sends_now = True  # its write sends at once when it can (lab.adapters._send.sender)
    _record_out = None  # what records this connection's chunks out, set on connect
    _held = None  # bytes written while the peer is paused; None while it reads
    _user_producer = None  # (producer, streaming) the wrapped protocol registered
    _close_reason = None
    _pauses = 0
    _thread = None  # the reactor thread's ident, taken when the connection is made
    _fast_write = None  # the write closure of the hot path (see _fast_write_of)
    _flow = None  # what the transport pauses and resumes; also tells the fast write the state
    _queued = False  # the transport holds bytes a direct send could overtake
    _tls = False  # TLS started: every byte goes through the transport's TLS layer

    def makeConnection(self, transport):
        """Record the connection and take on back-pressure before the wrapped protocol starts.

        A wrapped ``connectionMade`` that raises is recorded and its
        connection closed (Twisted would log it and leave the socket open).
        """
        recorder = self.factory.recorder
        self.tap_id = recorder.opened(
            "tcp", address_of(transport.getPeer()), address_of(transport.getHost()), self)
        self._record_out = recorder.recorders(self.tap_id)[1]
        self._thread = threading.get_ident()
        self._flow = _Flow(self)
        transport.registerProducer(self._flow, True)
        self.write = self._fast_write = self._fast_write_of(transport, self._flow)
        self._follow_state()
        try:
            ProtocolWrapper.makeConnection(self, transport)
        except Exception as error:
            _note_error(recorder, self.tap_id, "connectionMade", error)
            self._close_reason = f"closed: connectionMade raised {type(error).__name__}"
            self.abort()
        if self._fast_write is not None:  # still open
            # After connectionMade: a protocol may set its own dataReceived there.
            self.dataReceived = self._fast_read()
            install_direct_read(transport, recorder, self.tap_id, self.wrappedProtocol.dataReceived,
                                self._read_failed)

    def _fast_read(self):
        """``dataReceived`` of this connection: the recorder's, passing each chunk on.

        One call per read: the capture records the chunk and hands it to the
        wrapped protocol's ``dataReceived``; an exception from it is noted
        for the views, then goes on up to Twisted as before.  (Why closures
        on the instance at all: see :meth:`_fast_write_of`.)
        """
        return self.factory.recorder.recorders(
            self.tap_id, self.wrappedProtocol.dataReceived, self._read_failed)[0]

    def _read_failed(self, error):
        """Note for the views that the wrapped ``dataReceived`` raised (it goes on up to Twisted)."""
        _note_error(self.factory.recorder, self.tap_id, "dataReceived", error)

    def _fast_write_of(self, transport, flow):
        """``write`` of this connection as a closure, installed on the instance.

        Why closures: Twisted's ``ProtocolWrapper`` has ``__getattr__`` (it
        forwards unknown names to the transport), and CPython cannot
        specialize attribute access on such a class, so each ``self.x`` on
        the hot path took the slow generic lookup.  The recorder's closure
        (see ``Capture.sender``) records and sends directly only while
        ``flow.plain`` (the peer reads, no pull producer, the connection is
        open), for bytes from the reactor thread; anything else takes the
        checked path.  A protocol may keep the bound ``write`` (a
        ``LoopingCall`` does), so the closure itself must follow the state
        rather than be swapped.
        """
        return self.factory.recorder.sender(self.tap_id, direct_send(transport), flow,
                                            self._checked_write, self._queue_rest)

    def _follow_state(self):
        """Tell the fast ``write`` whether it may send directly (see :meth:`_fast_write_of`)."""
        self._flow.plain = (self._held is None and self._fast_write is not None
                            and (self._user_producer is None or self._user_producer[1])
                            and not self._queued and not self._tls)

    def _queue_rest(self, data):
        """What a direct send left: to the transport's buffer, and writes take the checked path until it drains."""
        self._queued = True
        self._follow_state()
        self.transport.write(data)

    def _checked_write(self, data):
        """``write`` off the fast path (a paused peer, a pull producer, a closed
        connection, bytes still buffered, another thread, or not plain
        ``bytes``): the class's forms.  Once the transport's buffer has
        drained, the next writes go the fast way again."""
        try:
            if self._user_producer is not None and not self._user_producer[1]:
                return self._write_queued(data)
            return WiretapProtocol.write(self, data)
        finally:
            queued = not idle(self.transport)
            if queued != self._queued:
                self._queued = queued
                self._follow_state()

    def write(self, data):
        """Record bytes out, then send them (non-bytes get Twisted's own TypeError)."""
        if _get_ident() != self._thread:
            self._refuse_foreign_write()
        if type(data) is not bytes and not isinstance(data, bytes):
            self.transport.write(data)  # raises TypeError for str and the like
            return
        # Record first: a direct send can reach the peer (and a test or user
        # reading the capture) before this method returns.
        self._record_out(data)
        if self._held is not None and self._hold(len(data)):
            return
        send_now(self.transport, data)

    def _refuse_foreign_write(self):
        """A write from a cell or another thread: record it, send nothing, say what to do.

        Twisted is not thread-safe: such a write races the reactor's own and
        can interleave bytes or never be flushed, silently.  It is caught here,
        where it happens, rather than as a corrupted stream later.
        """
        error = WrongThread(
            f"transport.write() was called from thread {threading.current_thread().name!r}, "
            "not the reactor's. Twisted is not thread-safe, so nothing was sent. From a "
            "notebook cell use lab.call(transport.write, data); from another thread, "
            "reactor.callFromThread(transport.write, data).")
        _note_error(self.factory.recorder, self.tap_id, "write from another thread", error)
        raise error

    def _hold(self, size):
        """Count bytes queued for a paused peer; drop the connection past the bound."""
        self._held += size
        if self._held <= MAX_HELD_BYTES:
            return False
        if self._close_reason is None:
            what = (f"the peer read nothing while {MAX_HELD_BYTES // 1024} KiB more replies "
                    "waited; connection dropped")
            _note_limit(self.factory.recorder, self.tap_id, what)
            self._close_reason = "dropped: " + what
            self.abort()
        return True

    # -- back-pressure --------------------------------------------------------

    def _write_queued(self, data):
        """``write`` while a pull producer is registered: always through the transport's buffer.

        A pull producer is asked for more only when the transport's buffer
        drains, which a direct send would bypass (the transfer would stall).
        """
        if not isinstance(data, bytes):
            self.transport.write(data)
            return
        self._record_out(data)
        if self._held is not None and self._hold(len(data)):
            return
        self.transport.write(data)

    def registerProducer(self, producer, streaming):
        """Keep the wrapped protocol's producer: the wiretap's own flow drives it."""
        if not streaming:  # a pull producer needs the transport's calls itself
            if self._user_producer is not None:
                raise RuntimeError(f"Cannot register producer {producer}, because producer "
                                   f"{self._user_producer[0]} was never unregistered.")
            self._user_producer = (producer, False)
            self._follow_state()
            self.transport.unregisterProducer()
            self.transport.registerProducer(producer, streaming)
            return
        if self._user_producer is not None:
            raise RuntimeError(f"Cannot register producer {producer}, because producer "
                               f"{self._user_producer[0]} was never unregistered.")
        self._user_producer = (producer, True)
        if self._held is not None:
            producer.pauseProducing()

    def unregisterProducer(self):
        """Forget the wrapped protocol's producer (the wiretap's flow stays)."""
        user, self._user_producer = self._user_producer, None
        if user is not None and not user[1]:
            self._follow_state()
            self.transport.unregisterProducer()
            if self.transport.connected:
                self.transport.registerProducer(self._flow, True)

    def _paused(self):
        """The peer is not reading what we send: stop reading from it."""
        if self._held is None:
            self._held = 0
            self._follow_state()
        self._pauses += 1
        if self._pauses == 1:
            _note_limit(self.factory.recorder, self.tap_id,
                        "reading paused: replies are waiting for the peer to read them "
                        "(resumes when it does)")
        self.transport.pauseProducing()
        if self._user_producer is not None and self._user_producer[1]:
            self._user_producer[0].pauseProducing()

    def _resumed(self):
        """The peer caught up: read from it again."""
        self._held = None
        self._follow_state()
        if self._close_reason is None:
            self.transport.resumeProducing()
        if self._user_producer is not None and self._user_producer[1]:
            self._user_producer[0].resumeProducing()

    def _stopped(self):
        if self._user_producer is not None and self._user_producer[1]:
            self._user_producer[0].stopProducing()

    def writeSequence(self, data):
        """Record the joined bytes out as one event."""
        self.write(b"".join(data))

    def connectionLost(self, reason):
        """Record the close and its reason, then tell the wrapped protocol.

        What the wrapped protocol writes from its own ``connectionLost`` is
        not sent and not recorded (the capture's connection has closed).
        """
        self.factory.recorder.closed(self.tap_id, self._close_reason or reason_text(reason))
        self._record_out = _ignore
        self._fast_write = None  # the fast write takes the checked path from now on
        self._follow_state()
        self.__dict__.pop("dataReceived", None)  # the closure goes, with the cycle it makes
        remove_direct_read(self.transport)
        ProtocolWrapper.connectionLost(self, reason)

    def readConnectionLost(self):
        """The peer will send no more: pass it on, or close as Twisted would."""
        if IHalfCloseableProtocol.providedBy(self.wrappedProtocol):
            self.wrappedProtocol.readConnectionLost()
        else:
            self.transport.loseConnection()

    def startTLS(self, *args, **kwargs):
        """Start TLS on the transport; from now on every read goes through it first.

        The direct read (:func:`~lab.adapters._read.install_direct_read`)
        would hand the protocol the encrypted bytes, and the fast write
        would send plain ones, so neither is used from now on.
        """
        remove_direct_read(self.transport)
        self._tls = True
        self._follow_state()
        return self.transport.startTLS(*args, **kwargs)

    def writeConnectionLost(self):
        """Our sending side closed: pass it on to a wrapped protocol that cares."""
        if IHalfCloseableProtocol.providedBy(self.wrappedProtocol):
            self.wrappedProtocol.writeConnectionLost()

    def abort(self):
        """Drop the connection now (used when its listener stops)."""
        abort = getattr(self.transport, "abortConnection", None)
        (abort or self.transport.loseConnection)()


@implementer(IPushProducer)
class _Flow:
    """What the transport pauses and resumes: the wiretap of one connection."""

    __slots__ = ("tap", "plain")

    def __init__(self, tap):
        self.tap = tap
        self.plain = False  # may the fast write send directly? (see WiretapProtocol._fast_write_of)

    def pauseProducing(self):
        """The transport's buffer is full."""
        self.tap._paused()

    def resumeProducing(self):
        """The transport's buffer drained."""
        self.tap._resumed()

    def stopProducing(self):
        """The connection is going away."""
        self.tap._stopped()


class WiretapFactory(WrappingFactory):
    """Wraps a server factory so that every connection it builds is recorded."""

    protocol = WiretapProtocol
    noisy = False

    def __init__(self, wrapped_factory, recorder):
        WrappingFactory.__init__(self, wrapped_factory)
        self.recorder = recorder


class TrackingFactory(WrappingFactory):
    """Serves a factory unwrapped, remembering only its connections (for ``stop()``).

    What a listener uses without a wiretap: the protocols it builds are the
    server's own, on the bare transport, so traffic costs what it costs in
    plain Twisted.  No bytes are counted and nothing is recorded; no
    back-pressure is added beyond the protocol's own.  The protocols are held
    weakly (a closed connection's protocol goes when Twisted drops it).
    """

    noisy = False

    def __init__(self, wrapped_factory):
        WrappingFactory.__init__(self, wrapped_factory)
        self.built = 0
        self._protocols = weakref.WeakSet()
        self._strong = []  # protocols that cannot be weakly referenced (rare: __slots__)

    def buildProtocol(self, addr):
        """The wrapped factory's own protocol, noted."""
        protocol = self.wrappedFactory.buildProtocol(addr)
        if protocol is None:
            return None
        self.built += 1
        try:
            self._protocols.add(protocol)
        except TypeError:
            self._strong = [p for p in self._strong if _is_open(p)]
            self._strong.append(protocol)
        return protocol

    def open_protocols(self):
        """The protocols whose connections are open now."""
        return [p for p in list(self._protocols) + self._strong if _is_open(p)]

    def abort_all(self):
        """Drop every open connection now (the listener is stopping)."""
        for protocol in self.open_protocols():
            transport = protocol.transport
            (getattr(transport, "abortConnection", None) or transport.loseConnection)()


def _is_open(protocol):
    transport = getattr(protocol, "transport", None)
    return (transport is not None and getattr(transport, "connected", 1)
            and not getattr(transport, "disconnected", 0))


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
        """Record a datagram in, then hand it to the wrapped protocol (recording what it raises)."""
        cid = self._peer(addr)
        self.recorder.record(IN, cid, data)
        try:
            self.wrapped.datagramReceived(data, addr)
        except Exception as error:
            _note_error(self.recorder, cid, "datagramReceived", error)
            raise

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
