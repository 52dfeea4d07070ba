"""Watches: call a view's refresh function at most a few times a second.

Views must not import the reactor, and pushing one notification per captured
event would swamp the kernel at 100,000 events; so a view asks the model to
*watch*: a ``LoopingCall`` in the reactor thread hands ``callback()`` to the
kernel side through :func:`lab.bridge.deliver` every ``interval`` seconds.
The view compares what it last drew with the model's counters and redraws
only on change, so an idle watch costs next to nothing.
"""

import threading
from collections import deque
from collections.abc import Callable

from twisted.internet.task import LoopingCall

from lab import bridge

__all__ = ["Watch", "watch", "LAB_TIMER_LABEL", "MAX_WATCHES"]

# Why a bound: every re-run of a cell that shows a live view starts a watch,
# and views left on old outputs are never closed; past this many, the oldest
# watch stops (its view still redraws on demand).
MAX_WATCHES = 32
_running: deque = deque()
_running_lock = threading.Lock()

# reactor_state() shows the lab's own timers under this label (and hides them by default).
LAB_TIMER_LABEL = "_lab_internal_timer"


class Watch:
    """A running watch; ``stop()`` ends it (harmless twice)."""

    def __init__(self, callback: Callable[[], object], interval: float) -> None:
        self.callback, self.interval = callback, interval
        self._loop = None

    def _tick(self):
        bridge.deliver(self.callback)

    def _start_in_reactor(self):
        self._loop = LoopingCall(self._tick)
        setattr(self._loop, LAB_TIMER_LABEL, f"lab watch every {self.interval} s")
        self._loop.start(self.interval, now=False)

    def _stop_in_reactor(self):
        loop, self._loop = self._loop, None
        if loop is not None and loop.running:
            loop.stop()
        with _running_lock:
            if self in _running:
                _running.remove(self)

    @property
    def running(self) -> bool:
        """True until stopped."""
        return self._loop is not None

    def stop(self) -> None:
        """Stop calling back."""
        if bridge.in_reactor_thread():
            self._stop_in_reactor()
        else:
            bridge.call(self._stop_in_reactor)


def watch(callback: Callable[[], object], interval: float = 0.25) -> Watch:
    """Call ``callback()`` through :func:`lab.bridge.deliver` every ``interval`` s.

    Returns a :class:`Watch`; ``stop()`` it when the view goes away.
    """
    if interval <= 0:
        raise ValueError(f"interval must be positive, not {interval!r}")
    handle = Watch(callback, interval)
    if bridge.in_reactor_thread():
        handle._start_in_reactor()
    else:
        bridge.call(handle._start_in_reactor)
    with _running_lock:
        _running.append(handle)
        oldest = _running[0] if len(_running) > MAX_WATCHES else None
    if oldest is not None:
        oldest.stop()
    return handle
