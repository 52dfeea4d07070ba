"""Live inspection of the running reactor: pending Deferreds and reactor-thread errors.

    lab.track_deferreds(True)        # remember where each new Deferred is made (cheap)
    snap = lab.pending()             # every Deferred still waiting, taken in the reactor thread
    snap.why(d)                      # "Deferred #3 waits on ... which waits on a timer due in 29.8 s."
    snap.orphans                     # those nothing in the process can fire
    later = lab.pending(); later.diff(snap)   # a group that keeps growing is a leak
    snap[12].cancel(); snap[12].fire(value); snap[12].step()
    lab.reactor_errors()             # exceptions in timers, protocols, unhandled Deferreds

Layer: gc, weakref, twisted, the bridge and the Deferred core; never ipywidgets
(views are imported only when ``.widget()`` is called).
"""

from lab.errors import DeferredGone, InspectError, NotPending, UnknownEntry
from lab.inspect._errors import (
    ErrorList,
    ReactorError,
    clear_reactor_errors,
    on_reactor_error,
    reactor_errors,
    remove_reactor_error_listener,
)
from lab.inspect._snapshot import OLD_AFTER, Diff, Entry, Graph, Snapshot, pending
from lab.inspect._tracking import Site, track_deferreds, tracking

__all__ = [
    "pending",
    "track_deferreds",
    "tracking",
    "reactor_errors",
    "clear_reactor_errors",
    "on_reactor_error",
    "remove_reactor_error_listener",
    "Snapshot",
    "Entry",
    "Diff",
    "Graph",
    "Site",
    "ReactorError",
    "ErrorList",
    "OLD_AFTER",
    "InspectError",
    "NotPending",
    "UnknownEntry",
    "DeferredGone",
]
