"""``Trace`` and ``Stepper``: what a notebook holds to read, step and draw a chain."""

import threading
from collections.abc import Callable
from typing import Any

from twisted.internet.defer import Deferred
from twisted.python.failure import Failure

from lab.deferreds import _ladder
from lab.deferreds._errors import BadBreakpoint, NotFinished, WrongThread
from lab.deferreds._make import record, record_deferred
from lab.deferreds._recorder import NOTHING
from lab.deferreds._replay import replay
from lab import display
from lab.deferreds._values import ChainReset, Stage
from lab.errors import LabTimeout

__all__ = ["Trace", "Stepper", "trace", "step", "SAME"]

SAME = NOTHING  # what_if(value=SAME): replay with the recorded initial input
DEFAULT_STEP_TIMEOUT = 10.0
# runner=lab.call: how a chain living in another thread is stepped there.
Runner = Callable[[Callable[[], Any]], Any]


class Trace:
    """Every stage of a Deferred's chain, recorded as it runs.

    ``Trace(d)`` (or ``lab.trace(d)``) records the stages added before and
    after it is made, also on a Deferred that has already fired.
    ``Trace(coro)``, or ``Trace(fn, *args)`` for an ``async def`` or
    ``inlineCallbacks`` function, records each ``await``/``yield`` as a stage.

    ``runner=lab.call`` says the chain lives in the reactor thread: a function
    target is called there, and stepping and replays happen there, while
    reading (``stages``, the ladder) happens in the caller's thread.  A trace
    made inside the reactor thread (within ``lab.call``) finds this by itself.
    """

    _gated = False

    def __init__(self, target: Any, *args: Any, runner: Runner | None = None,
                 **kwargs: Any) -> None:
        self._recorder = record(target, args, kwargs, runner, self._gated)

    @classmethod
    def _over(cls, recorder):
        view = cls.__new__(cls)
        view._recorder = recorder
        return view

    # -- reading -------------------------------------------------------------

    @property
    def deferred(self) -> Deferred | None:
        """The Deferred being recorded."""
        return self._recorder.deferred

    @property
    def stages(self) -> tuple[Stage, ...]:
        """Every stage so far, as immutable :class:`Stage` values (coroutine segments first)."""
        return self._recorder.stages()

    @property
    def done(self) -> bool:
        """True when the Deferred has fired and every stage has run."""
        return self._recorder.done

    @property
    def result(self) -> Any:
        """The value (or Failure) the chain ended with; raises :class:`NotFinished` before that."""
        if not self.done:
            raise NotFinished(
                "the chain has not finished yet, so it has no result; check .done first, "
                "or step()/run() a stepper to the end.")
        return self._recorder.current

    @property
    def failed(self) -> bool:
        """True when the chain has finished with a Failure."""
        return self.done and isinstance(self._recorder.current, Failure)

    @property
    def unhandled(self) -> bool:
        """True when the chain ended in a Failure nobody handled ("Unhandled error in Deferred")."""
        recorder = self._recorder
        d = recorder.deferred
        return self.failed and getattr(d, "result", None) is recorder.current

    @property
    def path(self) -> tuple[str, ...]:
        """What each reached stage did, in order: ``"callback"``, ``"errback"`` or ``"skipped"``."""
        return tuple(s.ran for s in self.stages if s.ran is not None)

    @property
    def initial(self) -> str | None:
        """Bounded repr of the value (or Failure) the chain was fired with, or None."""
        recorder = self._recorder
        return None if recorder.initial is NOTHING else recorder.text_of(recorder.initial)

    @property
    def fired_by(self) -> str | None:
        """How the chain started: ``"callback"``, ``"errback"``, ``"before trace()"``, or None."""
        return self._recorder.fired_by

    @property
    def notes(self) -> tuple[str, ...]:
        """Remarks about the chain: cancellation, what-if changes, limits met."""
        return tuple(self._recorder.notes)

    @property
    def cancelled(self) -> bool:
        """True once ``cancel()`` was called on the Deferred."""
        return self._recorder.cancelled

    @property
    def members(self) -> "tuple[Trace, ...]":
        """For a ``DeferredList``/``gatherResults``: a :class:`Trace` of each member."""
        found = []
        for member in self._recorder.members:
            recorder = record_deferred(member, self._recorder.home, self._recorder.runner, False)
            found.append(Trace._over(recorder))
        return tuple(found)

    def nested(self, index: int) -> "Trace":
        """A :class:`Trace` of the Deferred that stage ``index`` returned (and waited on)."""
        slot = self._slot(index)
        ref = slot.waiting_on
        target = ref() if ref is not None else None
        if target is None:
            raise BadBreakpoint(
                f"stage #{index} did not return a Deferred (or it is gone); nested() needs a "
                "stage whose function returned one.")
        recorder = self._recorder
        return type(self)._over(record_deferred(target, recorder.home, recorder.runner,
                                                self._gated))

    def _slot(self, index):
        slots = self._recorder.all_slots()
        if not isinstance(index, int) or not -len(slots) <= index < len(slots):
            raise BadBreakpoint(f"there is no stage #{index!r}; this chain has {len(slots)}.")
        return slots[index]

    def wait(self, timeout: float | None = DEFAULT_STEP_TIMEOUT) -> "Trace":
        """Block until the chain is done (or, for a stepper, paused at a gate); return ``self``.

        For a chain running in another thread (the reactor's).  In the chain's
        own thread nothing could make progress while we block, so an unfinished
        chain raises :class:`lab.WrongThread` there instead.
        """
        recorder = self._recorder
        if threading.get_ident() == recorder.home and not self._settled():
            raise WrongThread(
                "wait() in the thread that runs this chain would block it forever; fire the "
                "Deferred (or step the chain) instead.")
        if not recorder.wait_until(self._settled, timeout):
            raise LabTimeout(
                f"the chain did not finish within {timeout} s ({self._status_text()}).")
        return self

    def _settled(self):
        return self.done

    # -- what-if ---------------------------------------------------------------

    def what_if(self, *, value: Any = SAME, failure: BaseException | None = None,
                raise_at: int | None = None, error: BaseException | None = None) -> "Trace":
        """Run the same stages again on a fresh Deferred: another input, or a stage that raises.

        ``value=`` fires the replay with another value, ``failure=`` (an
        exception) errbacks it instead; ``raise_at=i`` makes stage ``i`` raise
        ``error`` (default: a RuntimeError).  Returns a new trace of the same
        kind (a stepper's replay is paused before its first stage).
        """
        recorder = replay(self._recorder, value=value, failure=failure, raise_at=raise_at,
                          error=error, gated=self._gated)
        return type(self)._over(recorder)

    # -- live updates ----------------------------------------------------------

    def subscribe(self, listener: Callable[[Any], object]) -> Callable[[Any], object]:
        """Call ``listener(event)`` on every change (in the thread where the chain runs)."""
        self._recorder.listeners.append(listener)
        return listener

    def unsubscribe(self, listener: Callable[[Any], object]) -> None:
        """Stop calling ``listener`` (no error if it was not subscribed)."""
        if listener in self._recorder.listeners:
            self._recorder.listeners.remove(listener)

    # -- showing ---------------------------------------------------------------

    def describe(self) -> str:
        """The chain as text: one line per stage, then how it ended."""
        lines = [s.describe() for s in self.stages]
        lines.append(self._status_text())
        return "\n".join(lines)

    @property
    def status(self) -> str:
        """Where the chain is, in words: result, unhandled error, paused before #i, or waiting."""
        return self._status_text()

    def _status_text(self):
        recorder = self._recorder
        if self.done:
            if self.unhandled:
                return f"unhandled error: {recorder.result_text()}"
            return f"result: {recorder.result_text()}"
        if recorder.gates.paused is not None:
            return f"paused before stage #{recorder.gates.position}"
        if recorder.deferred is None or not recorder.deferred.called:
            return "waiting for the Deferred to fire"
        return "waiting on a nested Deferred"

    def ladder_html(self, selected: int | None = None) -> str:
        """The ladder diagram (HTML with inline SVG); ``selected`` outlines one stage."""
        return _ladder.render(self._picture(), selected)

    def detail_html(self, index: int) -> str:
        """One stage in full (input, output or Failure traceback) as HTML."""
        return _ladder.detail(self.stages[index])

    def _picture(self):
        recorder = self._recorder
        initial, fired_by = self.initial, recorder.fired_by
        if recorder.segments:  # a coroutine's chain starts with the call, not a fire
            initial, fired_by = recorder.segments[0].name.split(":")[0] + "()", "called"
        return _ladder.Picture(
            stages=self.stages,
            title=self._title(),
            initial=initial,
            fired_by=fired_by,
            status=self._status_text(),
            done=self.done,
            unhandled=self.unhandled,
            failed=self.failed,
            gate=recorder.gates.position,
            notes=self.notes,
            members=tuple(m._status_text() for m in self.members),
        )

    def _title(self):
        d = self._recorder.deferred
        name = type(d).__name__ if d is not None else "Deferred"
        kind = "Stepper" if self._gated else "Trace"
        return f"{kind} of {name}"

    def _repr_html_(self):
        return self.ladder_html()

    def __repr__(self):
        count = len(self._recorder.all_slots())
        path = self.path
        shown = " ".join(path[-8:]) or "-"
        path = shown if len(path) <= 8 else f"\u2026 {shown}"
        return f"<lab.{type(self).__name__}: {count} stages, path {path}; {self._status_text()}>"

    def widget(self) -> Any:
        """An interactive view (ladder, detail pane; Step/Run buttons for a stepper)."""
        return display.view("deferred chain", self)


