"""Which thread a chain lives in, and how to reach it from another one.

A Deferred built in a cell runs in the kernel's thread; one that comes from
the network runs in the reactor thread.  Stepping must happen where the chain
lives, so each recording keeps its *home* thread and a *runner*: a callable
``runner(fn)`` that runs ``fn()`` in that thread and returns its result
(``lab.call`` is one).  This module never imports the bridge: it only asks
it, when it is already loaded, whether the caller is its reactor thread.
"""

import sys
import threading

from lab.deferreds._errors import BadInput
from lab.errors import WrongThread

__all__ = ["home_and_runner"]


def home_and_runner(runner):
    """The home thread's ident and the runner to reach it, for a recording made now."""
    if runner is None:
        return threading.get_ident(), _reactor_runner()
    if not callable(runner):
        raise BadInput(f"runner= must be a callable like lab.call, not {type(runner).__name__}")
    try:
        home = runner(threading.get_ident)
    except WrongThread:
        # lab.call refuses to be called from the reactor thread: we are its home.
        home = threading.get_ident()
    return home, runner


def _reactor_runner():
    """``lab.bridge.call`` when called from the lab's reactor thread, else None.

    A chain created in the reactor thread (say, inside ``lab.call``) is
    stepped from a cell later; the bridge is then the way back into it.
    """
    bridge = sys.modules.get("lab.bridge")
    if bridge is not None and bridge.in_reactor_thread():
        return bridge.call
    return None
