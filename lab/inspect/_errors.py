"""``lab.reactor_errors()``: what went wrong in the reactor thread, as plain values.

The bridge keeps every error Twisted logs in the reactor thread (an exception
in a timer, in a protocol callback, in a ``LoopingCall``, a failed Deferred
nobody handled when it was collected) and writes a one-line notice under the
cell whose work failed.  This module hands them to notebooks and views.
"""

import datetime
import html
from collections.abc import Callable
from typing import Any, NamedTuple

from lab import bridge

__all__ = ["ReactorError", "reactor_errors", "clear_reactor_errors", "ErrorList", "on_reactor_error",
           "remove_reactor_error_listener"]


class ReactorError(NamedTuple):
    """One error in the reactor thread: when, where, the exception, its traceback, the Deferred's site."""

    time: float
    where: str
    exception: str
    message: str
    traceback: str
    deferred_site: str | None
    unhandled_deferred: bool

    @property
    def when(self) -> str:
        """The time as ``HH:MM:SS`` (local)."""
        return datetime.datetime.fromtimestamp(self.time).strftime("%H:%M:%S")

    def __str__(self):
        site = f" [Deferred made at {self.deferred_site}]" if self.deferred_site else ""
        return f"{self.when} {self.exception}: {self.message} ({self.where}){site}"


class ErrorList(tuple):
    """The captured errors, oldest first; shows as a list in a notebook."""

    def text(self) -> str:
        """One line per error."""
        if not self:
            return "no errors in the reactor thread"
        return "\n".join(str(e) for e in self)

    def __repr__(self):
        return self.text()

    def _repr_html_(self):
        return errors_html(self)

    def widget(self) -> Any:
        """A live view of the errors (new ones appear as they happen)."""
        from lab import display

        return display.view("reactor errors", self)


def _value(record):
    return ReactorError(record["time"], record["where"], record["exception"], record["message"],
                        record["traceback"], record.get("deferred_site"),
                        bool(record.get("unhandled_deferred")))


def reactor_errors() -> ErrorList:
    """Every error the reactor thread raised since ``lab.start()`` (the last 200), oldest first."""
    return ErrorList(_value(r) for r in bridge.reactor_error_records())


def clear_reactor_errors() -> None:
    """Forget the errors captured so far."""
    bridge.clear_reactor_errors()


def errors_html(errors, limit=50):
    """The errors as an HTML list (newest first), each traceback folded in a <details>."""
    if not errors:
        return '<div class="lab-reactor-errors"><i>no errors in the reactor thread</i></div>'
    items = []
    for error in list(errors)[::-1][:limit]:
        site = (f"<br><small>Deferred made at {html.escape(error.deferred_site)}</small>"
                if error.deferred_site else "")
        items.append(
            "<li style='margin-bottom:4px'><details><summary>"
            f"<code>{html.escape(error.when)}</code> <b style='color:#cf222e'>"
            f"{html.escape(error.exception)}</b>: {html.escape(error.message[:200])} "
            f"<small style='color:#57606a'>({html.escape(error.where[:160])})</small>"
            f"</summary>{site}<pre style='font-size:11px;max-height:240px;overflow:auto'>"
            f"{html.escape(error.traceback)}</pre></details></li>")
    more = len(errors) - limit
    tail = f"<li><i>... and {more} older</i></li>" if more > 0 else ""
    return (f'<div class="lab-reactor-errors"><b>{len(errors)} error'
            f'{"s" if len(errors) != 1 else ""} in the reactor thread</b>'
            f'<ul style="list-style:none;padding-left:0">{"".join(items)}{tail}</ul></div>')


def on_reactor_error(listener: Callable[[ReactorError], None]) -> Callable[[dict], None]:
    """Call ``listener(error)`` (a :class:`ReactorError`) for each new error; returns a handle to pass to
    :func:`remove_reactor_error_listener`."""
    def forward(record):
        listener(_value(record))

    return bridge.on_reactor_error(forward)


def remove_reactor_error_listener(handle: Callable[[dict], None]) -> None:
    """Stop a listener added with :func:`on_reactor_error`."""
    bridge.remove_reactor_error_listener(handle)
