"""Proxy legs: a client connection, its own connection to the target, and the messages between.

Each accepted client connection (:class:`ClientLeg`) gets a server leg
(:class:`ServerLeg`) and one :class:`Pipeline`, which owns everything that
happens to the bytes in between, per direction (``"to_server"``,
``"to_client"``):

1. the bytes are recorded in the capture, as they arrived;
2. a framer splits them into whole messages (on a framing error that
   direction passes the rest through unframed, and says so);
3. each message joins the direction's queue; the *hub* (the model's
   ``Proxy``) decides whether to hold it for the user.  A held message
   blocks the messages behind it, so order is kept;
4. released messages are sent, shaped by the faults in force: delay and
   jitter, a throughput limit, fragmentation into N-byte pieces (each
   sent on its own reactor turn), close or reset after N bytes or
   messages, half-close.

The hub is duck-typed, called in the reactor thread::

    capture                          a lab.model Capture (opened/record/closed)
    framing                          .to_server() / .to_client() make framers
    should_hold(pipeline, direction, message) -> bool
    held_changed()                   the held list changed
    note(connection, text)           something worth telling the user
    faults_for(pipeline) -> Faults

UDP (:class:`ProxyDatagram`) has one pipeline per client address, whose
server leg is a connected UDP port of its own; every datagram is a message.
"""

import random
import time
from collections import OrderedDict, deque

from twisted.internet.interfaces import IHalfCloseableProtocol
from twisted.internet.protocol import DatagramProtocol, Factory, Protocol
from zope.interface import implementer

from lab.adapters._send import send_now
from lab.adapters.wiretap import address_of, reason_text
from lab.protocols.framing import FramingError, RawFramer

__all__ = ["Faults", "Message", "Pipeline", "ClientLeg", "ServerLeg", "ProxyFactory",
           "ProxyDatagram", "TO_SERVER", "TO_CLIENT", "DIRECTIONS", "MAX_OUTBOX_BYTES",
           "MAX_DATAGRAM_CLIENTS"]

TO_SERVER, TO_CLIENT = "to_server", "to_client"
DIRECTIONS = (TO_SERVER, TO_CLIENT)
# Why a bound: a throughput limit or a delay makes bytes wait in the proxy;
# past this many waiting bytes the sending side is paused (back-pressure).
MAX_OUTBOX_BYTES = 4 * 1024 * 1024
MAX_DATAGRAM_CLIENTS = 256
_CLOSE, _RESET, _HALF = object(), object(), object()


class Faults:
    """What to do to traffic: all off by default.  ``direction`` limits the count-based faults."""

    FIELDS = ("delay", "jitter", "rate", "fragment", "close_after_bytes",
              "close_after_messages", "reset", "half_close_after", "direction", "seed")

    def __init__(self, delay=0.0, jitter=0.0, rate=None, fragment=None, close_after_bytes=None,
                 close_after_messages=None, reset=False, half_close_after=None,
                 direction="both", seed=None):
        self.delay, self.jitter, self.rate, self.fragment = delay, jitter, rate, fragment
        self.close_after_bytes, self.close_after_messages = close_after_bytes, close_after_messages
        self.reset, self.half_close_after, self.direction = reset, half_close_after, direction
        self.seed = seed
        # True if any fault is set (read on every message, so computed once).
        self.active = bool(delay or jitter or rate or fragment or close_after_bytes is not None
                           or close_after_messages is not None or half_close_after is not None)

    def applies(self, direction):
        """True if the count-based faults watch ``direction``."""
        return self.direction in ("both", direction)

    def as_dict(self):
        """The settings that differ from the defaults."""
        blank = Faults()
        return {f: getattr(self, f) for f in self.FIELDS if getattr(self, f) != getattr(blank, f)}

    def __repr__(self):
        settings = ", ".join(f"{k}={v!r}" for k, v in self.as_dict().items())
        return f"Faults({settings})"


class Message:
    """One whole message in a proxy's queue: its connection, direction, bytes and whether held."""

    __slots__ = ("id", "connection", "direction", "data", "held", "time", "original",
                 "pipeline", "__weakref__")
    _next = 1

    def __init__(self, pipeline, direction, data, held=False):
        self.id = Message._next
        Message._next += 1
        self.pipeline, self.direction, self.data, self.held = pipeline, direction, data, held
        self.connection = pipeline.id
        self.time = time.time()
        self.original = data

    @property
    def edited(self):
        """True if ``data`` is no longer what arrived."""
        return self.data != self.original

    def describe(self):
        """One readable line, from the proxy's framer."""
        try:
            return self.pipeline.framers[self.direction].describe(self.data)
        except Exception:  # noqa: BLE001 - a description must never break a listing
            return repr(self.data[:80])

    def __repr__(self):
        state = "held" if self.held else "queued"
        arrow = "->" if self.direction == TO_SERVER else "<-"
        return (f"<Message #{self.id} conn #{self.connection} {arrow} {state} "
                f"{len(self.data)} bytes: {self.describe()}>")


