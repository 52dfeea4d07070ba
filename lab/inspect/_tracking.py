"""Creation sites of Deferreds: recorded only while ``track_deferreds(True)``.

How it stays cheap: on, ``Deferred.__init__`` is replaced (on the class) by a
function that calls the original and stores one small tuple in the instance:
the code object and line of the first frame outside Twisted's Deferred
machinery, and the monotonic time.  No traceback is formatted, no string is
built; names are read only when a snapshot shows them.  Off, the original
``__init__`` is put back, so a Deferred costs exactly what it costs in a
process that never imported the lab.

A failed Deferred nobody handled is reported by Twisted's ``DebugInfo`` when
it is collected, with no reference to the Deferred any more; while tracking
is on, the ``DebugInfo`` Twisted creates for a failure carries the site, and
the bridge's error capture asks :func:`site_of_unhandled` for it.
"""

import os
import sys
import threading
import time
import traceback

from twisted.internet import defer

from lab._checks import checked_bool

__all__ = ["track_deferreds", "tracking", "site_of", "born_of", "Site", "SITE_ATTRIBUTE"]

SITE_ATTRIBUTE = "_lab_site"
_lock = threading.Lock()
_original_init = None
_original_debug_info = None
# Frames inside these files are Twisted making a Deferred for the caller
# (succeed, DeferredList, inlineCallbacks, deferLater, deferToThread): the site
# is the first frame outside them.
_SKIPPED = frozenset(os.path.join(os.path.dirname(defer.__file__), name)
                     for name in ("defer.py", "task.py", "threads.py"))
_unhandled = threading.local()


class Site(tuple):
    """Where a Deferred was created: ``(file, line, function)``; ``str()`` reads ``file.py:12 in f``."""

    __slots__ = ()

    @property
    def file(self) -> str:
        """The source file's path."""
        return self[0]

    @property
    def line(self) -> int:
        """The line number."""
        return self[1]

    @property
    def function(self) -> str:
        """The function's name."""
        return self[2]

    def __str__(self):
        return f"{os.path.basename(self[0])}:{self[1]} in {self[2]}"


def _tracked_init(self, canceller=None):
    _original_init(self, canceller)
    _record_site(self)


def _record_site(self, _getframe=sys._getframe, _now=time.monotonic, _skipped=_SKIPPED):
    frame = _getframe(2)
    code = frame.f_code
    while code.co_filename in _skipped:
        frame = frame.f_back
        if frame is None:
            return
        code = frame.f_code
    self._lab_site = (code, frame.f_lineno, _now())


# Twisted's Deferred.__init__ sets _callbacks and _canceller, and a DebugInfo
# when Deferred.debug is on.  When the installed Twisted's __init__ reads no
# other names, the tracked __init__ does the same itself instead of calling
# it: one Python call fewer per Deferred (the tracking bench's main cost).
_KNOWN_INIT_NAMES = {"_callbacks", "_canceller", "debug", "_debugInfo", "DebugInfo", "creator",
                     "traceback", "format_stack"}


def _inlined_init(self, canceller=None, _getframe=sys._getframe, _now=time.monotonic,
                  _skipped=_SKIPPED):
    self._callbacks = []
    self._canceller = canceller
    if self.debug:
        self._debugInfo = defer.DebugInfo()
        self._debugInfo.creator = traceback.format_stack()[:-1]
    frame = _getframe(1)
    code = frame.f_code
    while code.co_filename in _skipped:
        frame = frame.f_back
        if frame is None:
            return
        code = frame.f_code
    self._lab_site = (code, frame.f_lineno, _now())


def _tracking_init(original):
    names = set(original.__code__.co_names)
    return _inlined_init if names <= _KNOWN_INIT_NAMES else _tracked_init


def track_deferreds(on: bool = True) -> bool:
    """Record where every Deferred created from now on was made (``on=False`` stops); returns the old setting.

    Cheap enough to leave on while debugging (see ``bench/debugging.py``);
    off, it costs nothing.  Snapshots (:func:`lab.pending`) show the sites and
    group by them, and reactor errors name the Deferred's site.
    """
    global _original_init, _original_debug_info
    checked_bool(on, "track_deferreds(on)")
    with _lock:
        was = _original_init is not None
        if on and not was:
            _original_init = defer.Deferred.__dict__["__init__"]
            _original_debug_info = defer.DebugInfo
            # setattr: patching a class and a module on purpose, and only while on.
            setattr(defer.Deferred, "__init__", _tracking_init(_original_init))
            setattr(defer, "DebugInfo", _SitedDebugInfo)
            _register_enricher()
            from lab.inspect._watch import watch_connections

            watch_connections()  # so that snapshots can say how long a connection was silent
        elif not on and was:
            setattr(defer.Deferred, "__init__", _original_init)
            setattr(defer, "DebugInfo", _original_debug_info)
            _original_init = _original_debug_info = None
        return was


def tracking() -> bool:
    """True while creation sites are recorded."""
    return _original_init is not None


def _raw(deferred):
    try:
        return deferred.__dict__.get(SITE_ATTRIBUTE)
    except AttributeError:
        return None


def site_of(deferred: object) -> "Site | None":
    """The :class:`Site` where ``deferred`` was created, or None when it was not tracked."""
    raw = _raw(deferred)
    if raw is None:
        return None
    code = raw[0]
    name = getattr(code, "co_qualname", code.co_name).rsplit(".<locals>.", 1)[-1]
    return Site((code.co_filename, raw[1], name))


def born_of(deferred: object) -> float | None:
    """The ``time.monotonic()`` when ``deferred`` was created, or None when it was not tracked."""
    raw = _raw(deferred)
    return None if raw is None else raw[2]


class _SitedDebugInfo(defer.DebugInfo):
    """Twisted's DebugInfo, also holding the failed Deferred's creation site (tracking only)."""

    lab_site = None

    def __init__(self):
        super().__init__()
        # Twisted makes one in _runCallbacks for the Deferred it calls `current`.
        frame = sys._getframe(1)
        current = frame.f_locals.get("current") or frame.f_locals.get("self")
        site = site_of(current) if isinstance(current, defer.Deferred) else None
        self.lab_site = None if site is None else str(site)

    def __del__(self):
        _unhandled.site = self.lab_site
        try:
            super().__del__()
        finally:
            _unhandled.site = None


def site_of_unhandled(event):
    """Bridge enricher: the site of the Deferred whose unhandled error is being logged."""
    site = getattr(_unhandled, "site", None)
    return {"deferred_site": site} if site else {}


def _register_enricher():
    from lab import bridge

    bridge.add_error_enricher(site_of_unhandled)
