"""The recorder: sees every stage of one Deferred by wrapping what is added to it.

How it records, without ``Deferred.callbacks`` (deprecated, and consumed as
callbacks run), without subclassing ``Deferred`` and without touching
``_runCallbacks``: the instance's ``addCallbacks``/``addCallback``/
``addErrback``/``addBoth`` are replaced by methods that register a *slot* and
hand Twisted two small functions in place of the user's pair.  Twisted then
runs the chain exactly as before; each of our functions records its input,
calls the user's function (or passes the result over, for the side that has
none), and records the output.

How it pauses, for stepping: a slot's function returns a *gate*, an unfired
Deferred whose first callback runs the real stage.  Twisted pauses the chain
on it as on any nested Deferred; ``step()`` fires the gate, the stage runs, and
the chain moves on until it meets the next gate.
"""

import threading
import weakref
from time import perf_counter

from twisted.internet import defer
from twisted.internet.defer import Deferred, DeferredList, passthru
from twisted.python.failure import Failure

from lab.deferreds._errors import ChainFinished, NothingToStep, WrongThread
from lab.deferreds._gates import Gates
from lab.deferreds._names import callable_location, callable_name, refine_how
from lab.deferreds._values import (
    ChainEnded,
    FailureInfo,
    Stage,
    StageAdded,
    StageRan,
    short_repr,
)

__all__ = ["Recorder", "NOTHING", "recorder_of"]

NOTHING = object()  # "no value yet"; None is a legitimate result
_FAILTHRU = getattr(defer, "_failthru", None)
_CONTINUE = getattr(defer, "_CONTINUE", None)
_MAX_NOTES = 20
# Results that are certainly neither a Deferred nor a Failure: the common case,
# recorded without further checks.
_PLAIN = frozenset({int, float, str, bytes, bool, type(None), list, tuple, dict})
_BIG = 10 ** 150  # an int inside +-_BIG has a repr shorter than the repr limit


def _is_deferred(value):
    """``isinstance(value, Deferred)`` without the ABC machinery (Deferred is Awaitable)."""
    return Deferred in type(value).__mro__


def recorder_of(deferred):
    """The recorder already attached to ``deferred``, or None."""
    return deferred.__dict__.get("_lab_recorder")


class _Slot:
    """One stage while it is recorded (mutable, private); :class:`Stage` is its snapshot."""

    __slots__ = ("pos", "how", "pair", "args", "segment", "input_failed", "waited", "ran",
                 "input", "output", "failure", "duration", "waiting_on", "name", "location",
                 "state", "note", "cb", "cb_extra", "eb", "eb_extra")

    def __init__(self, how, pair):
        self.how = how
        self.pair = pair
        # Each side's function and its extra arguments (None when there are none,
        # the usual case), read by the traced hot path without unpacking ``pair``.
        self.cb, self.cb_extra = pair[0], _extra(pair[1], pair[2])
        self.eb, self.eb_extra = pair[3], _extra(pair[4], pair[5])
        self.args = (self,)  # the extra argument Twisted passes to our function
        self.segment = self.input_failed = self.waited = False
        self.ran = self.input = self.output = self.failure = self.duration = None
        self.waiting_on = self.name = self.location = None
        self.state, self.note = "pending", ""

    @property
    def callback(self):
        """The user's callback, or None when that side passes the result over."""
        return self.cb

    @property
    def errback(self):
        """The user's errback, or None when that side passes the result over."""
        return self.eb


def _extra(args, kwargs):
    """``(args, kwargs)`` of a stage's side, or None when both are empty."""
    return (args, kwargs) if args or kwargs else None


def _real(fn, skip):
    """None for Twisted's pass-through helpers (the stage has no function on that side)."""
    return None if fn is skip else fn


