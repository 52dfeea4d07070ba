"""A pipeline's sending side: released messages go out shaped by the faults in force.

Delay and jitter, a throughput limit, fragmentation into N-byte pieces (each
sent on its own reactor turn), close or reset after N bytes or messages,
half-close; and back-pressure on the sender when too many bytes wait here.
"""

import random

from lab.adapters._proxy_values import DIRECTIONS, TO_CLIENT, TO_SERVER

# Why a bound: a throughput limit or a delay makes bytes wait in the proxy;
# past this many waiting bytes the sending side is paused (back-pressure).
MAX_OUTBOX_BYTES = 4 * 1024 * 1024
# What an outbox holds besides bytes: close, reset (abort), half-close.
_CLOSE, _RESET, _HALF = object(), object(), object()


class _FaultShapedSending:
    """The sending half of :class:`~lab.adapters.proxy.Pipeline` (a base class of it).

    It works on the pipeline's state, set in ``Pipeline.__init__``: its hub,
    clock, taps, queues, outboxes and per-direction counters and flags.
    """

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
