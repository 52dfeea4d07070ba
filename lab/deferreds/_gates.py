"""Gates: how a stepped chain pauses before each stage, and how ``step()`` lets one stage run.

A gate is an unfired Deferred returned in place of a stage's result: Twisted
pauses the chain on it as on any nested Deferred.  Firing it (``step``) runs
exactly that stage, and the chain moves on until it meets the next gate.  One
chain has at most one gate at a time; this class holds it.
"""

import threading

from twisted.internet.defer import CancelledError, Deferred

from lab.deferreds._errors import NothingToStep, WrongThread
from lab.deferreds._threads import reactor_runner_for
from lab.deferreds._values import GateReached

__all__ = ["Gates"]


class Gates:
    """The gates of one recorded chain (see the module's docstring); made by its Recorder."""

    def __init__(self, recorder):
        self.recorder = recorder
        self.stepping = False  # inside run(): one GateReached at the end, not per stage
        self.paused = None  # (slot, value, failed, gate Deferred) while paused
        self.thread = None  # where the chain reached its gate

    @property
    def slot(self):
        """The stage slot the chain is paused before, or None."""
        return None if self.paused is None else self.paused[0]

    @property
    def value(self):
        """The value or Failure waiting at the gate, or None."""
        return None if self.paused is None else self.paused[1]

    @property
    def position(self):
        """The index of the stage the chain is paused before, or None."""
        return None if self.paused is None else self.recorder.position(self.paused[0])

    def close(self, slot, value, failed):
        """Pause the chain before ``slot``: return an unfired Deferred that runs it when fired."""
        recorder = self.recorder
        gate = Deferred()
        args = (slot, value, failed)
        gate.addCallbacks(self._open, self._failed, args, None, args, None)
        with recorder.lock:
            slot.state, slot.input, slot.input_failed = "gated", recorder.text_of(value), failed
            self.paused = (slot, value, failed, gate)
            self.thread = threading.get_ident()
        if recorder.listeners and not self.stepping:
            recorder.emit(GateReached(recorder.position(slot)))
        recorder.wake()
        return gate

    def _open(self, _ignored, slot, value, failed):
        self.paused = None
        if slot.segment:
            return value  # the coroutine driver runs the segment itself
        return self.recorder.run_slot(slot, value, failed)

    def _failed(self, failure, slot, value, failed):
        # cancel() on a chain paused at a gate: untraced, the chain would have
        # run on and cancel() would find nothing to cancel, so keep it paused.
        if failure.check(CancelledError):
            self.recorder.note(
                f"cancel() reached the gate before stage #{self.recorder.position(slot)}; "
                "a chain that has already fired ignores it, so it stays paused")
            return self.close(slot, value, failed)
        return failure

    def step(self):
        """Fire the gate where the chain reached it: run exactly one stage; return its slot.

        The gate fires in the thread that closed it, since a Deferred must run
        in one thread.  That is this thread, or the lab's reactor thread when
        the chain was fired there (say by ``lab.call(d.callback, 1)`` or by
        the network): then the bridge runs the stage in the reactor and this
        call waits for it, as with ``runner=lab.call``.  Any other thread is
        refused with :class:`lab.WrongThread`.
        """
        paused = self.paused
        if paused is None:
            raise self.recorder.why_not_gated()
        if self.thread == threading.get_ident():
            paused[3].callback(None)
            return paused[0]
        runner = reactor_runner_for(self.thread)
        if runner is None:
            raise WrongThread(
                "this chain was fired in another thread than the one its stepper steps in "
                "(and not in the lab's running reactor thread), and a Deferred must run in "
                "one thread. Step it in that thread, or create the stepper with "
                "runner=lab.call, e.g. lab.step(make_deferred, runner=lab.call).")
        runner(lambda: self._fire(paused))
        return paused[0]

    def _fire(self, paused):
        """Fire ``paused``'s gate here, unless the chain moved on meanwhile (then say so)."""
        if self.paused is not paused:
            raise self.recorder.why_not_gated() if self.paused is None else NothingToStep(
                "the chain moved on while this step crossed into the reactor thread (was it "
                "stepped from two places at once?); look at where it is now and step again.")
        paused[3].callback(None)

    def run(self, before, after):
        """Step (home thread) until ``before(index)`` of the next stage or ``after(slot)`` of the last.

        Announces one GateReached at the end, not one per stage; returns the slots run.
        """
        recorder, ran = self.recorder, []
        if self.paused is None:
            raise recorder.why_not_gated()
        self.stepping = True
        try:
            while self.paused is not None and not before(recorder.position(self.paused[0])):
                slot = self.step()
                ran.append(slot)
                if after(slot):
                    break
        finally:
            self.stepping = False
        if self.paused is not None and recorder.listeners:
            recorder.emit(GateReached(self.position))
        return ran
