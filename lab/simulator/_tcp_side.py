"""One end of a simulated TCP connection: the transport its protocol writes to.

As Twisted's are (``ITCPTransport``, push producer and consumer): ``write``,
``loseConnection`` (closes after what was written, on the next turn),
``loseWriteConnection`` (half-close), ``abortConnection``, ``pauseProducing``
(stop reading: arriving bytes wait).  Arrivals (data, FIN, RST) run as events.
"""

from twisted.internet import error
from twisted.internet.address import IPv4Address
from twisted.internet.interfaces import (IConsumer, IHalfCloseableProtocol, IPushProducer,
                                         ITCPTransport)
from twisted.python.failure import Failure
from zope.interface import implementer

from lab.simulator._values import short

SEND_BUFFER = 64 * 1024  # bytes in flight from one side before its producer is paused
MAX_LABEL = 60


def _label(data):
    """A bounded repr of bytes (no memory addresses can appear in one, so no cleaning)."""
    if len(data) <= MAX_LABEL - 4:
        return repr(data)
    return repr(data[:MAX_LABEL - 8]) + "\u2026"


@implementer(ITCPTransport, IConsumer, IPushProducer)
class Side:
    """One end of a simulated TCP connection: the transport its protocol writes to."""

    def __init__(self, conn, host, port, role):
        self.conn, self.host, self.port, self.role = conn, host, port, role
        self.protocol = None
        self.connected = False
        self.disconnecting = False
        self.disconnected = False
        self.write_closed = False
        self.read_closed = False
        self.reading_paused = False
        self.producer = None
        self.streaming = False
        self._producer_paused = False
        self.out = self.into = None  # flows, set by the connection
        self.peer = None             # the other side, set by the connection

    # -- ITransport --------------------------------------------------------------

    def write(self, data):
        """Send ``data`` (bytes) to the peer."""
        if not isinstance(data, bytes):
            raise TypeError(f"Data must be bytes, not {type(data).__name__} {short(data)}")
        if not self.connected or self.write_closed or self.disconnected or not data:
            return
        conn = self.conn
        sim = conn.sim
        size = conn.fragment or (sim._settings(self.host.name, self.peer.host.name).fragment
                                 if sim._links else sim._defaults.fragment)
        if sim._stepping is None:
            sim._input(self.host.name, conn.id, f"{self.out.name} writes {_label(data)}")
        out, arrived = self.out, self.peer._data_arrived
        if not size or len(data) <= size:
            out.send("data", data, arrived, _label(data))
        else:
            for i in range(0, len(data), size):
                piece = data[i:i + size]
                out.send("data", piece, arrived, _label(piece))
        if self.producer is not None and self.streaming and self.out.in_flight > SEND_BUFFER \
                and not self._producer_paused:
            self._producer_paused = True
            self.producer.pauseProducing()

    def writeSequence(self, data):  # noqa: N802
        """Send the concatenation of ``data``."""
        self.write(b"".join(data))

    def loseConnection(self):  # noqa: N802
        """Close after what was written (on the next turn); the peer sees a clean close."""
        if self.disconnecting or self.disconnected or not self.connected:
            return
        self.disconnecting = True
        self.conn.sim._schedule(self.conn.sim._now, "close", self.host.name,
                                f"#{self.conn.id} {self.role} closes",
                                lambda event: self._finish(error.ConnectionDone()),
                                connection=self.conn.id)

    def abortConnection(self):  # noqa: N802
        """Close now, discarding what is not yet sent; the peer sees a reset."""
        if self.disconnected or not self.connected:
            return
        self.disconnecting = True
        self.conn.sim._schedule(self.conn.sim._now, "close", self.host.name,
                                f"#{self.conn.id} {self.role} aborts",
                                lambda event: self._finish(error.ConnectionAborted(), rst=True),
                                connection=self.conn.id)

    def loseWriteConnection(self):  # noqa: N802
        """Half-close: send no more (the peer reads end-of-stream), keep reading."""
        if self.write_closed or self.disconnected or not self.connected:
            return
        self.write_closed = True
        self.out.send("fin", None, self.peer._fin_arrived, "FIN")

    def getPeer(self):  # noqa: N802
        """The other end's address."""
        return self.peer._address()

    def getHost(self):  # noqa: N802
        """This end's address."""
        return self._address()

    def _address(self):
        return IPv4Address("TCP", self.host.address, self.port)

    def getTcpNoDelay(self):  # noqa: N802
        """Always True: the simulation never delays small writes."""
        return True

    def setTcpNoDelay(self, enabled):  # noqa: N802
        """Accepted; writes are never delayed anyway."""

    def getTcpKeepAlive(self):  # noqa: N802
        """Always False: the simulation sends no keep-alives."""
        return False

    def setTcpKeepAlive(self, enabled):  # noqa: N802
        """Accepted; no keep-alives are simulated."""

    def logPrefix(self):  # noqa: N802
        """How Twisted's log would name this connection."""
        return f"sim #{self.conn.id} {self.role}"

    # -- producer and consumer ------------------------------------------------------

    def registerProducer(self, producer, streaming):  # noqa: N802
        """Pause ``producer`` when more than 64 KiB are in flight, resume when they drain."""
        if self.producer is not None:
            raise RuntimeError(f"Cannot register producer {producer}, because producer "
                               f"{self.producer} was never unregistered.")
        if not streaming:
            raise NotImplementedError("the simulation supports streaming (push) producers only")
        self.producer, self.streaming = producer, streaming
        if self.disconnected:
            producer.stopProducing()

    def unregisterProducer(self):  # noqa: N802
        """Forget the producer."""
        self.producer = None

    def pauseProducing(self):  # noqa: N802
        """Stop reading: arriving bytes wait (shown as paused) until :meth:`resumeProducing`."""
        self.reading_paused = True

    def resumeProducing(self):  # noqa: N802
        """Read again: waiting bytes arrive, in order."""
        if self.reading_paused:
            self.reading_paused = False
            self.conn.sim._release_stalled()

    def stopProducing(self):  # noqa: N802
        """Close the connection."""
        self.loseConnection()

    # -- arrivals (run as events) -----------------------------------------------------

    def _delivered(self, event, status="delivered"):
        message = event.message
        if message is not None:
            message.arrived(event.time, self.conn.sim._row(), status)

    def _data_arrived(self, event):
        data = event.data
        self.into.in_flight -= len(data)
        sender = self.peer
        if sender._producer_paused and self.into.in_flight <= SEND_BUFFER // 2:
            sender._producer_paused = False
            if sender.producer is not None:
                sender.producer.resumeProducing()
        if self.disconnected or self.read_closed or not self.connected:
            self._delivered(event, "discarded")
            event.text += " (discarded: this side is closed)"
            return
        message = event.message
        message.arrived(event.time, self.conn.sim._row(), "delivered")
        decoder = self.conn.decoder
        if decoder is not None and event.message is not None:
            try:
                event.message.decoded = decoder.feed("in" if self.role == "server" else "out",
                                                     data)
            except Exception as exc:  # a decoder must never break the run
                event.message.decoded = [f"(decoder failed: {type(exc).__name__})"]
        try:
            self.protocol.dataReceived(data)
        except Exception as exc:
            self._finish(Failure(exc), rst=False)
            raise

    def _fin_arrived(self, event):
        if self.disconnected:
            self._delivered(event, "discarded")
            event.text += " (this side is closed already)"
            return
        self._delivered(event)
        self.read_closed = True
        if self.write_closed:
            self._finish(error.ConnectionDone())
        elif IHalfCloseableProtocol.providedBy(self.protocol):
            self.protocol.readConnectionLost()
        else:
            self._finish(error.ConnectionDone())

    def _reset_arrived(self, event):
        if self.disconnected:
            self._delivered(event, "discarded")
            return
        self._delivered(event)
        self.write_closed = True
        self._finish(error.ConnectionLost("Connection to the other side was lost in a "
                                          "non-clean fashion: reset by the peer."))

    def _finish(self, reason, rst=False):
        """This side is closed: tell the peer (FIN or RST), then the protocol."""
        if self.disconnected:
            return
        if not self.write_closed:
            self.write_closed = True
            if rst:
                self.out.send("reset", None, self.peer._reset_arrived, "RST")
            else:
                self.out.send("fin", None, self.peer._fin_arrived, "FIN")
        self.disconnected, self.connected, self.disconnecting = True, False, False
        reason = reason if isinstance(reason, Failure) else Failure(reason)
        producer, self.producer = self.producer, None
        if producer is not None:
            producer.stopProducing()
        try:
            if self.protocol is not None:
                self.protocol.connectionLost(reason)
        finally:
            if self.role == "client" and self.conn.connector is not None:
                self.conn.connector._lost(reason)
            self.conn.side_closed()
