"""Turn what the user passed to ``trace``/``step`` into a recording, in the chain's home thread."""

import inspect
import threading

from twisted.internet.defer import Deferred

from lab.deferreds._coroutines import drive
from lab.deferreds._errors import BadInput, NotADeferred
from lab.deferreds._recorder import Recorder, recorder_of
from lab.deferreds._threads import home_and_runner
from lab.deferreds._values import short_repr

__all__ = ["record", "record_deferred", "start_function"]


def record(target, args, kwargs, runner, gated):
    """A :class:`Recorder` for a Deferred, coroutine, generator or function that makes one."""
    _check_target(target, args, kwargs)
    home, runner = home_and_runner(runner)
    made = []

    def make():
        made.append(_recorder_for(target, args, kwargs, home, runner, gated))

    if runner is None or home == threading.get_ident():
        make()
    else:
        runner(make)
    return made[0]


def _check_target(target, args, kwargs):
    if isinstance(target, Deferred) or inspect.iscoroutine(target) or inspect.isgenerator(target):
        if args or kwargs:
            raise BadInput(
                "extra arguments are for a function to call; a Deferred or coroutine takes "
                "none. Use lab.trace(d), or lab.trace(fn, *args) to call fn for you.")
        return
    if not callable(target):
        raise NotADeferred(
            f"lab.trace() and lab.step() take a Deferred, a coroutine, an inlineCallbacks "
            f"generator or a function that returns one, not {type(target).__name__} "
            f"{_short(target)}. Wrap a plain value with twisted.internet.defer.succeed(value).")


def _short(value):
    return short_repr(value, 60)


def _recorder_for(target, args, kwargs, home, runner, gated):
    if isinstance(target, Deferred):
        return record_deferred(target, home, runner, gated)
    if inspect.iscoroutine(target) or inspect.isgenerator(target):
        return _record_coroutine(target, None, home, runner, gated)
    return start_function(Recorder(home, runner), target, args, kwargs, gated)


def record_deferred(deferred, home, runner, gated):
    """The recorder of ``deferred`` (made now if it has none), its members recorded too."""
    existing = recorder_of(deferred)
    if existing is not None:
        existing.gated = existing.gated or gated
        return existing
    recorder = Recorder(home, runner)
    recorder.gated = gated
    recorder.attach(deferred)
    for member in recorder.members:
        record_deferred(member, home, runner, False)
    return recorder


def _record_coroutine(coro, source, home, runner, gated, recorder=None):
    recorder = recorder or Recorder(home, runner)
    recorder.gated, recorder.source = gated, source
    kind = "yield" if inspect.isgenerator(coro) else "await"
    recorder.attach(drive(recorder, coro, kind))
    return recorder


def start_function(recorder, fn, args, kwargs, gated):
    """Call ``fn(*args, **kwargs)`` and record what it starts (coroutine, generator or Deferred)."""
    source = (fn, args, kwargs)
    inner = getattr(fn, "__wrapped__", None)
    if inspect.isgeneratorfunction(inner):
        # An @inlineCallbacks function: call the generator function itself, so
        # that every yield is seen from the first one.
        generator = inner(*args, **kwargs)
        return _record_coroutine(generator, source, None, None, gated, recorder)
    made = fn(*args, **kwargs)
    if inspect.iscoroutine(made) or inspect.isgenerator(made):
        return _record_coroutine(made, source, None, None, gated, recorder)
    if isinstance(made, Deferred):
        return record_deferred(made, recorder.home, recorder.runner, gated)
    name = getattr(fn, "__qualname__", repr(fn))
    raise NotADeferred(
        f"{name}() returned {type(made).__name__} {_short(made)}, not a Deferred or coroutine; "
        "lab.trace(fn, *args) needs fn to return one (or pass the Deferred itself).")
