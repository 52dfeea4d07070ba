"""The reactor errors list: every exception the reactor thread raised, newest first, live."""

import html

import ipywidgets as widgets

from lab import inspect
from lab.inspect._errors import errors_html

__all__ = ["ReactorErrorsView"]


class ReactorErrorsView(widgets.VBox):
    """Errors from timers, protocol callbacks, LoopingCalls and unhandled Deferreds, as they happen.

    A new error redraws the list and shows a red notice; Refresh and Clear
    have programmatic twins (``view.refresh()``, ``view.clear_button.click()``).
    """

    def __init__(self) -> None:
        super().__init__()
        self.add_class("lab-reactor-errors-view")
        self.notice = widgets.HTML()
        self.body = widgets.HTML()
        self.refresh_button = widgets.Button(description="Refresh", icon="refresh",
                                             tooltip="Read the captured errors again",
                                             layout=widgets.Layout(width="auto"))
        self.clear_button = widgets.Button(description="Clear", icon="trash",
                                           tooltip="Forget the captured errors",
                                           layout=widgets.Layout(width="auto"))
        self.refresh_button.on_click(lambda _: self.refresh())
        self.clear_button.on_click(lambda _: self.clear())
        self.children = (widgets.HBox((self.refresh_button, self.clear_button, self.notice)),
                         self.body)
        self._listener = inspect.on_reactor_error(self._on_error)
        self.refresh()

    def _on_error(self, error):
        # Called through lab.bridge.deliver: trait assignment is safe from the reactor thread.
        self.notice.value = (f'<b style="color:#cf222e">new: {html.escape(error.exception)}: '
                             f'{html.escape(error.message[:120])}</b>')
        self.refresh()

    def refresh(self) -> None:
        """Redraw the list from ``lab.reactor_errors()``."""
        self.errors = inspect.reactor_errors()
        self.body.value = errors_html(self.errors)

    def clear(self) -> None:
        """Forget every captured error and redraw."""
        inspect.clear_reactor_errors()
        self.notice.value = ""
        self.refresh()

    def close(self) -> None:
        """Stop listening, then close."""
        inspect.remove_reactor_error_listener(self._listener)
        super().close()
