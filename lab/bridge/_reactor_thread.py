"""Which thread is the reactor's, and the reactor itself, imported on first use.

The bottom of the bridge: :func:`lab.bridge.start` notes the reactor thread
here once it runs, and everything else asks.
"""

import threading
from typing import Any

_reactor_ident = None


def get_reactor() -> Any:
    """The global Twisted reactor, imported on first use (so importing the lab installs none).

    For code that runs in the reactor thread (``lab.call``'s functions): it
    schedules timers and opens sockets there.
    """
    from twisted.internet import reactor

    return reactor


def in_reactor_thread() -> bool:
    """True when the caller runs in the reactor thread."""
    return _reactor_ident is not None and threading.get_ident() == _reactor_ident


def note_reactor_thread() -> None:
    """Remember the calling thread as the reactor's (called once, in that thread)."""
    global _reactor_ident
    _reactor_ident = threading.get_ident()


def reactor_ident() -> int | None:
    """The reactor thread's ident, or None before :func:`lab.bridge.start`."""
    return _reactor_ident


def thread_by_ident(ident: int | None) -> threading.Thread:
    """The live thread with ``ident`` (the calling one if none has it)."""
    for thread in threading.enumerate():
        if thread.ident == ident:
            return thread
    return threading.current_thread()
