"""What-if: build a fresh chain from a recorded one, with another input or a stage forced to raise.

The recorded chain cannot be rewound (a Deferred fires once), so a replay is a
new Deferred given the same functions, in the same order, added the same way.
A coroutine is replayed by calling its function again.
"""

from twisted.internet.defer import Deferred
from twisted.python.failure import Failure

from lab.deferreds._errors import BadBreakpoint, BadInput, CannotReplay
from lab.deferreds._make import start_function
from lab.deferreds._names import callable_name, refine_how
from lab.deferreds._recorder import NOTHING, Recorder

__all__ = ["replay"]


def replay(old, *, value=NOTHING, failure=None, raise_at=None, error=None, gated=False):
    """A new :class:`Recorder` running ``old``'s stages again (in its home thread)."""
    forced = _forced_error(old, raise_at, error)
    new = Recorder(old.home, old.runner)
    new.gated = gated

    def build():
        if old.segments:
            _replay_coroutine(old, new, value, failure, raise_at, forced)
        else:
            _replay_chain(old, new, _input(old, value, failure), raise_at, forced)

    old.in_home(build)
    return new


def _forced_error(old, raise_at, error):
    if raise_at is None:
        if error is not None:
            raise BadBreakpoint("error= needs raise_at=<stage index> to say where to raise it")
        return None
    count = len(old.all_slots())
    if not isinstance(raise_at, int) or isinstance(raise_at, bool) or not 0 <= raise_at < count:
        raise BadBreakpoint(
            f"raise_at={raise_at!r} is not a stage of this chain; use an index from 0 to "
            f"{count - 1}.")
    if error is None:
        return RuntimeError(f"forced to fail at stage #{raise_at} by what_if()")
    if isinstance(error, type) and issubclass(error, BaseException):
        return error()
    if isinstance(error, BaseException):
        return error
    raise BadInput(f"error= must be an exception or exception class, not {type(error).__name__}")


def _input(old, value, failure):
    """The replay's initial result: ``(object, is_failure)``."""
    if failure is not None:
        if isinstance(failure, type) and issubclass(failure, BaseException):
            failure = failure()
        return (failure if isinstance(failure, Failure) else Failure(failure)), True
    if value is not NOTHING:
        return value, False
    if old.initial is NOTHING:
        raise CannotReplay(
            "this chain has not fired yet, so there is no input to replay; pass value= "
            "(or failure=) to what_if().")
    return old.initial, isinstance(old.initial, Failure)


def _replay_chain(old, new, initial, raise_at, forced):
    deferred = Deferred()
    new.attach(deferred)
    _copy_stages(old, new, raise_at, forced)
    start, failed = initial
    if failed:
        deferred.errback(start)
    else:
        deferred.callback(start)


def _replay_coroutine(old, new, value, failure, raise_at, forced):
    if old.source is None:
        raise CannotReplay(
            "this trace was made from a coroutine object, which runs only once. Trace the "
            "function instead, lab.step(fn, *args), so that it can be called again.")
    if value is not NOTHING or failure is not None:
        raise CannotReplay(
            "a coroutine's input is its arguments: call lab.trace(fn, *other_args) instead "
            "of what_if(value=...).")
    if raise_at is not None and raise_at < len(old.segments):
        new.forced = {raise_at: forced}
    fn, args, kwargs = old.source
    start_function(new, fn, args, kwargs, new.gated)
    _copy_stages(old, new, raise_at, forced)


# Stages Twisted added on behalf of the original Deferred: their functions act
# on the original's timer, DeferredList, coroutine or chained Deferred, so a
# replay leaves them out (and says so) rather than disturb the original.
_NOT_REPLAYED = {"addTimeout", "cancel", "awaited by a coroutine", "DeferredList",
                 "chainDeferred"}


def _copy_stages(old, new, raise_at, forced):
    offset = len(old.segments)
    for slot in old.slots:
        how = refine_how(slot.how, slot.callback, slot.errback)
        if how in _NOT_REPLAYED:
            new.note(f"stage #{offset + slot.pos} ({how}) belongs to the original Deferred "
                     "and is not replayed")
            continue
        error = forced if raise_at == offset + slot.pos else None
        _copy_stage(new, slot, error)


def _copy_stage(new, slot, error):
    callback, errback = slot.callback, slot.errback
    if error is not None:
        callback = callback and _raiser(error, callback)
        errback = errback and _raiser(error, errback)
    _, cb_args, cb_kw, _, eb_args, eb_kw = slot.pair
    new.add(slot.how, (callback, cb_args, cb_kw, errback, eb_args, eb_kw))
    if error is not None:
        new.slots[-1].note = f"forced to raise {error!r} by what_if()"


def _raiser(error, original):
    """A stand-in for ``original`` that raises ``error``, named so the ladder says so."""

    def forced(value, *args, **kwargs):
        raise error

    forced.__qualname__ = f"raise {type(error).__name__} (was {callable_name(original)})"
    return forced