class Recorder:
    """Records one chain (and, for coroutines, its await segments); gates it when stepping.

    Shared by every :class:`Trace`/:class:`Stepper` of the same Deferred.  Its
    wrapped functions run in whatever thread runs the chain; the ``home``
    thread is where stepping must happen, reached through ``runner``.
    """

    def __init__(self, home, runner):
        self.home, self.runner = home, runner
        self.deferred = None
        self.slots, self.segments = [], []
        self.listeners = []
        self.gated = False
        self.gates = Gates(self)
        self.current = self.initial = NOTHING
        self.fired_by = None
        self.cancelled = False
        self.blocked_before_trace = False
        self.notes = []
        self.finished = 0  # slots whose state is "done"
        self.members = ()
        self.source = None  # (function, args, kwargs) that made a coroutine chain
        self.forced = {}  # segment position -> exception to throw in (what-if)
        self.lock = threading.Lock()
        self.moved = threading.Condition()
        self._seen_value, self._seen_text = NOTHING, ""  # the last value given a text, and it
        self._failure_seen = (None, None)
        self._announced = -1

    # -- attaching -----------------------------------------------------------

    def attach(self, deferred):
        """Start recording ``deferred``: wrap its add/fire methods and its pending stages."""
        self.deferred = deferred
        deferred._lab_recorder = self
        cls = type(deferred)
        self._add_both = cls.addBoth
        self._class_callback, self._class_errback = cls.callback, cls.errback
        self._class_cancel = cls.cancel
        deferred.addCallbacks = self.add_callbacks
        deferred.addCallback = self.add_callback
        deferred.addErrback = self.add_errback
        deferred.addBoth = self.add_both
        deferred.callback = self.fire_callback
        deferred.errback = self.fire_errback
        deferred.cancel = self.cancel
        self._adopt_pending(deferred)
        self._note_fired_before(deferred)
        if isinstance(deferred, DeferredList):
            self.members = tuple(getattr(deferred, "_deferredList", ()))

    def _adopt_pending(self, deferred):
        """Wrap the stages that were added before ``trace()`` was called.

        Twisted keeps them in the private list ``_callbacks`` (the deprecated
        public ``callbacks`` property returns the same list).  Replacing each
        entry in place with our pair is the only way to see a stage added
        before we were; entries that hand the result on to another Deferred
        (``_CONTINUE``) are Twisted's plumbing and stay as they are.
        """
        pending = getattr(deferred, "_callbacks", None)
        if not isinstance(pending, list):
            self.note("stages added before trace() could not be seen with this Twisted")
            return
        for i, ((cb, cb_args, cb_kw), (eb, eb_args, eb_kw)) in enumerate(list(pending)):
            if cb is _CONTINUE or getattr(cb, "__func__", None) is Recorder._resolved:
                continue  # Twisted's hand-over, or our own observer of a nested result
            how = _how_of(cb, cb_args, eb, eb_args)
            pair = (_real(cb, passthru), cb_args, cb_kw, _real(eb, _FAILTHRU), eb_args, eb_kw)
            slot = self._new_slot(how, pair)
            both = (self._on_result, slot.args, {})
            pending[i] = (both, both)

    def _note_fired_before(self, deferred):
        if not deferred.called:
            return
        result = getattr(deferred, "result", None)
        if isinstance(result, Deferred):
            self.note("trace() started while this Deferred waited on another one")
            self.fired_by = "before trace()"
            self.blocked_before_trace = True
            return
        self.initial = self.current = result
        self.fired_by = "before trace()"

    # -- what is added ---------------------------------------------------------

    def add_callbacks(self, callback, errback=None, callbackArgs=(), callbackKeywords=None,
                      errbackArgs=(), errbackKeywords=None):
        """``Deferred.addCallbacks``, recorded."""
        return self.add("addCallbacks", (callback, callbackArgs or (), callbackKeywords or {},
                                         errback, errbackArgs or (), errbackKeywords or {}))

    def add_callback(self, callback, *args, **kwargs):
        """``Deferred.addCallback``, recorded."""
        return self.add("addCallback", (callback, args, kwargs, None, (), {}))

    def add_errback(self, errback, *args, **kwargs):
        """``Deferred.addErrback``, recorded."""
        return self.add("addErrback", (None, (), {}, errback, args, kwargs))

    def add_both(self, callback, *args, **kwargs):
        """``Deferred.addBoth``, recorded."""
        return self.add("addBoth", (callback, args, kwargs, callback, args, kwargs))

    def add(self, how, pair):
        """Record a stage ``pair = (cb, cb_args, cb_kw, eb, eb_args, eb_kw)`` and add it."""
        slot = self._new_slot(how, pair)
        # One function for both sides, added with addBoth: Twisted's cheapest add.
        return self._add_both(self.deferred, self._on_result, slot)

    def _new_slot(self, how, pair):
        slot = _Slot(how, pair)
        slot.pos = len(self.slots)
        if getattr(pair[3], "__name__", "") == "_handleCancelInlineCallbacks":
            return self._first_slot(slot)
        self.slots.append(slot)
        if self.listeners:
            self.emit(StageAdded(self.position(slot)))
        return slot

    def _first_slot(self, slot):
        """Record ``slot`` as the first stage: cancelling a coroutine's Deferred adds its
        errback in front of the others (Twisted moves the pending list aside to do so)."""
        with self.lock:
            self.slots.insert(0, slot)
            for pos, each in enumerate(self.slots):
                each.pos = pos
        if self.listeners:
            self.emit(StageAdded(self.position(slot)))
        return slot

    # -- firing and cancelling -------------------------------------------------

    def fire_callback(self, result):
        """``Deferred.callback``, noting the initial value."""
        self._note_initial(result, "callback")
        self._class_callback(self.deferred, result)
        self.maybe_ended()

    def fire_errback(self, fail=None):
        """``Deferred.errback``, noting the initial Failure."""
        if fail is None:
            fail = Failure(captureVars=self.deferred.debug)
        elif not isinstance(fail, Failure):
            fail = Failure(fail)
        self._note_initial(fail, "errback")
        self._class_errback(self.deferred, fail)
        self.maybe_ended()

    def _note_initial(self, result, how, force=False):
        # A second fire is Twisted's business (AlreadyCalledError, or the
        # silent swallow after a cancel); only the first one is the input.
        if self.fired_by is not None or (self.deferred.called and not force):
            return
        self.initial = self.current = result
        self.fired_by = how

    def cancel(self):
        """``Deferred.cancel``, noted in the trace (cancellation shows as what it is)."""
        self.cancelled = True
        self.note("cancel() was called")
        self._class_cancel(self.deferred)

    def note(self, text):
        """Keep a short remark about the chain (bounded: the first few are kept)."""
        if len(self.notes) < _MAX_NOTES:
            self.notes.append(text)

    # -- running a stage -------------------------------------------------------

    def _on_result(self, result, slot, through_gate=False):
        """What Twisted calls for a recorded stage: run it (or gate it) and record it.

        The hot path of a traced chain, so written flat in one function: no
        lock (one thread runs a chain; a stage's ``state`` is written last and
        read first, see :func:`_stage_of`), no ``isinstance`` against
        ``Deferred`` (an ABC check), the input's text taken from the previous
        stage's output.
        """
        failed = isinstance(result, Failure)
        if not through_gate:
            if self.fired_by is None:
                # Fired through a bound method taken before trace() (deferLater keeps
                # d.callback in its timer): the first stage's input is the initial.
                self._note_initial(result, "errback" if failed else "callback", force=True)
            if self.gated:
                return self.gates.close(slot, result, failed)
        if failed:
            fn, extra, ran = slot.eb, slot.eb_extra, "errback"
        else:
            fn, extra, ran = slot.cb, slot.cb_extra, "callback"
        if result is self._seen_value:
            text = self._seen_text
        else:
            text = self.text_of(result)
        if fn is None:
            self.settle(slot, "skipped", text, failed, result, None)
            return result
        started = perf_counter()
        try:  # a call with nothing to unpack is much cheaper: the usual stage
            out = fn(result) if extra is None else fn(result, *extra[0], **extra[1])
        except BaseException:  # noqa: BLE001 - exactly what Twisted catches
            out = Failure()
        duration = perf_counter() - started
        kind = type(out)
        if kind not in _PLAIN:
            self.settle(slot, ran, text, failed, out, duration)
            return out
        # An int's text is made when read (see _text): repr costs as much as the rest
        # here, and a small int held is no object of the program's kept alive.
        output = out if kind is int and -_BIG < out < _BIG else short_repr(out)
        self._seen_value = self.current = out
        self._seen_text = output
        slot.ran = ran
        slot.input = text
        slot.duration = duration
        slot.output = output
        if failed:  # a new slot says False and no failure: store only what differs
            slot.input_failed = True
        self.finished += 1
        slot.state = "done"
        if self.listeners or slot is self.slots[-1]:
            self._ran(slot, False)
        return out

    def run_slot(self, slot, value, failed):
        """Run the stage's function for ``value`` (or pass it over) and record what came out."""
        return self._on_result(value, slot, True)

    def settle(self, slot, ran, text, failed, out, duration):
        """Record that ``slot`` ran: its input text and its output (or that it now waits)."""
        waiting = _is_deferred(out)
        slot.ran, slot.input, slot.input_failed = ran, text, failed
        slot.duration = duration
        if waiting:
            slot.output = short_repr(out)
            slot.waiting_on = weakref.ref(out)
            slot.state = "waiting"
        else:
            self._outcome(slot, out)
        if waiting:
            # Observe the nested result without taking it: a pass-through callback
            # added before Twisted appends its own continuation.  Added through
            # the class, so a trace of the nested Deferred does not count it.
            Deferred.addBoth(out, self._resolved, slot)
        self._ran(slot, waiting)

    def _outcome(self, slot, out):
        if isinstance(out, Failure):
            slot.failure, slot.output = self.failure_of(out), None
        else:
            slot.failure, slot.output = None, self.text_of(out)
        self.current = out
        self.finished += 1
        slot.state = "done"  # last: a reader that sees "done" sees the rest

    def _resolved(self, result, slot):
        self.record_outcome(slot, result)
        return result

    def record_outcome(self, slot, result):
        """Record the result a waiting stage (or coroutine segment) finally got."""
        slot.waited = True
        self._outcome(slot, result)
        self._ran(slot, False)

    def record_waiting(self, slot, ran, text, failed, awaited, duration):
        """Record that a coroutine segment ran and now awaits ``awaited``."""
        with self.lock:
            slot.ran, slot.input, slot.input_failed = ran, text, failed
            slot.duration, slot.state, slot.output = duration, "waiting", short_repr(awaited)
            if isinstance(awaited, Deferred):
                slot.waiting_on = weakref.ref(awaited)
        self._ran(slot, True)

    def open_segment(self, kind, describe):
        """A new coroutine segment slot; ``describe(index)`` gives its ``(name, location)``."""
        slot = _Slot(kind, (None, (), {}, None, (), {}))
        slot.segment = True
        with self.lock:
            slot.pos = len(self.segments)
            slot.name, slot.location = describe(slot.pos)
            self.segments.append(slot)
        if self.listeners:
            self.emit(StageAdded(slot.pos))
        return slot

    def _ran(self, slot, waiting):
        if self.listeners:
            self.emit(StageRan(self.position(slot), waiting))
        if not waiting and not slot.segment and slot.pos == len(self.slots) - 1:
            self.maybe_ended()

    def maybe_ended(self):
        """Announce the end of the chain once (per stage count) when every stage has run."""
        if self._announced == self.finished or not self.done:
            return
        self._announced = self.finished
        if self.listeners:
            self.emit(ChainEnded(isinstance(self.current, Failure)))
        self.wake()

    # -- gates -----------------------------------------------------------------

    def why_not_gated(self):
        """The error that explains why there is nothing to step right now."""
        if self.done:
            return ChainFinished(
                f"the chain has finished ({self.result_text()}); nothing is left to step. "
                "Use reset() to replay it from the start, or what_if(...) to try another input.")
        if self.deferred is None or not self.deferred.called:
            return NothingToStep(
                "the Deferred has not fired yet, so no stage is waiting to run. Fire it "
                "(d.callback(value) or d.errback(exc)), or wait for the event that fires it.")
        waiting = [s for s in self.all_slots() if s.state == "waiting"]
        if waiting:
            where = self.position(waiting[-1])
            return NothingToStep(
                f"stage #{where} returned a Deferred that has not fired; the chain waits on it. "
                f"Fire it, or trace it with .nested({where}).")
        return NothingToStep("the chain is paused (d.pause()) or still running; try again.")

    # -- waking other threads ------------------------------------------------

    def wake(self):
        """Tell a thread waiting in :meth:`wait_for_gate` that the chain moved."""
        with self.moved:
            self.moved.notify_all()

    def wait_until(self, predicate, timeout):
        """Block (another thread) until ``predicate()`` holds or ``timeout`` s pass; its value."""
        with self.moved:
            return self.moved.wait_for(predicate, timeout)

    # -- threads ---------------------------------------------------------------

    def in_home(self, fn):
        """Call ``fn()`` in the chain's home thread (directly, or through the runner)."""
        if threading.get_ident() == self.home:
            return fn()
        if self.runner is None:
            raise WrongThread(
                "this chain is stepped in the thread that created its stepper, and this is "
                "another thread. Step it there, or create it with runner=lab.call so the "
                "lab runs each step in the reactor thread.")
        return self.runner(fn)

    # -- reading ---------------------------------------------------------------

    @property
    def done(self):
        """True when the chain has fired and every recorded stage has run.

        Judged from our own records, not ``d.paused``: a stage that waited on a
        nested Deferred is done when that Deferred's result reaches us, a moment
        before Twisted hands it back to this chain.
        """
        d = self.deferred
        if d is None or not d.called or self.gates.paused is not None:
            return False
        if self.finished != len(self.slots) + len(self.segments):
            return False
        return not (self.blocked_before_trace and d.paused)

    def all_slots(self):
        """Segments (coroutine await/yield stages) first, then the chain's own stages."""
        return self.segments + self.slots

    def position(self, slot):
        """The stage index of ``slot`` as shown to the user."""
        return slot.pos if slot.segment else len(self.segments) + slot.pos

    def text_of(self, value):
        """Bounded repr of a value or Failure, computed once for a value that flows on."""
        if value is self._seen_value:
            return _text(self._seen_text)
        if isinstance(value, Failure):
            text = f"<Failure {self.failure_of(value)}>"
        else:
            text = short_repr(value)
        self._seen_value, self._seen_text = value, text
        return text

    def failure_of(self, failure):
        """A :class:`FailureInfo` for ``failure``; one formatted traceback per Failure."""
        seen, info = self._failure_seen
        if failure is not seen:
            info = FailureInfo.from_failure(failure)
            self._failure_seen = (failure, info)
        return info

    def result_text(self):
        """The final result in words: a bounded repr, or the Failure's type and message."""
        if self.current is NOTHING:
            return "not fired"
        return self.text_of(self.current)

    def snapshot(self, slot):
        """The immutable :class:`Stage` for ``slot`` as it is now."""
        with self.lock:
            return _stage_of(slot, self.position(slot))

    def stages(self):
        """Snapshots of every stage, in order."""
        with self.lock:
            return tuple(_stage_of(s, i) for i, s in enumerate(self.all_slots()))

    # -- listeners -------------------------------------------------------------

    def emit(self, event):
        """Call every listener with ``event`` (in the thread where the chain runs)."""
        for listener in tuple(self.listeners):
            listener(event)


