"""The one bridge between the kernel's thread and the Twisted reactor thread.

Crochet runs the reactor in a background thread.  Everything the lab does in
the reactor goes through :func:`call` (blocking) or :func:`submit`
(non-blocking); ``await wait(...)`` lets a notebook cell wait without
blocking the kernel's event loop; and everything the reactor produces for the
kernel side (widget updates, captured traffic) goes through :func:`deliver`.

Why not crochet's ``run_in_reactor``/``wait_for`` directly: their timeouts log
a CRITICAL "Unhandled error in EventualResult", remote tracebacks arrive
empty, and each round trip costs about twice a bare ``callFromThread``.  The
handle here is a lock released by the reactor thread, nothing more.
"""

import _thread
import asyncio
import inspect
import sys
import threading
import time
import traceback
from collections.abc import Awaitable, Callable
from typing import Any

from lab._checks import checked_timeout
from lab.errors import LabTimeout, ReactorNotRunning, WrongThread

__all__ = [
    "start",
    "call",
    "submit",
    "wait",
    "deliver",
    "on_shutdown",
    "in_reactor_thread",
    "get_reactor",
    "reactor_error_records",
    "on_reactor_error",
    "Handle",
    "LabStatus",
    "DEFAULT_TIMEOUT",
    "checked_timeout",
]

DEFAULT_TIMEOUT = 30.0

_start_lock = threading.Lock()
_status = None
_reactor_ident = None
_shutdown_hooks: list = []
_deliver_lock = threading.RLock()
delivery_errors: list = []  # bounded record of view callbacks that raised; see deliver()
_MAX_DELIVERY_ERRORS = 50
_MAX_REACTOR_ERRORS = 200
_reactor_errors: list = []  # bounded record of errors Twisted logged in the reactor thread
_reactor_error_listeners: list = []


def _reactor():
    from twisted.internet import reactor

    return reactor


def get_reactor() -> Any:
    """The global Twisted reactor, imported on first use (so importing the lab installs none).

    For code that runs in the reactor thread (``lab.call``'s functions): it
    schedules timers and opens sockets there.
    """
    return _reactor()


def in_reactor_thread() -> bool:
    """True when the caller runs in the reactor thread."""
    return _reactor_ident is not None and threading.get_ident() == _reactor_ident


# --------------------------------------------------------------------------
# start


class LabStatus:
    """What :func:`start` returns: the running reactor, shown as a small status."""

    def __init__(self, reactor: Any, thread: threading.Thread) -> None:
        self.reactor = reactor
        self.thread = thread

    @property
    def running(self) -> bool:
        """True while the reactor thread is alive and the reactor runs."""
        return bool(self.thread.is_alive() and self.reactor.running)

    @property
    def versions(self) -> dict[str, str]:
        """The versions of the pieces the lab runs on."""
        import crochet
        import twisted

        from lab._version import __version__

        return {"lab": __version__, "twisted": twisted.__version__,
                "crochet": crochet.__version__, "python": sys.version.split()[0]}

    def _summary(self):
        state = "running" if self.running else "NOT running"
        versions = ", ".join(f"{k} {v}" for k, v in self.versions.items())
        reactor = type(self.reactor).__name__
        return f"reactor {state} ({reactor}) in thread {self.thread.name!r}; {versions}"

    def __repr__(self):
        return f"<Protocol Lab: {self._summary()}>"

    def _repr_html_(self):
        colour = "#1a7f37" if self.running else "#cf222e"
        import html

        return (
            '<div class="lab-status" style="font-family:sans-serif">'
            f'<b style="color:{colour}">&#9679;</b> Protocol Lab: '
            f"{html.escape(self._summary())}</div>"
        )


def _check_asyncio_trap():
    """Refuse to start on an asyncio reactor bound to the kernel's running loop.

    If something installed Twisted's asyncio reactor on the loop the kernel is
    already running, crochet's thread dies with "This event loop is already
    running" while ``reactor.running`` stays True, and every call would time
    out.  Say so now instead.
    """
    reactor = sys.modules.get("twisted.internet.reactor")
    loop = getattr(reactor, "_asyncioEventloop", None)
    if loop is None or _status is not None:
        return
    if loop.is_running() or loop is _running_loop():
        raise ReactorNotRunning(
            "Twisted's asyncio reactor was installed on the event loop this "
            "kernel is already running, so it cannot run in the lab's reactor "
            "thread. Restart the kernel and call lab.start() before anything "
            "imports twisted.internet.reactor or installs asyncioreactor (or "
            "install it on a new loop: asyncioreactor.install(asyncio.new_event_loop()))."
        )