class Stepper(Trace):
    """A traced chain that pauses before each stage until told to go on.

    ``step()`` runs exactly one stage and returns it; ``run()`` runs to the end;
    ``run_until(i)`` stops before stage ``i``, ``run_until("failure")`` after the
    next stage that ends in a Failure.  A chain living in the reactor thread
    (``runner=lab.call``) is stepped there; inspection happens in the caller.
    """

    _gated = True

    def _settled(self):
        return self.done or self._recorder.gates.paused is not None

    @property
    def current(self) -> Any:
        """The value or Failure waiting at the gate (None when the chain is not paused)."""
        return self._recorder.gates.value

    @property
    def position(self) -> int | None:
        """Index of the stage the chain is paused before, or None."""
        return self._recorder.gates.position

    def step(self, timeout: float | None = DEFAULT_STEP_TIMEOUT) -> Stage:
        """Run exactly one stage and return it (as a :class:`Stage`).

        From another thread than the chain's, waits up to ``timeout`` seconds
        for the chain to reach a gate (say, for a network reply).
        """
        recorder = self._recorder
        self._wait_for_gate(timeout)
        (slot,) = recorder.in_home(lambda: self._run_here(_never, _always))
        return recorder.snapshot(slot)

    def run(self, timeout: float | None = DEFAULT_STEP_TIMEOUT) -> tuple[Stage, ...]:
        """Run every stage until the chain ends (or waits on a Deferred); return the stages run."""
        return self.run_until(lambda stage: False, timeout)

    def run_until(self, stop: Any, timeout: float | None = DEFAULT_STEP_TIMEOUT
                  ) -> tuple[Stage, ...]:
        """Run stages until ``stop``: a stage index, ``"failure"``, or a predicate on stages.

        An index stops the chain paused before that stage; ``"failure"`` (or
        ``Failure``, or an exception class) stops after the next stage that
        ended in a Failure (of that class).  Returns the stages run, in order.
        """
        recorder = self._recorder
        before, after = _breakpoint(self, stop)
        self._wait_for_gate(timeout)
        ran = recorder.in_home(lambda: self._run_here(before, after))
        return tuple(recorder.snapshot(slot) for slot in ran)

    def _run_here(self, before, after):
        """Step until a breakpoint (home thread); one GateReached at the end, not per stage."""
        return self._recorder.gates.run(before, after)

    def _wait_for_gate(self, timeout):
        recorder = self._recorder
        if threading.get_ident() != recorder.home and recorder.gates.paused is None:
            recorder.wait_until(self._settled, timeout)

    def reset(self) -> "Stepper":
        """Start over: replay the recorded chain from its initial input, paused before stage 0."""
        old = self._recorder
        new = replay(old, gated=True)
        new.listeners = old.listeners
        old.listeners = []
        self._recorder = new
        self._generation = getattr(self, "_generation", 0) + 1
        new.emit(ChainReset(self._generation))
        return self


