"""Running a simulation: one event at a time (``step``), or many (``run_until``, ``advance``,
``run_until_idle``), each at its own virtual time, with runaway zero-delay loops stopped.
"""

from __future__ import annotations

import heapq
import traceback
from collections import deque
from collections.abc import Callable
from typing import Self

from lab.simulator._errors import BadTime, NotIdle, QueueEmpty, RunawayLoop, SimulationError
from lab.simulator._scheduling import _Scheduling
from lab.simulator._values import Happened, LogEntry, Ran, check_number, clean_text

DEFAULT_MAX_STEPS = 1_000_000  # bound of one run_until / run_until_idle


class _Stepping(_Scheduling):
    """The stepping and running part of :class:`~lab.simulator.Simulation` (a base class of it)."""

    # The state this part works on (Simulation.__init__ sets it).
    errors: deque[tuple[float, str, str]]
    marks: deque[tuple[float, str, str, float]]  # timers, for the sequence diagram
    zero_delay_limit: int
    _zero_run: int
    _zero_at: float | None

    def step(self) -> Happened:
        """Run exactly one event and return what happened (a :class:`Happened`)."""
        self._not_inside_an_event("step()")
        event = self._pop()
        if event is None:
            raise QueueEmpty(self._why_empty())
        return self._run(event, True)

    def _not_inside_an_event(self, what: str) -> None:
        if self._stepping is not None:
            raise SimulationError(
                f"{what} was called from inside an event ({self._stepping.text}); events run one "
                "at a time. Schedule the work with callLater instead, or step from the cell.")

    def _why_empty(self):
        held = [e for flow in self._stalled for e in flow.stalled]
        if held:
            reasons = sorted({f"#{e.connection} {e.flow.blocked() or 'held'}" for e in held})
            return (f"nothing can run at t={self._now:.6f}: {len(held)} events are held "
                    f"({', '.join(reasons)}); sim.release() or sim.heal() lets them go on.")
        return (f"nothing to step: the queue is empty at t={self._now:.6f}. Schedule a timer, "
                "connect, or send something first.")

    def _run(self, event, full):
        """Run ``event``; for ``step()`` (full) return a Happened, inside a run a LogEntry."""
        kind = event.kind
        if kind == "timer" or self._zero_at is not None:
            self._check_runaway(event)
        if event.time > self._now:
            self._now = event.time
        if full:
            self._new = []
        self._stepping = event
        error = None
        try:
            event.run(event)
        except Exception as exc:  # a plugin or timer raised: record it, keep going
            error = self._note_error(event, exc)
        finally:
            scheduled, self._new, self._stepping = self._new, None, None
        if kind == "timer":
            self.marks.append((event.time, event.host, event.text, self._row()))
        entry = LogEntry(self._index, self._now, event.kind, event.host,
                         event.text, event.connection, error)
        self._record(entry)
        if not full:
            return entry
        happened = Happened(entry.index, self._now, event.kind, event.host,
                            event.text, event.connection, event.direction,
                            event.data if isinstance(event.data, bytes) else None,
                            tuple(event.message.decoded) if event.message else (), error,
                            tuple(e.pending() for e in scheduled if not e.cancelled))
        self._notify(happened)
        return happened

    def _note_error(self, event, exc):
        text = clean_text(f"{type(exc).__name__}: {exc}")
        self.errors.append((event.time, event.text, "".join(
            traceback.format_exception(type(exc), exc, exc.__traceback__))))
        return text

    def _check_runaway(self, event):
        if event.kind == "timer" and event.time == event.created:
            if self._zero_at == event.time:
                self._zero_run += 1
            else:
                self._zero_at, self._zero_run = event.time, 1
            if self._zero_run > self.zero_delay_limit:
                self._zero_run = 0
                if event.call is not None and event.call.active():
                    event.call.cancelled = 1
                self._record(LogEntry(self._index, self._now, "runaway",
                                      event.host, f"stopped {event.text}"))
                raise RunawayLoop(
                    f"{event.text} was called with callLater(0) more than {self.zero_delay_limit} "
                    f"times in a row at t={self._now:.6f} without virtual time moving on; it was "
                    "cancelled. Give the loop a delay (callLater(0.1, ...)) or a way to stop.")
        elif event.time != self._zero_at:
            self._zero_at, self._zero_run = None, 0

    # -- running ---------------------------------------------------------------------------

    def run_until(self, until: float | Callable[[Self], bool],
                  max_steps: int = DEFAULT_MAX_STEPS) -> Ran:
        """Run events until virtual time ``until`` (each at its own time), or until ``until(sim)``.

        With a time, the clock ends at that time even if nothing was due; with
        a predicate, running stops as soon as it holds (checked before each
        step) and :class:`QueueEmpty` says so if the queue runs dry first.
        """
        if callable(until):
            return self._run_while(None, max_steps, predicate=until)
        target = check_number("run_until's time", until)
        if target < self._now:
            raise BadTime(f"t={target} is in the past: the clock is at {self._now:.6f}. "
                          "Use advance(seconds) to move on from now.")
        return self._run_while(target, max_steps, end_at=target)

    def advance(self, seconds: float) -> Ran:
        """Move the clock ``seconds`` on, running every event due meanwhile at its own time."""
        seconds = check_number("advance's seconds", seconds)
        return self.run_until(self._now + seconds)

    def run_until_idle(self, max_steps: int = 100_000) -> Ran:
        """Run until nothing is left that can run; :class:`NotIdle` after ``max_steps`` steps."""
        if type(max_steps) is not int or max_steps < 1:
            raise ValueError(f"max_steps is how many events to run at most, a whole number of at "
                             f"least 1, not {max_steps!r}; the default is 100_000.")
        return self._run_while(None, max_steps, idle=True)

    def run_to_next_timer(self) -> Ran:
        """Run events up to and including the next timer (the queue panel's button)."""
        if not any(e.kind == "timer" for e in self._events()):
            raise QueueEmpty(f"no timer is pending at t={self._now:.6f}.")
        events, started = [], self._now
        while True:
            happened = self.step()
            events.append(happened.entry)
            if happened.kind == "timer":
                return Ran(tuple(events), started, self._now)

    def _run_while(self, until, max_steps, predicate=None, idle=False, end_at=None):
        """Run events due by ``until`` (None: any), or until ``predicate(self)``; a Ran."""
        self._not_inside_an_event("running the simulation")
        max_steps = int(check_number("max_steps", max_steps))
        entries: list[LogEntry] = []
        started = self._now
        self._in_run += 1
        try:
            self._loop(until, max_steps, predicate, idle, entries)
            if end_at is not None and end_at > self._now:
                self._now = end_at
        finally:
            self._in_run -= 1
            ran = Ran(tuple(entries), started, self._now)
            if not self._in_run:
                self._notify(ran)
        return ran

    def _loop(self, until, max_steps, predicate, idle, entries):
        heap, pop, run, push = self._heap, self._pop, self._run, heapq.heappush
        while True:
            if predicate is not None and predicate(self):
                return
            event = pop()
            if event is None:
                if predicate is not None:
                    raise QueueEmpty(f"the queue ran dry at t={self._now:.6f} before "
                                     f"{getattr(predicate, '__name__', 'the condition')} held "
                                     f"(after {len(entries)} steps).")
                return
            if until is not None and event.time > until:
                push(heap, (event.time, event.seq, event))
                return
            if len(entries) >= max_steps:
                push(heap, (event.time, event.seq, event))
                if idle:
                    raise NotIdle(
                        f"still busy after {max_steps} steps (t={self._now:.6f}); something keeps "
                        "scheduling work (a LoopingCall?). Use run_until(time) or "
                        "advance(seconds), or stop it.")
                raise NotIdle(f"stopped after max_steps={max_steps} steps at t={self._now:.6f}.")
            entries.append(run(event, False))