def _running_loop():
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def start() -> LabStatus:
    """Start the reactor in a background thread, once per process; return its status.

    Calling it again (re-running a cell) is harmless and returns the same
    :class:`LabStatus`.
    """
    global _status
    with _start_lock:
        if _status is not None:
            return _status
        _check_asyncio_trap()
        import crochet

        crochet.setup()
        reactor = _reactor()
        found = threading.Event()
        start_cell = _current_cell()

        def note_thread():
            global _reactor_ident
            _reactor_ident = threading.get_ident()
            # Reactor work that no cell scheduled (a connection arriving, a
            # callback fired by the network) writes under the lab.start() cell,
            # never into whichever cell happens to run at that moment.
            _set_cell(start_cell)
            _install_routing(reactor)
            _install_error_capture(start_cell)
            found.set()

        reactor.callFromThread(note_thread)
        if not found.wait(10):
            raise ReactorNotRunning(
                "The reactor thread did not answer within 10 s after crochet.setup(). "
                "Another reactor may already be running in this process (e.g. "
                "pytest-twisted or an earlier reactor.run()); restart the kernel."
            )
        thread = _thread_by_ident(_reactor_ident)
        _status = LabStatus(reactor, thread)
        # The Deferred core never imports the bridge: tell it which thread is
        # the reactor's, so a chain fired there is stepped there from a cell.
        from lab.deferreds._threads import register_reactor_thread

        register_reactor_thread(_reactor_ident, call)
        # Python's atexit runs only after every thread has ended, too late for
        # the reactor; crochet's watchdog runs its registry (in reverse order)
        # as soon as the main thread exits, before it stops the reactor.
        from crochet._shutdown import register as crochet_at_main_thread_exit

        crochet_at_main_thread_exit(_run_shutdown_hooks)
        return _status


def _thread_by_ident(ident):
    for thread in threading.enumerate():
        if thread.ident == ident:
            return thread
    return threading.current_thread()


def _ensure_started():
    if _status is None:
        start()
    elif not _status.thread.is_alive():
        raise ReactorNotRunning(
            "The reactor thread has stopped (the interpreter may be shutting down); "
            "a reactor cannot be restarted in the same process. Restart the kernel."
        )


# --------------------------------------------------------------------------
# call / submit


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
            result = _in_cell(self._cell, self._fn, self._args, self._kwargs)
        except BaseException as error:  # noqa: BLE001 - every error goes to the caller
            self._fail(error, traceback.format_exc())
            return
        if inspect.iscoroutine(result):
            from twisted.internet.defer import Deferred

            result = Deferred.fromCoroutine(result)
        if _is_deferred(result):
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
            _reactor().callFromThread(self._cancel_in_reactor)

    def _cancel_in_reactor(self):
        if not self._done and self._deferred is not None:
            self._deferred.cancel()


_ABANDONED = LabTimeout("abandoned before it started")


def _is_deferred(value):
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


