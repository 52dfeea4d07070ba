"""The reactor view: pending timers, sockets, listeners and connections, refreshed live.

Every snapshot says when it was taken, so a view left without auto-refresh
never passes an old state off as the present one.
"""

import html
import time
from typing import Any

import ipywidgets as widgets

from lab import model
from lab.model import render_html
from lab.widgets._html import error_html
from lab.widgets._live import LiveMixin, StaticPicture

__all__ = ["ReactorView", "reactor_view"]



class ReactorView(StaticPicture, LiveMixin, widgets.VBox):
    """A snapshot of the reactor, with Refresh, Auto-refresh, internal timers and creator stacks."""

    def __init__(self, auto: bool = True, interval: float = 1.0) -> None:
        super().__init__()
        self.interval = interval
        self.refresh_button = widgets.Button(description="Refresh", icon="refresh",
                                             tooltip="Take a new snapshot of the reactor")
        self.auto = widgets.Checkbox(value=False, description="auto-refresh",
                                     tooltip=f"Take a snapshot every {interval} s")
        self.internal = widgets.Checkbox(value=False, description="show internal",
                                         tooltip="Show crochet's and the lab's own timers "
                                                 "and the waker")
        self.debug = widgets.Checkbox(value=False, description="creator stacks",
                                      tooltip="Record where each new DelayedCall is "
                                              "created (slower)")
        self.message = widgets.HTML()
        self.taken = widgets.HTML()
        self.body = widgets.HTML()
        self.state: Any = None
        self.refresh_button.on_click(lambda _: self.refresh())
        self.internal.observe(lambda _: self.refresh(), names="value")
        self.auto.observe(lambda change: self._set_auto(change["new"]), names="value")
        self.debug.observe(lambda change: self._set_debug(change["new"]), names="value")
        self.children = (widgets.HBox((self.refresh_button, self.auto, self.internal, self.debug),
                                      layout=widgets.Layout(flex_flow="row wrap")),
                         self.taken, self.message, self.body)
        self.refresh()
        self.auto.value = auto

    def refresh(self) -> None:
        """Take a snapshot and draw it; errors show in the view."""
        try:
            self.state = model.reactor_state(include_internal=self.internal.value)
        except Exception as error:  # noqa: BLE001 - the view shows what went wrong
            self.message.value = error_html(error)
            return
        self.message.value = ""
        self.body.value = render_html(self.state)
        how = (f"auto-refresh every {self.interval:g} s" if self._watch is not None else
               "not refreshing: press Refresh or tick auto-refresh for a new one")
        self.taken.value = (f"<small>snapshot taken at {time.strftime('%H:%M:%S')} "
                            f"({html.escape(how)})</small>")

    def _set_auto(self, on):
        if on and self._watch is None:
            self._start_live(self.interval)
            self.refresh()
        elif not on and self._watch is not None:
            self._stop_live()
            self.refresh()

    def _set_debug(self, on):
        try:
            model.debug_timers(on)
        except Exception as error:  # noqa: BLE001
            self.message.value = error_html(error)
        self.refresh()

    def snapshot_html(self) -> str:
        """When the snapshot was taken, and the snapshot."""
        return self.taken.value + self.body.value

    def close(self) -> None:
        """Stop auto-refresh, then close the widget."""
        self._set_auto(False)
        super().close()


def reactor_view(**kwargs):
    """A new :class:`ReactorView`."""
    return ReactorView(**kwargs)
