"""Coroutines and ``inlineCallbacks`` generators, one stage per ``await``/``yield``.

Twisted drives a coroutine from inside ``_inlineCallbacks``, out of reach of
any wrapper.  So Twisted is given a *driver* generator instead, which resumes
the user's coroutine itself, one segment at a time.  A segment is the code
between two awaits: its input is what the previous await produced (or the
exception thrown in at it), its output is what the next await produced (or
the return value, or the exception that escaped).  Stepping gates the driver
before each segment, exactly as a chain stage is gated.
"""

from time import perf_counter

from twisted.internet import defer
from twisted.internet.defer import Deferred
from twisted.python.failure import Failure

from lab.deferreds._names import code_location


__all__ = ["drive"]

# inlineCallbacks' deprecated returnValue() ends a generator with this.
_RETURN = getattr(defer, "_DefGen_Return", None)


def drive(recorder, coro, kind):
    """A Deferred for ``coro`` whose segments are recorded as stages of ``recorder``."""
    return Deferred.fromCoroutine(_drive(recorder, coro, kind))


def _drive(recorder, coro, kind):
    slot = _open_segment(recorder, coro, kind)
    value, failed = None, False
    if recorder.gated:
        value, failed = yield from _wait_at_gate(recorder, coro, slot, value, failed)
    while True:
        value, failed = _forced(recorder, slot, value, failed)
        finished, out = _resume(recorder, slot, coro, value, failed)
        if finished:
            if isinstance(out, Failure):
                out.raiseException()
            return out
        held = []
        if recorder.gated and isinstance(out, Deferred):
            # Gate on the awaited Deferred itself: a coroutine resumed by
            # ``await`` reads the Deferred's ``result``, which is only there
            # while its callbacks run, so the segment must run inside them.
            Deferred.addBoth(out, _hold, recorder, coro, kind, slot, held)
        try:
            value, failed = (yield out), False
        except GeneratorExit:
            coro.close()
            raise
        except BaseException:  # noqa: BLE001 - the awaited Deferred failed: throw it in
            value, failed = Failure(), True
        if held:
            slot = held[0]
            continue
        recorder.record_outcome(slot, value)
        slot = _open_segment(recorder, coro, kind)
        if recorder.gated:
            value, failed = yield from _wait_at_gate(recorder, coro, slot, value, failed)


def _hold(result, recorder, coro, kind, previous, held):
    """The awaited result arrived: record it, open the next segment, pause before it."""
    recorder.record_outcome(previous, result)
    slot = _open_segment(recorder, coro, kind)
    held.append(slot)
    return recorder.gates.close(slot, result, isinstance(result, Failure))


def _wait_at_gate(recorder, coro, slot, value, failed):
    try:
        yield recorder.gates.close(slot, value, failed)
    except GeneratorExit:
        coro.close()
        raise
    except BaseException:  # noqa: BLE001 - the gate was cancelled from outside
        return Failure(), True
    return value, failed


def _open_segment(recorder, coro, kind):
    code = getattr(coro, "cr_code", None) or getattr(coro, "gi_code", None)
    frame = getattr(coro, "cr_frame", None) or getattr(coro, "gi_frame", None)
    qualname = getattr(coro, "__qualname__", type(coro).__name__)

    def describe(index):
        if index == 0:
            line, name = (code.co_firstlineno if code else 0), f"{qualname}: start"
        else:
            line = frame.f_lineno if frame else 0
            name = f"{qualname}: resume after {kind} at line {line}"
        return name, (code_location(code.co_filename, line) if code else "")

    return recorder.open_segment(kind, describe)


def _forced(recorder, slot, value, failed):
    """What-if: throw the chosen exception in instead of the real input."""
    error = recorder.forced.get(slot.pos)
    if error is None:
        return value, failed
    slot.note = f"forced to raise {error!r} by what_if()"
    return Failure(error), True


def _resume(recorder, slot, coro, value, failed):
    """Run one segment; return ``(finished, out)``: the awaited object, or the end."""
    text = recorder.text_of(value)
    started = perf_counter()
    try:
        out = value.throwExceptionIntoGenerator(coro) if failed else coro.send(value)
        finished = False
    except StopIteration as stop:
        out, finished = stop.value, True
    except BaseException as error:  # noqa: BLE001 - the coroutine raised: its Failure
        finished = True
        out = error.value if _RETURN and isinstance(error, _RETURN) else Failure()
    duration = perf_counter() - started
    ran = "errback" if failed else "callback"
    if finished:
        recorder.settle(slot, ran, text, failed, out, duration)
    else:
        recorder.record_waiting(slot, ran, text, failed, out, duration)
    return finished, out