def submit(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Handle:
    """Run ``fn(*args, **kwargs)`` in the reactor thread; return a :class:`Handle` at once.

    If ``fn`` returns a Deferred or a coroutine, the handle finishes when it does.
    """
    if not callable(fn):
        raise TypeError(f"lab.submit() needs a callable, not {type(fn).__name__} {fn!r}")
    _ensure_started()
    if in_reactor_thread():
        handle = Handle(fn, args, kwargs)
        handle._run()
    else:
        handle = Handle(fn, args, kwargs, _current_cell())
        _reactor().callFromThread(handle._run)
    return handle


def call(fn: Callable[..., Any], *args: Any, timeout: float = DEFAULT_TIMEOUT,
         **kwargs: Any) -> Any:
    """Run ``fn`` in the reactor thread and return its result (waiting for Deferreds).

    Errors raised there are re-raised here with their type, message and the
    reactor-side traceback.  Raises :class:`lab.LabTimeout` after ``timeout``
    seconds: work that had not started then never starts; work that had
    started is reported as still running.  Raises :class:`lab.WrongThread` if
    called from the reactor thread itself.
    """
    timeout = checked_timeout(timeout)
    if in_reactor_thread():
        raise WrongThread(
            "lab.call() was called from the reactor thread, where waiting would "
            "deadlock. In reactor code call the function directly, or use lab.submit()."
        )
    return submit(fn, *args, **kwargs).wait(timeout)


# --------------------------------------------------------------------------
# await


class _Awaitable:
    """``await``-able on the caller's asyncio loop, finished from the reactor thread."""

    def __init__(self, target, timeout):
        self._target, self._timeout = target, timeout

    def __await__(self):
        return self._wait().__await__()

    async def _wait(self):
        loop = asyncio.get_running_loop()
        future = loop.create_future()

        def finish(handle):
            loop.call_soon_threadsafe(_settle, future)

        handle = self._target
        if not isinstance(handle, Handle):
            handle = submit(lambda d=handle: d)
        handle.add_done_callback(finish)
        try:
            await asyncio.wait_for(asyncio.shield(future), self._timeout)
        except asyncio.TimeoutError:
            error = handle._timed_out(f"within {self._timeout:g} s of lab.wait()")
            if error is not None:
                raise error from None
        return handle.outcome()


def _settle(future):
    if not future.done():
        future.set_result(None)


def wait(target: Any, timeout: float = DEFAULT_TIMEOUT) -> Awaitable[Any]:
    """``await lab.wait(d)``: wait for a Deferred or :class:`Handle` without blocking.

    Works with IPython's autoawait in a notebook cell: the kernel's loop keeps
    serving widgets while the cell waits.
    """
    if not (isinstance(target, Handle) or _is_deferred(target)):
        raise TypeError(
            f"lab.wait() takes a Deferred or a lab.Handle, not {type(target).__name__}; "
            "for a function, use lab.submit(fn) and wait for its handle."
        )
    return _Awaitable(target, checked_timeout(timeout))


# --------------------------------------------------------------------------
# reactor -> kernel


def deliver(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Hand one event from the reactor thread to the kernel side: ``fn(*args)``.

    Every model-to-view notification goes through here.  Under ipykernel 7 a
    background thread's ``print`` lands in whichever cell runs *now*, but
    widget trait assignment (and ``Output.append_stdout``) is sent over the
    comm, which is thread-safe and lands in the right widget; so views update
    by traits, called here directly and serialised by one lock.  A view that
    raises must not kill the reactor: the error is kept in
    ``delivery_errors`` (bounded) and written to the real stderr.
    """
    with _deliver_lock:
        try:
            return fn(*args, **kwargs)
        except Exception:  # noqa: BLE001 - a broken view must not stop the reactor
            text = traceback.format_exc()
            if len(delivery_errors) >= _MAX_DELIVERY_ERRORS:
                delivery_errors.pop(0)
            delivery_errors.append(text)
            if sys.__stderr__ is not None:
                sys.__stderr__.write("lab: a view update failed:\n" + text)
            return None


# --------------------------------------------------------------------------
# reactor-thread output: under the cell that scheduled the work
#
# ipykernel 7's OutStream picks a write's parent message from a ContextVar
# and falls back to the *global* parent, the cell running now; the reactor
# thread never sets the ContextVar, so a print in a timer used to land in
# whichever cell ran when the timer fired.  The cure is to say, in the
# reactor thread, which cell the running work belongs to: the cell that
# called submit()/call() (captured in the kernel thread), and for a
# callLater made while such work runs, the same cell again when it fires.
# OutStream.set_thread_parent/reset_thread_parent set that ContextVar.


def _kernel_streams():
    """sys.stdout/sys.stderr when they are ipykernel OutStreams (else an empty tuple)."""
    return tuple(s for s in (sys.stdout, sys.stderr) if hasattr(s, "set_thread_parent"))


def _current_cell():
    """The parent header of the cell this thread writes under now, or None outside a kernel."""
    stream = sys.stdout
    if not hasattr(stream, "set_thread_parent"):
        return None
    return stream.parent_header or None


def _set_cell(cell):
    """Write this thread's output under ``cell`` from now on (no-op outside a kernel)."""
    if cell is not None:
        for stream in _kernel_streams():
            stream.set_thread_parent(cell)


def _in_cell(cell, fn, args, kwargs):
    """``fn(*args, **kwargs)`` with this thread's output going to ``cell`` meanwhile."""
    streams = _kernel_streams() if cell is not None else ()
    if not streams:
        return fn(*args, **kwargs)
    tokens = [(stream, stream.set_thread_parent(cell)) for stream in streams]
    try:
        return fn(*args, **kwargs)
    except BaseException:
        _failed_in.cell = cell  # Twisted logs the error after we return: see _notice()
        raise
    finally:
        for stream, token in reversed(tokens):
            stream.reset_thread_parent(token)


_failed_in = threading.local()


class _InCell:
    """A callable that runs ``fn`` with output going to the cell that scheduled it.

    Looks like ``fn`` to whoever reads a DelayedCall (name, module, ``__self__``
    and ``__wrapped__`` pass through), so the reactor view and the pending
    Deferred snapshot see the user's function.
    """

    __slots__ = ("__wrapped__", "_cell")

    def __init__(self, fn, cell):
        self.__wrapped__, self._cell = fn, cell

    def __call__(self, *args, **kwargs):
        return _in_cell(self._cell, self.__wrapped__, args, kwargs)

    def __getattr__(self, name):
        return getattr(self.__wrapped__, name)

    @property
    def __module__(self):  # the class attribute would hide the user's module
        return getattr(self.__wrapped__, "__module__", None)

    def __repr__(self):
        return repr(self.__wrapped__)


def unwrap_routed(fn: Any) -> Any:
    """The user's callable behind the lab's output routing (``fn`` itself when not routed)."""
    return fn.__wrapped__ if type(fn) is _InCell else fn


def _install_routing(reactor):
    """Make every callLater remember the cell that scheduled it (inside a kernel only)."""
    if not _kernel_streams() or "callLater" in vars(reactor):
        return
    plain = reactor.callLater

    def callLater(delay, fn, *args, **kwargs):  # noqa: N802 - the reactor's own name
        cell = _current_cell()
        if cell is not None and callable(fn):
            fn = _InCell(fn, cell)
        return plain(delay, fn, *args, **kwargs)

    callLater.__doc__ = plain.__doc__
    reactor.callLater = callLater


# --------------------------------------------------------------------------
# errors in the reactor thread: kept, announced, never only in a log
#
# Twisted logs an exception in a timer ("while handling timed call"), in a
# protocol callback (log.err) and a failed Deferred nobody handled when it is
# collected ("Unhandled error in Deferred").  Crochet sends those logs to the
# stdlib logging module, where a notebook user never looks.  One observer on
# Twisted's global log publisher keeps each (bounded), tells listeners (the
# lab's error views, via deliver), and writes a one-line notice to stderr in
# the thread it happened in, so the notice lands under the cell that scheduled
# the failing work (see the routing above).

_notice_enabled = True
_enrichers: list = []


def _install_error_capture(start_cell=None):
    from twisted.logger import globalLogPublisher

    globalLogPublisher.addObserver(_observe_log_event)
    if start_cell is not None:
        _quiet_stdlib_fallback(start_cell)


def _quiet_stdlib_fallback(start_cell):
    """Stop logging's last-resort handler from writing Twisted's logs into the running cell.

    Crochet forwards Twisted's log to the stdlib ``logging`` module from a
    thread of its own; with no handler configured, ``logging.lastResort``
    writes to ``sys.stderr`` there, which ipykernel 7 puts in whichever cell
    runs now.  Errors are captured and announced above; warnings go under the
    ``lab.start()`` cell.  Nothing changes when the user configured logging.
    """
    import logging

    twisted_logger = logging.getLogger("twisted")
    if logging.getLogger().handlers or twisted_logger.handlers:
        return

    class UnderStartCell(logging.Handler):
        def emit(self, record):
            if record.levelno >= logging.ERROR:
                return  # captured, and announced under the cell that caused it
            try:
                text = f"lab: twisted {record.levelname.lower()}: {self.format(record)}\n"
                _in_cell(start_cell, sys.stderr.write, (text,), {})
            except Exception:  # noqa: BLE001 - logging must never raise
                pass

    twisted_logger.addHandler(UnderStartCell(logging.WARNING))


def on_reactor_error(listener: Callable[[dict], None]) -> Callable[[dict], None]:
    """Call ``listener(record)`` for every error the reactor thread logs; returns ``listener``."""
    _reactor_error_listeners.append(listener)
    return listener


def remove_reactor_error_listener(listener: Callable[[dict], None]) -> None:
    """Stop calling ``listener`` (no error if absent)."""
    if listener in _reactor_error_listeners:
        _reactor_error_listeners.remove(listener)


def add_error_enricher(fn: Callable[[dict], dict]) -> None:
    """Register ``fn(event) -> dict`` that adds fields (a Deferred's creation site) to records."""
    if fn not in _enrichers:
        _enrichers.append(fn)


def reactor_error_records() -> list[dict]:
    """The errors captured so far (oldest first, at most a few hundred), as plain dicts."""
    with _deliver_lock:
        return list(_reactor_errors)


def clear_reactor_errors() -> None:
    """Forget the captured errors."""
    with _deliver_lock:
        _reactor_errors.clear()


_unhandled_pending = threading.local()


def _observe_log_event(event):
    """Keep every error event Twisted logs (an observer must never raise)."""
    try:
        _record_log_event(event)
    except Exception:  # noqa: BLE001 - a logging observer that raises is removed by Twisted
        sys.__stderr__.write("lab: could not record a reactor error:\n" + traceback.format_exc())


def _record_log_event(event):
    failure = event.get("log_failure")
    if failure is None and event.get("isError"):
        failure = event.get("failure")  # the legacy log.err() spelling
    text = _event_text(event)
    if failure is None:
        if event.get("isError") and "Unhandled error in Deferred" in text:
            _unhandled_pending.flag = True  # the Failure follows in the next event
        return
    unhandled = getattr(_unhandled_pending, "flag", False)
    _unhandled_pending.flag = False
    first_line = text.strip().split("\n", 1)[0][:160]
    where = "Unhandled error in Deferred (when it was garbage-collected)" if unhandled else (
        first_line or event.get("log_namespace", "") or "reactor thread")
    frames = getattr(failure, "frames", None)
    if frames:
        name, filename, line = frames[-1][:3]
        where += f", in {name} ({filename.rsplit('/', 1)[-1]}:{line})"
    record = {
        "time": event.get("log_time") or time.time(),
        "where": where,
        "exception": type(failure.value).__name__,
        "message": str(failure.value)[:500],
        "traceback": failure.getTraceback()[-6000:],
        "thread": threading.current_thread().name,
        "deferred_site": None,
        "unhandled_deferred": unhandled,
    }
    for enrich in list(_enrichers):
        try:
            record.update(enrich(event) or {})
        except Exception:  # noqa: BLE001 - an enricher must not lose the record
            pass
    with _deliver_lock:
        if len(_reactor_errors) >= _MAX_REACTOR_ERRORS:
            _reactor_errors.pop(0)
        _reactor_errors.append(record)
    if _notice_enabled and _kernel_streams():
        _notice(record)
    for listener in list(_reactor_error_listeners):
        deliver(listener, record)


def _notice(record):
    """One line on stderr, under the cell whose work failed (its timer, its call)."""
    cell = getattr(_failed_in, "cell", None)
    _failed_in.cell = None
    text = (f"lab: {record['exception']} in the reactor thread ({record['where']}): "
            f"{record['message']}\n  (lab.reactor_errors() has the traceback)\n")
    _in_cell(cell, sys.stderr.write, (text,), {})


def _event_text(event):
    try:
        from twisted.logger import formatEvent

        return formatEvent(event)
    except Exception:  # noqa: BLE001
        return str(event.get("log_format", ""))


# --------------------------------------------------------------------------
# shutdown


def on_shutdown(fn: Callable[[], Any]) -> Callable[[], Any]:
    """Run ``fn()`` in the reactor thread when the interpreter (kernel) exits.

    Listeners register their ``stop`` here so that ports are freed on kernel
    shutdown.  ``fn`` may return a Deferred; each hook gets a few seconds.
    Returns ``fn`` so that it can be used as a decorator.
    """
    _shutdown_hooks.append(fn)
    return fn


def remove_shutdown_hook(fn: Callable[[], Any]) -> None:
    """Forget a hook registered with :func:`on_shutdown` (no error if absent)."""
    try:
        _shutdown_hooks.remove(fn)
    except ValueError:
        pass


def _run_shutdown_hooks():
    if _status is None or not _status.running:
        return
    while _shutdown_hooks:
        hook = _shutdown_hooks.pop()
        try:
            call(hook, timeout=5)
        except Exception as error:  # noqa: BLE001 - keep stopping the others
            sys.__stderr__.write(f"lab: shutdown hook {hook!r} failed: {error}\n")
