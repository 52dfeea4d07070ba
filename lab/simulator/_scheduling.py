"""The one queue of everything that will happen, and what leaves it while it cannot run.

Timers, bytes arriving, connections opening and closing, and datagrams are
all entries of one heap ordered by (virtual time, order of scheduling).
Things that cannot run yet (a held connection, a partition, a receiver that
paused reading) leave the heap for their flow's stall list when their time
comes, and go back in order when released.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator
from typing import Any
from lab.simulator._queue import Event
from lab.simulator._recording import _Recording
from lab.simulator._values import Pending


class _Scheduling(_Recording):
    """The queue part of :class:`~lab.simulator.Simulation` (a base class of it)."""

    # The state this part works on (Simulation.__init__ sets it).
    _seq: Iterator[int]
    _heap: list[tuple[float, int, Event]]
    _new: list[Event] | None
    _stalled: dict[Any, None]  # flows with held events (a dict: ordered)
    _cuts: set[frozenset[str]]  # partitioned host pairs

    def _push(self, event):
        event.seq = next(self._seq)
        heapq.heappush(self._heap, (event.time, event.seq, event))
        if self._new is not None:
            self._new.append(event)
        return event

    def _schedule(self, time, kind, host, text, run, **extra):
        """Queue an event (internal: the network and the timers use it)."""
        event = Event(max(time, self._now), kind, host, text, run)
        for name, value in extra.items():
            setattr(event, name, value)
        event.created = self._now
        return self._push(event)

    def _events(self):
        return [e for _, _, e in self._heap if not e.cancelled]

    def _delayed_calls(self, host):
        return [e.call for e in self._events()
                if e.kind == "timer" and (host is None or e.host == host.name)]

    def pending(self, limit: int | None = None) -> list[Pending]:
        """What will happen next, in order: ready events first, then held ones (with why).

        ``limit`` keeps only the first that many.
        """
        events = sorted(self._events(), key=lambda e: (e.time, e.seq))
        ready: list[Pending] = []
        held: list[Pending] = []
        for event in events:
            why = event.held()
            (held if why else ready).append(event.pending(why))
        for flow in self._stalled:
            held.extend(e.pending(flow.blocked() or "waiting its turn") for e in flow.stalled)
        found = ready + held
        return found if limit is None else found[:limit]

    def _pop(self):
        """The next event that can run now, or None; held ones move to their flow's stall list."""
        heap, heappop, cuts = self._heap, heapq.heappop, self._cuts
        while heap:
            event = heappop(heap)[2]
            if event.cancelled:
                continue
            flow = event.flow
            if flow is not None and (flow.held or flow.stalled or cuts
                                     or flow.receiver.reading_paused) \
                    and (flow.blocked() or flow.stalled):
                flow.stalled.append(event)
                self._stalled[flow] = None
                continue
            return event
        return None

    def _release_stalled(self):
        """Put the stalled events of every flow that may go on back in the queue, in order."""
        for flow in list(self._stalled):
            if flow.blocked():
                continue
            del self._stalled[flow]
            later = [e for e in self._events() if e.flow is flow and e.time <= self._now]
            for event in later:
                event.cancelled = True
            for event in list(flow.stalled) + later:
                again = Event(self._now, event.kind, event.host, event.text, event.run)
                for name in Event.__slots__:
                    if name not in ("time", "seq", "cancelled"):
                        setattr(again, name, getattr(event, name))
                again.time = self._now
                self._push(again)
            flow.stalled.clear()