def _breakpoint(stepper, stop):
    """``(before, after)`` predicates: stop before a position / after a stage slot."""
    never = _never
    if isinstance(stop, bool):
        raise BadBreakpoint("run_until() takes a stage index, 'failure', or a function, not a bool")
    if isinstance(stop, int):
        count = len(stepper._recorder.all_slots())
        if not 0 <= stop < count:
            raise BadBreakpoint(f"there is no stage #{stop}; this chain has {count} (0 to "
                                f"{count - 1}).")
        position = stepper.position
        if position is not None and stop < position:
            raise BadBreakpoint(f"stage #{stop} has already run (the chain is before "
                                f"#{position}); use reset() to start over.")
        return (lambda at: at == stop), never
    if stop == "failure" or stop is Failure:
        return never, _ended_in_failure
    if isinstance(stop, type) and issubclass(stop, BaseException):
        return never, lambda slot: _ended_in_failure(slot) and slot.failure.check(stop)
    if callable(stop):
        recorder = stepper._recorder
        return never, lambda slot: stop(recorder.snapshot(slot))
    raise BadBreakpoint(
        f"run_until() takes a stage index, 'failure', an exception class or a function of a "
        f"Stage, not {type(stop).__name__} {stop!r}.")


def _never(_):
    return False


def _always(_):
    return True


def _ended_in_failure(slot):
    return slot.ran in ("callback", "errback") and slot.failure is not None


def trace(target: Any, *args: Any, runner: Runner | None = None, **kwargs: Any) -> Trace:
    """Record every stage of a Deferred's chain: ``lab.trace(d)``; see :class:`Trace`."""
    return Trace(target, *args, runner=runner, **kwargs)


def step(target: Any, *args: Any, runner: Runner | None = None, **kwargs: Any) -> Stepper:
    """Pause a Deferred's chain before each stage: ``s = lab.step(d); s.step()``; see Stepper."""
    return Stepper(target, *args, runner=runner, **kwargs)