def _how_of(cb, cb_args, eb, eb_args):
    """Which add method made a pending entry, judged from its shape."""
    if cb is passthru:
        return "addErrback"
    if eb is _FAILTHRU:
        return "addCallback"
    if cb is eb and cb_args == eb_args:
        return "addBoth"
    return "addCallbacks"


def _stage_of(slot, index):
    if slot.name is None:
        _name_slot(slot)
    if slot.segment:
        callback = errback = slot.name
    else:
        callback, errback = callable_name(slot.callback), callable_name(slot.errback)
    state = slot.state  # first: it is written last (see Recorder.run_slot)
    return Stage(index, slot.how, slot.name, callback, errback, slot.location, slot.ran,
                 _text(slot.input), slot.input_failed, _text(slot.output), slot.failure,
                 slot.duration, state, slot.waited, slot.note)


def _text(text):
    """A stage's input or output text: the traced hot path keeps a small int as itself."""
    return repr(text) if type(text) is int else text


def _name_slot(slot):
    """Fill in the slot's display name, location and refined ``how`` (once, lazily)."""
    cb, eb = slot.callback, slot.errback
    slot.how = refine_how(slot.how, cb, eb)
    if cb is not None and eb is not None and cb != eb:
        slot.name = f"{callable_name(cb)} / {callable_name(eb)}"
    else:
        slot.name = callable_name(cb if cb is not None else eb)
    slot.location = callable_location(cb if cb is not None else eb)
