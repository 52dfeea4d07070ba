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

One module per concern, from the bottom up (each imports only those above it
in this list):

- ``_reactor_thread``: which thread is the reactor's; the reactor itself;
- ``_deliver``: reactor -> kernel, :func:`deliver`;
- ``_output``: reactor-thread output under the cell that scheduled the work;
- ``_error_capture``: errors Twisted logs in the reactor thread, kept and announced;
- ``_status``: :class:`LabStatus`, what :func:`start` returns;
- ``_handle``: :class:`Handle`, one piece of work and how to wait for it;
- ``_lifecycle``: :func:`start`, :func:`submit`, :func:`call`, :func:`on_shutdown`;
- ``_await``: :func:`wait`, for ``await`` in a cell.
"""

# Beyond __all__, these are public by their lab.bridge path too (the model, lab.inspect
# and tests use them): delivery_errors, clear_reactor_errors, remove_reactor_error_listener,
# add_error_enricher, unwrap_routed, remove_shutdown_hook.
from lab._checks import checked_timeout
from lab.bridge._await import wait
from lab.bridge._deliver import deliver, delivery_errors
from lab.bridge._error_capture import (add_error_enricher, clear_reactor_errors,
                                       on_reactor_error, reactor_error_records,
                                       remove_reactor_error_listener)
from lab.bridge._handle import DEFAULT_TIMEOUT, Handle
from lab.bridge._lifecycle import call, on_shutdown, remove_shutdown_hook, start, submit
from lab.bridge._output import unwrap_routed
from lab.bridge._reactor_thread import get_reactor, in_reactor_thread
from lab.bridge._status import LabStatus

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
