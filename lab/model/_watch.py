"""Watches: call a view's refresh function at most a few times a second.

Views must not import the reactor, and pushing one notification per captured
event would swamp the kernel at 100,000 events; so a view asks the model to
*watch*.  Why one timer for many watches: every view used to start its own
``LoopingCall``, so five views of one listener were five timers and each
re-run of a cell added more.  Now all watches of one interval share one
``LoopingCall`` (a *ticker*) in the reactor thread, which hands each
``callback()`` to the kernel side through :func:`lab.bridge.deliver`.  The
view compares what it last drew with the model's counters and redraws only on
change, so an idle watch costs next to nothing.

Why stopping never touches the reactor: a view's ``close()`` also runs from
``Widget.__del__`` at interpreter exit, when the reactor is already gone.
``stop()`` only takes the watch off its ticker's list; a ticker whose list is
empty stops its own ``LoopingCall`` on its next tick.  A bound-method callback
is held weakly, so a view that was garbage-collected stops being called.
"""

import threading
import weakref
from collections.abc import Callable
from typing import Any

from lab import bridge

__all__ = ["Watch", "watch", "timer_count", "LAB_TIMER_LABEL", "MAX_WATCHES"]

# Why a bound: every re-run of a cell that shows a live view starts a watch,
# and views left on old outputs are not always closed; past this many, the
# oldest watch stops (its view still redraws on demand).
MAX_WATCHES = 32
_lock = threading.Lock()
_tickers: dict[float, "_Ticker"] = {}  # interval -> _Ticker, only while its LoopingCall runs
_running: list["Watch"] = []  # every running Watch, oldest first

# reactor_state() shows the lab's own timers under this label (and hides them by default).
LAB_TIMER_LABEL = "_lab_internal_timer"


class _Ticker:
    """One ``LoopingCall`` that calls every watch of one interval."""

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self.watches: list[Watch] = []
        self.loop: Any = None

    def start_in_reactor(self):
        from twisted.internet.task import LoopingCall

        self.loop = LoopingCall(self.tick)
        setattr(self.loop, LAB_TIMER_LABEL, f"lab view refresh every {self.interval} s")
        self.loop.start(self.interval, now=False)

    def tick(self):
        with _lock:
            watches = list(self.watches)
            if not watches and _tickers.get(self.interval) is self:
                del _tickers[self.interval]
        if not watches:
            if self.loop is not None and self.loop.running:
                self.loop.stop()
            return
        # Call back once the LoopingCall has scheduled its next run, so a reactor
        # snapshot taken by a callback still sees this timer.
        bridge.get_reactor().callLater(0, self.deliver, watches)

    @staticmethod
    def deliver(watches):
        for handle in watches:
            if handle.running:
                handle._tick()


class Watch:
    """A running watch; ``stop()`` ends it (harmless twice, safe at interpreter exit)."""

    def __init__(self, callback: Callable[[], object], interval: float) -> None:
        self.interval = interval
        self._callback: Callable[[], Any]
        try:
            self._callback = weakref.WeakMethod(callback)
        except TypeError:  # a function or lambda: the watch keeps it
            self._callback = lambda: callback
        self._ticker: _Ticker | None = None

    def _tick(self):
        callback = self._callback()
        if callback is None:  # the view is gone
            self.stop()
            return
        bridge.deliver(callback)

    @property
    def running(self) -> bool:
        """True until stopped."""
        return self._ticker is not None

    def stop(self) -> None:
        """Stop calling back (the shared timer stops by itself once nothing watches)."""
        with _lock:
            ticker, self._ticker = self._ticker, None
            if ticker is not None and self in ticker.watches:
                ticker.watches.remove(self)
            if self in _running:
                _running.remove(self)


def _add(handle):
    """Put ``handle`` on its interval's ticker; return a new ticker to start, or None."""
    with _lock:
        ticker = _tickers.get(handle.interval)
        new = ticker is None
        if new:
            ticker = _tickers[handle.interval] = _Ticker(handle.interval)
        ticker.watches.append(handle)
        handle._ticker = ticker
        _running.append(handle)
        oldest = _running[0] if len(_running) > MAX_WATCHES else None
    if oldest is not None:
        oldest.stop()
    return ticker if new else None


def watch(callback: Callable[[], object], interval: float = 0.25) -> Watch:
    """Call ``callback()`` through :func:`lab.bridge.deliver` every ``interval`` s.

    Watches of the same interval share one timer in the reactor.  A bound
    method is held weakly (a collected view stops being called).  Returns a
    :class:`Watch`; ``stop()`` it when the view goes away.
    """
    if interval <= 0:
        raise ValueError(f"interval must be positive, not {interval!r}")
    handle = Watch(callback, interval)
    ticker = _add(handle)
    if ticker is not None:
        if bridge.in_reactor_thread():
            ticker.start_in_reactor()
        else:
            bridge.call(ticker.start_in_reactor)
    return handle


def timer_count() -> int:
    """How many refresh timers the lab's watches run in the reactor now (one per interval in use)."""
    with _lock:
        return len(_tickers)
