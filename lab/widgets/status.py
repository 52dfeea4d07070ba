"""The reactor's status as a widget: running or not, versions, and a Ping button.

Ping measures one round trip kernel -> reactor thread -> kernel through the
bridge, which is the first thing to check when the lab seems stuck.
"""

import html
import time

from typing import Any

import ipywidgets as widgets

import lab

__all__ = ["StatusPanel"]


class StatusPanel(widgets.VBox):
    """Shows whether the reactor runs, with which versions, and pings it on request."""

    def __init__(self, status: Any = None) -> None:
        super().__init__()
        self.status = status or lab.start()
        self.summary = widgets.HTML()
        self.ping_button = widgets.Button(
            description="Ping reactor", icon="exchange",
            tooltip="Time one round trip from this kernel into the reactor thread and back",
        )
        self.result = widgets.HTML(value="")
        self.ping_button.on_click(lambda _: self.ping())
        self.children = (self.summary, widgets.HBox((self.ping_button, self.result)))
        self.refresh()

    def refresh(self) -> None:
        """Redraw the running/version summary."""
        self.summary.value = self.status._repr_html_()

    def ping(self) -> None:
        """Round-trip a no-op through the reactor; show the time or the error."""
        started = time.perf_counter()
        try:
            lab.call(lambda: None, timeout=5)
        except lab.LabError as error:
            self.result.value = f'<span style="color:#cf222e">{html.escape(str(error))}</span>'
        else:
            elapsed = (time.perf_counter() - started) * 1000
            self.result.value = f"pong in {elapsed:.2f} ms"
        self.refresh()
