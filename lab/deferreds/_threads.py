"""Which thread a chain lives in, and how to reach it from another one.

A Deferred built in a cell runs in the kernel's thread; one that comes from
the network runs in the reactor thread.  Stepping must happen where the chain
lives, so each recording keeps its *home* thread and a *runner*: a callable
``runner(fn)`` that runs ``fn()`` in that thread and returns its result
(``lab.call`` is one).

This package never imports the bridge (nor crochet, nor the reactor).  The
bridge tells it, once its reactor thread runs, which thread that is and how
to run a function there (:func:`register_reactor_thread`); until then every
chain is stepped only in the thread it runs in.
"""

import threading
from collections.abc import Callable
from typing import Any

from lab.deferreds._errors import BadInput
from lab.errors import WrongThread

__all__ = ["home_and_runner", "register_reactor_thread", "reactor_runner_for"]

Runner = Callable[[Callable[[], Any]], Any]
_reactor: tuple[int, Runner] | None = None  # (thread ident, runner), set by the bridge


def register_reactor_thread(ident: int | None, runner: Runner | None) -> None:
    """Say which thread is the lab's reactor thread and how to run ``fn()`` in it (the bridge).

    ``runner(fn)`` must run ``fn()`` in that thread, wait and return its result
    (``lab.bridge.call``).  ``register_reactor_thread(None, None)`` forgets it.
    """
    global _reactor
    _reactor = None if ident is None or runner is None else (ident, runner)


def reactor_runner_for(thread: int | None) -> Runner | None:
    """The runner into ``thread`` when it is the lab's running reactor thread, else None."""
    registered = _reactor
    if registered is None or thread != registered[0]:
        return None
    return registered[1]


def home_and_runner(runner):
    """The home thread's ident and the runner to reach it, for a recording made now."""
    if runner is None:
        return threading.get_ident(), reactor_runner_for(threading.get_ident())
    if not callable(runner):
        raise BadInput(f"runner= must be a callable like lab.call, not {type(runner).__name__}")
    try:
        home = runner(threading.get_ident)
    except WrongThread:
        # lab.call refuses to be called from the reactor thread: we are its home.
        home = threading.get_ident()
    return home, runner
