"""Errors of the Deferred trace/step core, all under :class:`lab.errors.LabError`."""

from lab.errors import LabError, WrongThread

__all__ = [
    "DeferredsError",
    "BadInput",
    "NotADeferred",
    "ChainFinished",
    "NothingToStep",
    "BadBreakpoint",
    "CannotReplay",
    "NotFinished",
    "WrongThread",
]


class DeferredsError(LabError):
    """Base class of the errors raised by ``lab.trace`` and ``lab.step``."""


class BadInput(DeferredsError, TypeError):
    """``trace``/``step`` was called with arguments it cannot use."""


class NotADeferred(BadInput):
    """``trace``/``step`` was given something that is not a Deferred, coroutine or function."""


class ChainFinished(DeferredsError, RuntimeError):
    """A finished chain was asked to step: there is no stage left to run."""


class NothingToStep(DeferredsError, RuntimeError):
    """The chain is not paused at a gate (not fired yet, or waiting on a nested Deferred)."""


class BadBreakpoint(DeferredsError, ValueError):
    """``run_until`` was given a breakpoint it cannot use."""


class CannotReplay(DeferredsError, RuntimeError):
    """A recorded chain cannot be re-run (no initial input known, or a consumed coroutine)."""


class NotFinished(DeferredsError, RuntimeError):
    """The chain's result was asked for before the chain finished."""
