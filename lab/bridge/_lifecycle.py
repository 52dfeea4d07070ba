"""The reactor thread's life: started once (start), used (submit, call), stopped at exit.

start, submit/call and the shutdown hooks live together because each needs
the others: submit() starts the reactor on first use; start() hands call()
to the Deferred core and registers the hooks, which run through call().
"""

import asyncio
import sys
import threading
from collections.abc import Callable
from typing import Any

from lab._checks import checked_timeout
from lab.bridge._error_capture import install_error_capture
from lab.bridge._handle import DEFAULT_TIMEOUT, Handle
from lab.bridge._output import current_cell, install_routing, set_cell
from lab.bridge._reactor_thread import (get_reactor, in_reactor_thread, note_reactor_thread,
                                        reactor_ident, thread_by_ident)
from lab.bridge._status import LabStatus
from lab.errors import ReactorNotRunning, WrongThread

_start_lock = threading.Lock()
_status = None
_shutdown_hooks: list = []


# --------------------------------------------------------------------------
# start


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
        reactor = get_reactor()
        found = threading.Event()
        start_cell = current_cell()

        def note_thread():
            note_reactor_thread()
            # Reactor work that no cell scheduled (a connection arriving, a
            # callback fired by the network) writes under the lab.start() cell,
            # never into whichever cell happens to run at that moment.
            set_cell(start_cell)
            install_routing(reactor)
            install_error_capture(start_cell)
            found.set()

        reactor.callFromThread(note_thread)
        if not found.wait(10):
            raise ReactorNotRunning(
                "The reactor thread did not answer within 10 s after crochet.setup(). "
                "Another reactor may already be running in this process (e.g. "
                "pytest-twisted or an earlier reactor.run()); restart the kernel."
            )
        thread = thread_by_ident(reactor_ident())
        _status = LabStatus(reactor, thread)
        # The Deferred core never imports the bridge: tell it which thread is
        # the reactor's, so a chain fired there is stepped there from a cell.
        from lab.deferreds._threads import register_reactor_thread

        register_reactor_thread(reactor_ident(), call)
        # Python's atexit runs only after every thread has ended, too late for
        # the reactor; crochet's watchdog runs its registry (in reverse order)
        # as soon as the main thread exits, before it stops the reactor.
        from crochet._shutdown import register as crochet_at_main_thread_exit

        crochet_at_main_thread_exit(_run_shutdown_hooks)
        return _status


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
        handle = Handle(fn, args, kwargs, current_cell())
        get_reactor().callFromThread(handle._run)
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
