"""Reactor-thread output, under the cell that scheduled the work.

ipykernel 7's OutStream picks a write's parent message from a ContextVar
and falls back to the *global* parent, the cell running now; the reactor
thread never sets the ContextVar, so a print in a timer used to land in
whichever cell ran when the timer fired.  The cure is to say, in the
reactor thread, which cell the running work belongs to: the cell that
called submit()/call() (captured in the kernel thread), and for a
callLater made while such work runs, the same cell again when it fires.
OutStream.set_thread_parent/reset_thread_parent set that ContextVar.

Outside a kernel (plain Python, tests) every function here is a no-op.
"""

import sys
import threading
from typing import Any


def kernel_streams() -> tuple:
    """sys.stdout/sys.stderr when they are ipykernel OutStreams (else an empty tuple)."""
    return tuple(s for s in (sys.stdout, sys.stderr) if hasattr(s, "set_thread_parent"))


def current_cell() -> dict | None:
    """The parent header of the cell this thread writes under now, or None outside a kernel."""
    stream: Any = sys.stdout
    if not hasattr(stream, "set_thread_parent"):
        return None
    return stream.parent_header or None


def set_cell(cell: dict | None) -> None:
    """Write this thread's output under ``cell`` from now on (no-op outside a kernel)."""
    if cell is not None:
        for stream in kernel_streams():
            stream.set_thread_parent(cell)


def in_cell(cell: dict | None, fn: Any, args: tuple, kwargs: dict) -> Any:
    """``fn(*args, **kwargs)`` with this thread's output going to ``cell`` meanwhile."""
    streams = kernel_streams() if cell is not None else ()
    if not streams:
        return fn(*args, **kwargs)
    tokens = [(stream, stream.set_thread_parent(cell)) for stream in streams]
    try:
        return fn(*args, **kwargs)
    except BaseException:
        # Twisted logs the error after we return: the error capture's notice reads this.
        failed_in.cell = cell
        raise
    finally:
        for stream, token in reversed(tokens):
            stream.reset_thread_parent(token)


# The cell whose work raised last in this thread (see in_cell), until a notice takes it.
failed_in = threading.local()


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
        return in_cell(self._cell, self.__wrapped__, args, kwargs)

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


def install_routing(reactor: Any) -> None:
    """Make every callLater remember the cell that scheduled it (inside a kernel only)."""
    if not kernel_streams() or "callLater" in vars(reactor):
        return
    plain = reactor.callLater

    def callLater(delay, fn, *args, **kwargs):  # noqa: N802 - the reactor's own name
        cell = current_cell()
        if cell is not None and callable(fn):
            fn = _InCell(fn, cell)
        return plain(delay, fn, *args, **kwargs)

    callLater.__doc__ = plain.__doc__
    reactor.callLater = callLater
