"""A piece of work handed to the reactor thread, and how the caller waits for it.

The reactor thread fills in the outcome and releases a lock; the waiting
thread acquires it.  That is the whole round trip (see :mod:`lab.bridge` for
why not crochet's ``EventualResult``).
"""

import _thread
import inspect
import traceback
from collections.abc import Callable
from typing import Any

from lab._checks import checked_timeout
from lab.bridge._output import in_cell
from lab.bridge._reactor_thread import get_reactor, in_reactor_thread
from lab.errors import LabTimeout, WrongThread

DEFAULT_TIMEOUT = 30.0


class Handle:
    """Work running in the reactor thread: ``wait(timeout)``, ``cancel()``, ``done``.

    The reactor thread fills in the outcome and releases a lock; the waiting
    thread acquires it.  That is the whole round trip.
    """

    __slots__ = ("_fn", "_args", "_kwargs", "_lock", "_value", "_error",
                 "_remote_traceback", "_deferred", "_callbacks", "_done", "_ticket", "_cell")

    def __init__(self, fn: Callable[..., Any], args: tuple, kwargs: dict[str, Any],
                 cell: dict | None = None) -> None:
        self._fn, self._args, self._kwargs, self._cell = fn, args, kwargs, cell
        self._lock = _thread.allocate_lock()
        self._lock.acquire()
        self._value = self._error = self._remote_traceback = self._deferred = None
        self._callbacks: list[Callable[[Handle], object]] = []
        self._done = False
        # Whoever pops the one ticket decides: the reactor thread (the work
        # starts) or a waiter that timed out first (it never will).  list.pop
        # is atomic, so no lock is needed for that race.
        self._ticket = [True]

    def __repr__(self):
        name = getattr(self._fn, "__qualname__", repr(self._fn))
        return f"<lab.Handle {name} {'done' if self._done else 'pending'}>"

    @property
    def done(self) -> bool:
        """True once the work has a result or an error."""
        return self._done

    # -- reactor side --------------------------------------------------------

    @property
    def started(self) -> bool:
        """True once the reactor thread has begun the work (it cannot be taken back then)."""
        return not self._ticket and not self.abandoned

    @property
    def abandoned(self) -> bool:
        """True when a timeout came first, so the work never started and never will."""
        return self._error is _ABANDONED

    def _run(self):
        try:
            self._ticket.pop()
        except IndexError:  # the waiter gave up first: this work must not start
            return
        try:
            result = in_cell(self._cell, self._fn, self._args, self._kwargs)
        except BaseException as error:  # noqa: BLE001 - every error goes to the caller
            self._fail(error, traceback.format_exc())
            return
        if inspect.iscoroutine(result):
            from twisted.internet.defer import Deferred

            result = Deferred.fromCoroutine(result)
        if is_deferred(result):
            self._deferred = result
            result.addCallbacks(self._succeed, self._fail_failure)
        else:
            self._succeed(result)

    def _succeed(self, value):
        self._value = value
        self._finish()

    def _fail_failure(self, failure):
        text = failure.getTraceback()
        self._fail(failure.value, text)

    def _fail(self, error, text):
        self._error, self._remote_traceback = error, text
        self._finish()

    def _finish(self):
        self._done = True
        self._lock.release()
        for callback in self._callbacks:
            callback(self)

    # -- caller side ---------------------------------------------------------

    def add_done_callback(self, callback: Callable[["Handle"], object]) -> None:
        """Call ``callback(handle)`` when done (in the reactor thread, or now)."""
        if self._done:
            callback(self)
        else:
            self._callbacks.append(callback)

    def outcome(self) -> Any:
        """The result, or raise the error, of finished work."""
        if self._error is _ABANDONED:
            raise LabTimeout("this work timed out before it started, so it never ran.",
                             started=False)
        if self._error is not None:
            raise _with_remote_note(self._error, self._remote_traceback)
        return self._value

    def wait(self, timeout: float = DEFAULT_TIMEOUT) -> Any:
        """Block until done and return the result or raise its error.

        On timeout :class:`lab.LabTimeout` is raised, and it says which of two
        things happened: the work had not started (then it never will), or
        it had started and is still running (then it was not stopped; a
        Deferred it returned is asked to cancel).
        """
        timeout = checked_timeout(timeout)
        if not self._done and in_reactor_thread():
            raise WrongThread(
                "wait() was called in the reactor thread, where blocking would "
                "deadlock. In reactor code, add a callback to the Deferred instead."
            )
        if not self._lock.acquire(timeout=timeout):
            error = self._timed_out(f"within {timeout:g} s")
            if error is not None:
                raise error
            return self.outcome()
        self._lock.release()
        return self.outcome()

    def _timed_out(self, when: str) -> "LabTimeout | None":
        """Give up waiting: stop the work from starting, or say that it runs on."""
        name = getattr(self._fn, "__qualname__", repr(self._fn))
        if self.abandon():
            return LabTimeout(
                f"{name} did not start in the reactor {when} (the reactor was busy), so it "
                "was dropped and will not run: nothing was done. Pass a larger timeout=, or "
                "find what keeps the reactor busy (lab.reactor_state()).", started=False)
        if self._lock.acquire(blocking=False):  # finished in the meantime
            self._lock.release()
            return None
        self.cancel()
        asked = (" Its Deferred was asked to cancel, which stops the work only if that "
                 "Deferred supports cancelling." if self._deferred is not None else "")
        return LabTimeout(
            f"{name} started in the reactor but did not finish {when}; it is still running "
            f"and was not stopped.{asked} Check its effect before retrying, pass a larger "
            "timeout=, or use lab.submit() and wait on the handle later.", started=True)

    def abandon(self) -> bool:
        """Make sure work that has not started never starts; return True if it had not."""
        try:
            self._ticket.pop()
        except IndexError:
            return False
        self._fail(_ABANDONED, None)
        return True

    def cancel(self) -> None:
        """Cancel the work's Deferred (in the reactor thread); no-op once done."""
        if not self._done and self._deferred is not None:
            get_reactor().callFromThread(self._cancel_in_reactor)

    def _cancel_in_reactor(self):
        if not self._done and self._deferred is not None:
            self._deferred.cancel()


_ABANDONED = LabTimeout("abandoned before it started")


def is_deferred(value: object) -> bool:
    """True if ``value`` is a Twisted Deferred."""
    from twisted.internet.defer import Deferred

    return isinstance(value, Deferred)


def _with_remote_note(error, text):
    """Attach the reactor-side traceback to ``error`` once, as a readable note."""
    if text and not getattr(error, "_lab_noted", False):
        error.add_note("--- raised in the reactor thread ---\n" + text.rstrip())
        try:
            error._lab_noted = True
        except AttributeError:  # exceptions with __slots__
            pass
    return error
