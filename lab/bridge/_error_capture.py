"""Errors in the reactor thread: kept, announced, never only in a log.

Twisted logs an exception in a timer ("while handling timed call"), in a
protocol callback (log.err) and a failed Deferred nobody handled when it is
collected ("Unhandled error in Deferred").  Crochet sends those logs to the
stdlib logging module, where a notebook user never looks.  One observer on
Twisted's global log publisher keeps each (bounded), tells listeners (the
lab's error views, via deliver), and writes a one-line notice to stderr in
the thread it happened in, so the notice lands under the cell that scheduled
the failing work (see :mod:`lab.bridge._output`).
"""

import sys
import threading
import time
import traceback
from collections.abc import Callable

from lab.bridge._deliver import deliver, delivery_lock
from lab.bridge._output import failed_in, in_cell, kernel_streams

_MAX_REACTOR_ERRORS = 200
_reactor_errors: list = []  # bounded record of errors Twisted logged in the reactor thread
_reactor_error_listeners: list = []
_notice_enabled = True
_enrichers: list = []
# Set when Twisted logs "Unhandled error in Deferred": its Failure comes in the next event.
_unhandled_pending = threading.local()


def install_error_capture(start_cell: dict | None = None) -> None:
    """Observe Twisted's global log from now on (called once, by :func:`lab.bridge.start`)."""
    from twisted.logger import globalLogPublisher

    # A plain function is an observer to Twisted (it needs only to be callable).
    globalLogPublisher.addObserver(_observe_log_event)  # type: ignore[arg-type]
    if start_cell is not None:
        _quiet_stdlib_fallback(start_cell)


def _quiet_stdlib_fallback(start_cell):
    """Stop logging's last-resort handler from writing Twisted's logs into the running cell.

    Crochet forwards Twisted's log to the stdlib ``logging`` module from a
    thread of its own; with no handler configured, ``logging.lastResort``
    writes to ``sys.stderr`` there, which ipykernel 7 puts in whichever cell
    runs now.  Errors are captured and announced above; warnings go under the
    ``lab.start()`` cell.  Nothing changes when the user configured logging.
    """
    import logging

    twisted_logger = logging.getLogger("twisted")
    if logging.getLogger().handlers or twisted_logger.handlers:
        return

    class UnderStartCell(logging.Handler):
        def emit(self, record):
            if record.levelno >= logging.ERROR:
                return  # captured, and announced under the cell that caused it
            try:
                text = f"lab: twisted {record.levelname.lower()}: {self.format(record)}\n"
                in_cell(start_cell, sys.stderr.write, (text,), {})
            except Exception:  # noqa: BLE001 - logging must never raise
                pass

    twisted_logger.addHandler(UnderStartCell(logging.WARNING))


def on_reactor_error(listener: Callable[[dict], None]) -> Callable[[dict], None]:
    """Call ``listener(record)`` for every error the reactor thread logs; returns ``listener``."""
    _reactor_error_listeners.append(listener)
    return listener


def remove_reactor_error_listener(listener: Callable[[dict], None]) -> None:
    """Stop calling ``listener`` (no error if absent)."""
    if listener in _reactor_error_listeners:
        _reactor_error_listeners.remove(listener)


def add_error_enricher(fn: Callable[[dict], dict]) -> None:
    """Register ``fn(event) -> dict`` that adds fields (a Deferred's creation site) to records."""
    if fn not in _enrichers:
        _enrichers.append(fn)


def reactor_error_records() -> list[dict]:
    """The errors captured so far (oldest first, at most a few hundred), as plain dicts."""
    with delivery_lock:
        return list(_reactor_errors)


def clear_reactor_errors() -> None:
    """Forget the captured errors."""
    with delivery_lock:
        _reactor_errors.clear()


def _observe_log_event(event):
    """Keep every error event Twisted logs (an observer must never raise)."""
    try:
        _record_log_event(event)
    except Exception:  # noqa: BLE001 - a logging observer that raises is removed by Twisted
        sys.__stderr__.write("lab: could not record a reactor error:\n" + traceback.format_exc())


def _record_log_event(event):
    failure = event.get("log_failure")
    if failure is None and event.get("isError"):
        failure = event.get("failure")  # the legacy log.err() spelling
    text = _event_text(event)
    if failure is None:
        if event.get("isError") and "Unhandled error in Deferred" in text:
            _unhandled_pending.flag = True  # the Failure follows in the next event
        return
    unhandled = getattr(_unhandled_pending, "flag", False)
    _unhandled_pending.flag = False
    record = _record_of(event, failure, text, unhandled)
    for enrich in list(_enrichers):
        try:
            record.update(enrich(event) or {})
        except Exception:  # noqa: BLE001 - an enricher must not lose the record
            pass
    with delivery_lock:
        if len(_reactor_errors) >= _MAX_REACTOR_ERRORS:
            _reactor_errors.pop(0)
        _reactor_errors.append(record)
    if _notice_enabled and kernel_streams():
        _notice(record)
    for listener in list(_reactor_error_listeners):
        deliver(listener, record)


def _record_of(event, failure, text, unhandled):
    """The plain dict kept for one logged failure: where, what, its traceback."""
    first_line = text.strip().split("\n", 1)[0][:160]
    where = "Unhandled error in Deferred (when it was garbage-collected)" if unhandled else (
        first_line or event.get("log_namespace", "") or "reactor thread")
    frames = getattr(failure, "frames", None)
    if frames:
        name, filename, line = frames[-1][:3]
        where += f", in {name} ({filename.rsplit('/', 1)[-1]}:{line})"
    return {
        "time": event.get("log_time") or time.time(),
        "where": where,
        "exception": type(failure.value).__name__,
        "message": str(failure.value)[:500],
        "traceback": failure.getTraceback()[-6000:],
        "thread": threading.current_thread().name,
        "deferred_site": None,
        "unhandled_deferred": unhandled,
    }


def _notice(record):
    """One line on stderr, under the cell whose work failed (its timer, its call)."""
    cell = getattr(failed_in, "cell", None)
    failed_in.cell = None
    text = (f"lab: {record['exception']} in the reactor thread ({record['where']}): "
            f"{record['message']}\n  (lab.reactor_errors() has the traceback)\n")
    in_cell(cell, sys.stderr.write, (text,), {})


def _event_text(event):
    try:
        from twisted.logger import formatEvent

        return formatEvent(event)
    except Exception:  # noqa: BLE001
        return str(event.get("log_format", ""))