class Pipeline:
    """One proxied connection: both legs, a framer and a queue per direction, faults."""

    def __init__(self, hub, clock, transport="tcp"):
        self.hub, self.clock, self.transport = hub, clock, transport
        self.id = None  # the client leg's connection id in the capture
        self.server_id = None
        self.client_tap = self.server_tap = None
        self.framers = {TO_SERVER: hub.framing.to_server(), TO_CLIENT: hub.framing.to_client()}
        self.queues = {TO_SERVER: deque(), TO_CLIENT: deque()}
        self.outbox = {TO_SERVER: deque(), TO_CLIENT: deque()}
        self.outbox_bytes = {TO_SERVER: 0, TO_CLIENT: 0}
        self.sent_bytes = {TO_SERVER: 0, TO_CLIENT: 0}
        self.sent_messages = {TO_SERVER: 0, TO_CLIENT: 0}
        self.half_closed = {TO_SERVER: False, TO_CLIENT: False}
        self.timers = {TO_SERVER: None, TO_CLIENT: None}
        self.last_due = {TO_SERVER: 0.0, TO_CLIENT: 0.0}
        self.faults = None  # per-connection faults, or None for the proxy's
        self.closed = False
        self._rng = None
        self._paused = {TO_SERVER: False, TO_CLIENT: False}
        self._eof = {TO_SERVER: False, TO_CLIENT: False}  # the sender half-closed
        self._gone = {TO_SERVER: False, TO_CLIENT: False}  # the sender closed altogether
        self._ended = {TO_SERVER: False, TO_CLIENT: False}  # EOF or close is in the outbox
        self._tails = {TO_SERVER: b"", TO_CLIENT: b""}  # fed to a framer without drain()

    # -- the legs call these ---------------------------------------------------

    def received(self, direction, data):
        """Bytes arrived from one side: record, frame, queue, and send what may go."""
        capture = self.hub.capture
        if direction == TO_SERVER:
            capture.record("in", self.id, data)
        else:
            capture.record("out", self.server_id, data)
        framer = self.framers[direction]
        was_pending = getattr(framer, "pending", 1)
        messages = self._frame(direction, framer, data)
        queue = self.queues[direction]
        if (not queue and not self.hub.holding and not self.outbox[direction]
                and not self._faults().active and not self.half_closed[direction]):
            # The hot path, nothing to hold or shape: the whole messages leave in one write.
            if messages:
                whole = not was_pending and not getattr(framer, "pending", 1)
                self._send(direction, data if whole else b"".join(messages))
            if self._eof[direction]:
                self.pump(direction)
            return
        for message in messages:
            item = Message(self, direction, message)
            queue.append(item)
            if self.hub.should_hold(self, direction, item):
                item.held = True
        if any(item.held for item in queue):
            self.hub.held_changed()
        self.pump(direction)

    def _frame(self, direction, framer, data):
        """Whole messages in ``data``; after a framer error, every byte it held goes on unframed.

        A framer without ``drain()`` (a user's) cannot give back what it
        buffered, so the pipeline keeps its own copy of the bytes it has fed
        and not yet got back as messages.
        """
        copy = not hasattr(framer, "drain")
        if copy:
            self._tails[direction] += data
        try:
            messages = framer.feed(data)
        except Exception as error:  # noqa: BLE001 - a framer's bug must not lose bytes
            found = list(getattr(error, "messages", ()))
            if copy:
                rest = self._tails[direction][sum(map(len, found)):]
            else:
                rest = framer.drain()
            self._tails[direction] = b""
            self.framers[direction] = RawFramer()
            what = str(error) if isinstance(error, FramingError) else \
                f"the framer raised {type(error).__name__}: {error}"
            self.hub.note(self.id, f"{direction}: framing stopped ({what}); the rest of this "
                                   "direction passes unframed")
            return found + ([rest] if rest else [])
        if copy:
            self._tails[direction] = self._tails[direction][sum(map(len, messages)):]
        return messages

    def eof(self, direction):
        """The sender half-closed: pass it on once everything before it went out."""
        self.flush_partial(direction, "the sender half-closed")
        self._eof[direction] = True
        self.pump(direction)
        self._close_if_done(direction)

    def flush_partial(self, direction, why):
        """Queue bytes left in a framer (an incomplete message) unframed, saying so."""
        framer = self.framers[direction]
        if hasattr(framer, "drain"):
            rest = framer.drain() if getattr(framer, "pending", 1) else b""
        else:
            rest, self._tails[direction] = self._tails[direction], b""
        if rest:
            self.hub.note(self.id, f"{direction}: {why} with {len(rest)} bytes of an "
                                   "incomplete message; they were passed on as they were")
            self.queues[direction].append(Message(self, direction, rest))

    def lost(self, side, reason):
        """One leg closed: forward what is left towards the other side, then close it."""
        if side == "client":
            self.flush_partial(TO_SERVER, "the client closed")
            if self.server_tap is None:
                self.closed = True
            self._forget_held(TO_CLIENT, f"the client left ({reason})")
            self._eof[TO_SERVER] = self._gone[TO_SERVER] = True
            self.pump(TO_SERVER)
        else:
            self.flush_partial(TO_CLIENT, "the server closed")
            self._forget_held(TO_SERVER, f"the server leg closed ({reason})")
            self._eof[TO_CLIENT] = self._gone[TO_CLIENT] = True
            self.pump(TO_CLIENT)

    def _forget_held(self, direction, why):
        queue = self.queues[direction]
        if not queue:
            return
        count = len(queue)
        size = sum(len(m.data) for m in queue)
        queue.clear()
        self.hub.note(self.id, f"{direction}: {count} message(s), {size} bytes, not delivered: "
                               f"{why}")
        self.hub.held_changed()

    # -- the user (through the hub) calls these -----------------------------------

    def release(self, item, data=None):
        """Let a held message go, with ``data`` instead of its bytes if given."""
        if data is not None:
            item.data = data
        item.held = False
        self.pump(item.direction)

    def drop(self, item):
        """Remove a message from its queue (it is never sent)."""
        try:
            self.queues[item.direction].remove(item)
        except ValueError:
            return False
        self.hub.note(self.id, f"{item.direction}: message #{item.id} dropped "
                               f"({len(item.data)} bytes)")
        self.pump(item.direction)
        return True

    def inject(self, direction, data):
        """Queue new bytes as a message of their own (behind any held ones)."""
        item = Message(self, direction, data)
        self.queues[direction].append(item)
        self.pump(direction)
        return item

    @property
    def held(self):
        """Messages waiting for the user's decision, both directions."""
        return [m for d in DIRECTIONS for m in self.queues[d] if m.held]

    # -- sending, shaped by faults -------------------------------------------------

    def _faults(self):
        return self.faults if self.faults is not None else self.hub.faults_for(self)

    def rng(self):
        """This connection's random source: seeded from the faults' seed and the id."""
        if self._rng is None:
            seed = self._faults().seed
            self._rng = random.Random(None if seed is None else f"{seed}/{self.id}")
        return self._rng

    def pump(self, direction):
        """Send the queue's head messages until one is held; then pass on an EOF or close."""
        queue = self.queues[direction]
        if queue and not self.outbox[direction] and not self._faults().active:
            # The common case, no faults: everything ready leaves in one write.
            ready = []
            while queue and not queue[0].held:
                ready.append(queue.popleft().data)
            if ready and not self.half_closed[direction]:
                self._send(direction, b"".join(ready))
        while queue and not queue[0].held:
            self._transmit(direction, queue.popleft())
        if self._eof[direction] and not queue and not self._ended[direction]:
            self._ended[direction] = True
            self._put(direction, 0.0, _CLOSE if self._gone[direction] else _HALF)
        self._backpressure(direction)

    def _transmit(self, direction, item):
        data = item.data
        if self.half_closed[direction]:
            self.hub.note(self.id, f"{direction}: {len(data)} bytes not sent: that side was "
                                   "half-closed by a fault")
            return
        faults = self._faults()
        if not faults.active and not self.outbox[direction]:
            self._send(direction, data)
            return
        counted = faults.applies(direction)
        end = None
        if counted and faults.close_after_bytes is not None:
            room = faults.close_after_bytes - self.sent_bytes[direction]
            if room <= len(data):
                data, end = data[:max(room, 0)], _RESET if faults.reset else _CLOSE
        self.sent_bytes[direction] += len(data)
        self.sent_messages[direction] += 1
        if counted and faults.close_after_messages is not None and end is None:
            if self.sent_messages[direction] >= faults.close_after_messages:
                end = _RESET if faults.reset else _CLOSE
        delay = faults.delay + (self.rng().uniform(0, faults.jitter) if faults.jitter else 0)
        # A throughput limit sends ~20 pieces a second, each taking its share of the time.
        size = faults.fragment or (max(1, int(faults.rate // 20)) if faults.rate else 0) \
            or len(data) or 1
        for at in range(0, len(data), size):
            piece = data[at:at + size]
            self._put(direction, delay, piece, len(piece) / faults.rate if faults.rate else 0.0)
        if end is not None:
            self._put(direction, delay, end)
        if counted and faults.half_close_after is not None and end is None \
                and self.sent_messages[direction] >= faults.half_close_after:
            self._put(direction, delay, _HALF)

    def _put(self, direction, delay, what, takes=0.0):
        now = self.clock.seconds()
        due = max(now + delay, self.last_due[direction])
        self.last_due[direction] = due + takes  # the next piece waits until this one is "sent"
        self.outbox[direction].append((due, what))
        if isinstance(what, bytes):
            self.outbox_bytes[direction] += len(what)
        self._schedule(direction)

    def _schedule(self, direction):
        if self.timers[direction] is not None or not self.outbox[direction]:
            return
        if direction == TO_SERVER and self.server_tap is None:
            return  # not connected yet: connected() schedules
        due = self.outbox[direction][0][0]
        self.timers[direction] = self.clock.callLater(
            max(0.0, due - self.clock.seconds()), self._fire, direction)

    def _fire(self, direction):
        self.timers[direction] = None
        outbox = self.outbox[direction]
        if not outbox:
            return
        _, what = outbox.popleft()
        if what is _CLOSE or what is _RESET:
            self._end(direction, reset=what is _RESET)
            return
        if what is _HALF:
            self._half_close(direction)
        else:
            self.outbox_bytes[direction] -= len(what)
            if self.half_closed[direction]:
                self.hub.note(self.id, f"{direction}: {len(what)} bytes not sent: that side was "
                                       "half-closed by a fault")
            else:
                self._send(direction, what)
        self._backpressure(direction)
        self._schedule(direction)

    def _send(self, direction, data):
        if not data:
            return
        tap = self.server_tap if direction == TO_SERVER else self.client_tap
        if tap is None:
            if direction == TO_SERVER and self.server_id is None and not self.closed:
                self._put(direction, 0.0, data)  # the server leg is still connecting
            else:
                side = "server" if direction == TO_SERVER else "client"
                self.hub.note(self.id, f"{direction}: {len(data)} bytes not delivered: the "
                                       f"{side} had closed")
            return
        capture = self.hub.capture
        if direction == TO_SERVER:
            capture.record("in", self.server_id, data)
        else:
            capture.record("out", self.id, data)
        tap.send(data)

    def _half_close(self, direction):
        self.half_closed[direction] = True
        tap = self.server_tap if direction == TO_SERVER else self.client_tap
        if tap is not None:
            tap.half_close()
        self._close_if_done(TO_CLIENT if direction == TO_SERVER else TO_SERVER)

    def _close_if_done(self, direction):
        """Close a leg once it has sent its EOF (``direction`` is from it) and got ours.

        Twisted leaves a half-closed connection open until someone closes it;
        a leg that can neither send nor receive any more is closed here.
        """
        towards = TO_CLIENT if direction == TO_SERVER else TO_SERVER
        if self._eof[direction] and self.half_closed[towards]:
            tap = self.client_tap if direction == TO_SERVER else self.server_tap
            if tap is not None:
                tap.close()

    def _end(self, direction, reset):
        faults_text = "reset" if reset else "closed"
        if not self._eof[direction]:
            self.hub.note(self.id, f"fault: {faults_text} after {self.sent_bytes[direction]} "
                                   f"bytes / {self.sent_messages[direction]} messages "
                                   f"{direction}")
        for direction_ in DIRECTIONS:
            timer = self.timers[direction_]
            if timer is not None and timer.active():
                timer.cancel()
            self.timers[direction_] = None
        self.close(reset=reset)

    def close(self, reset=False):
        """Close both legs (abort them if ``reset``)."""
        self.closed = True
        for tap in (self.client_tap, self.server_tap):
            if tap is not None:
                tap.abort() if reset else tap.close()

    def _backpressure(self, direction):
        queue = self.queues[direction]
        queued = sum(len(m.data) for m in queue) if queue else 0
        waiting = self.outbox_bytes[direction] + queued
        tap = self.client_tap if direction == TO_SERVER else self.server_tap
        too_much = (self.outbox_bytes[direction] > MAX_OUTBOX_BYTES
                    or queued > getattr(self.hub, "max_held_bytes", MAX_OUTBOX_BYTES))
        if too_much and not self._paused[direction] and tap is not None:
            self._paused[direction] = True
            tap.pause()
            self.hub.note(self.id, f"{direction}: {waiting} bytes waiting in the proxy; reading "
                                   "from the sender paused until they go (nothing is dropped)")
        elif not too_much and self._paused[direction]:
            self._paused[direction] = False
            if tap is not None:
                tap.resume()

    # -- legs -----------------------------------------------------------------------

    def connected(self, server_tap, peer, local):
        """The server leg is up: record it and send what waited."""
        self.server_tap = server_tap
        self.server_id = self.hub.capture.opened(self.transport, peer, local, server_tap)
        if self.client_tap is not None:
            self.client_tap.resume()
        self._schedule(TO_SERVER)

    def connect_failed(self, reason):
        """The target could not be reached: tell the user, close the client."""
        text = reason_text(reason)
        self.hub.note(self.id, f"target unreachable: {text}")
        self.closed = True
        if self.client_tap is not None:
            self.client_tap.close_reason = f"target unreachable: {text}"
            self.client_tap.close()


class _StreamTap:
    """What a pipeline needs of a TCP leg: send, pause, resume, half-close, close, abort."""

    close_reason = None

    def send(self, data):
        """Write now if the socket is idle, else queue."""
        send_now(self.transport, data)

    def pause(self):
        """Stop reading from this side."""
        self.transport.pauseProducing()

    def resume(self):
        """Read from this side again."""
        if self.transport is not None and self.connected:
            self.transport.resumeProducing()

    def half_close(self):
        """Close our sending side (the peer reads EOF)."""
        lose = getattr(self.transport, "loseWriteConnection", None)
        (lose or self.transport.loseConnection)()

    def close(self):
        """Close after pending writes."""
        if self.transport is not None:
            self.transport.loseConnection()

    def abort(self):
        """Drop the connection now (an RST where the platform sends one)."""
        if self.transport is not None:
            abort = getattr(self.transport, "abortConnection", None)
            (abort or self.transport.loseConnection)()


@implementer(IHalfCloseableProtocol)
class ClientLeg(Protocol, _StreamTap):
    """A client's connection to the proxy; makes its own connection to the target."""

    def __init__(self, pipeline):
        self.pipeline = pipeline

    def connectionMade(self):
        """Record the client, pause it, and connect to the target."""
        pipeline = self.pipeline
        pipeline.client_tap = self
        transport = self.transport
        pipeline.id = pipeline.hub.capture.opened(
            "tcp", address_of(transport.getPeer()), address_of(transport.getHost()), self)
        transport.pauseProducing()  # until the server leg is up
        self.factory.connect(ServerLeg(pipeline)).addErrback(pipeline.connect_failed)

    def dataReceived(self, data):
        """Bytes from the client."""
        self.pipeline.received(TO_SERVER, data)

    def readConnectionLost(self):
        """The client half-closed: pass it on after what it sent."""
        self.pipeline.eof(TO_SERVER)

    def writeConnectionLost(self):
        """Our side towards the client closed."""

    def connectionLost(self, reason):
        """Record why, and let the server leg finish."""
        pipeline = self.pipeline
        pipeline.client_tap = None
        pipeline.hub.capture.closed(pipeline.id, self.close_reason or reason_text(reason))
        pipeline.lost("client", reason_text(reason))


@implementer(IHalfCloseableProtocol)
class ServerLeg(Protocol, _StreamTap):
    """The proxy's connection to the target for one client."""

    def __init__(self, pipeline):
        self.pipeline = pipeline

    def connectionMade(self):
        """Record the server leg and let the client's bytes flow."""
        transport = self.transport
        self.pipeline.connected(self, address_of(transport.getHost()),
                                address_of(transport.getPeer()))

    def dataReceived(self, data):
        """Bytes from the server."""
        self.pipeline.received(TO_CLIENT, data)

    def readConnectionLost(self):
        """The server half-closed."""
        self.pipeline.eof(TO_CLIENT)

    def writeConnectionLost(self):
        """Our side towards the server closed."""

    def connectionLost(self, reason):
        """Record why, and close the client leg after what is left."""
        pipeline = self.pipeline
        pipeline.server_tap = None
        pipeline.hub.capture.closed(pipeline.server_id, self.close_reason
                                    or reason_text(reason))
        pipeline.lost("server", reason_text(reason))


class ProxyFactory(Factory):
    """Builds a :class:`ClientLeg` and a :class:`Pipeline` per accepted connection.

    ``connect(protocol)`` connects a server leg to the target and returns a Deferred.
    """

    noisy = False

    def __init__(self, hub, connect, clock):
        self.hub, self.connect, self.clock = hub, connect, clock

    def buildProtocol(self, addr):
        """A fresh pipeline for this client."""
        pipeline = Pipeline(self.hub, self.clock)
        self.hub.pipeline_started(pipeline)
        leg = ClientLeg(pipeline)
        leg.factory = self
        return leg


class _DatagramTap:
    """A UDP leg as a pipeline sees it: send a datagram; the rest is a no-op or forgets the leg."""

    close_reason = None

    def __init__(self, write, forget):
        self._write, self._forget = write, forget

    def send(self, data):
        """Send one datagram."""
        self._write(data)

    def pause(self):
        """UDP has no back-pressure: datagrams beyond the bounds are the network's to drop."""

    def resume(self):
        """See :meth:`pause`."""

    def half_close(self):
        """UDP has no half-close: forget the leg."""
        self._forget()

    def close(self):
        """Forget this client's legs."""
        self._forget()

    abort = close


class _ServerDatagram(DatagramProtocol):
    noisy = False

    def __init__(self, pipeline):
        self.pipeline = pipeline

    def datagramReceived(self, data, addr):
        self.pipeline.received(TO_CLIENT, data)

    def connectionRefused(self):
        self.pipeline.hub.note(self.pipeline.id, "target refused a datagram (ICMP port "
                                                 "unreachable)")


class ProxyDatagram(DatagramProtocol):
    """A UDP proxy: one pipeline and one connected server port per client address."""

    noisy = False

    def __init__(self, hub, target, reactor):
        self.hub, self.target, self.reactor = hub, target, reactor
        self.pipelines = OrderedDict()  # (host, port) -> (pipeline, server port)

    def datagramReceived(self, data, addr):
        """A datagram from a client: through its pipeline, to the target."""
        addr = (addr[0], addr[1])
        entry = self.pipelines.get(addr)
        if entry is None:
            entry = self._open(addr)
        else:
            self.pipelines.move_to_end(addr)
        entry[0].received(TO_SERVER, data)

    def _open(self, addr):
        if len(self.pipelines) >= MAX_DATAGRAM_CLIENTS:
            self._forget(next(iter(self.pipelines)), "forgotten: too many UDP clients")
        pipeline = Pipeline(self.hub, self.reactor, transport="udp")
        pipeline.framers = {TO_SERVER: RawFramer(), TO_CLIENT: RawFramer()}
        self.hub.pipeline_started(pipeline)
        local = address_of(self.transport.getHost())
        pipeline.id = self.hub.capture.opened("udp", addr, local, None)
        host, port = self.target
        interface = "::1" if ":" in host else "127.0.0.1"
        server_port = self.reactor.listenUDP(0, _ServerDatagram(pipeline), interface=interface)
        server_port.connect(host, port)
        pipeline.client_tap = _DatagramTap(lambda data: self.transport.write(data, addr),
                                           lambda: self._forget(addr, "closed by a fault"))
        self.pipelines[addr] = (pipeline, server_port)
        pipeline.connected(_DatagramTap(server_port.write,
                                        lambda: self._forget(addr, "closed by a fault")),
                           address_of(server_port.getHost()), (host, port))
        return self.pipelines[addr]

    def _forget(self, addr, reason):
        entry = self.pipelines.pop(addr, None)
        if entry is None:
            return
        pipeline, server_port = entry
        pipeline.closed = True
        self.hub.capture.closed(pipeline.id, reason)
        self.hub.capture.closed(pipeline.server_id, reason)
        server_port.stopListening()

    def doStop(self):
        """Forget every client when the proxy stops."""
        for addr in list(self.pipelines):
            self._forget(addr, "proxy stopped")
        DatagramProtocol.doStop(self)
