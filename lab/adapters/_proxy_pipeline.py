"""One proxied connection's pipeline: what arrives is recorded, framed, queued, held or sent.

The sending half (faults, timers, back-pressure) is :class:`_FaultShapedSending`.
"""

from collections import deque

from lab.adapters._proxy_sending import _FaultShapedSending
from lab.adapters._proxy_values import DIRECTIONS, TO_CLIENT, TO_SERVER, Message
from lab.adapters.wiretap import reason_text
from lab.protocols.framing import FramingError, RawFramer


class Pipeline(_FaultShapedSending):
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
