"""The listeners panel: pick a plugin and an endpoint, Start, Stop, and watch the counts.

The table refreshes from a model watch (a few times a second, only when a
count changed), so it stays live while other cells run.
"""

import html



from typing import Any

import ipywidgets as widgets

import lab
from lab import model
from lab.widgets._html import error_html

__all__ = ["ListenersPanel", "listeners_panel", "FALLBACK_PLUGINS"]

FALLBACK_PLUGINS = ("echo", "chat", "discard", "daytime", "qotd", "time")


def _plugin_names():
    """Protocol plugins the registry knows (or the shipped ones if it cannot say)."""
    try:
        registry = lab.plugins()
        names = [n for n in registry.names() if "IProtocolPlugin" in registry.info(n)["provides"]]
        return names or list(FALLBACK_PLUGINS)
    except Exception:  # noqa: BLE001 - a broken registry must not break this panel
        return list(FALLBACK_PLUGINS)


def table_html(rows):
    """The listeners' stats as an HTML table."""
    columns = ("name", "plugin", "endpoint", "open", "connections", "bytes_in",
               "bytes_out", "events", "dropped", "errors", "limited",
               "refused")
    head = "".join(f"<th>{c.replace('_', ' ')}</th>" for c in columns)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(r.get(c, '')))}</td>" for c in columns)
                   + "</tr>" for r in rows)
    if not rows:
        body = f'<tr><td colspan="{len(columns)}"><i>no listeners running</i></td></tr>'
    refusals = "".join(f'<div class="lab-refusal"><b>{html.escape(r["name"])}</b> '
                       f'{html.escape(r["last_refusal"])}</div>'
                       for r in rows if r.get("last_refusal"))
    return f'<table class="lab-listeners-table"><tr>{head}</tr>{body}</table>{refusals}'


class ListenersPanel(widgets.VBox):
    """Start and stop listeners, and see each one's connections and bytes live."""

    def __init__(self, live: bool = True, interval: float = 0.5) -> None:
        super().__init__()
        self.plugin = widgets.Dropdown(options=_plugin_names(), value=None,
                                       description="plugin", tooltip="The protocol to serve")
        if "echo" in self.plugin.options:
            self.plugin.value = "echo"
        self.endpoint = widgets.Text(value="", placeholder="tcp:0", description="endpoint",
                                     tooltip="Twisted endpoint string; 127.0.0.1 unless "
                                             "interface= says otherwise")
        self.start_button = widgets.Button(description="Start", icon="play", button_style="success",
                                           tooltip="Start (or restart) a listener for this plugin")
        self.running = widgets.Dropdown(options=[], description="running",
                                        tooltip="The listener Stop acts on")
        self.stop_button = widgets.Button(description="Stop", icon="stop", button_style="danger",
                                          tooltip="Stop the chosen listener and free its port")
        self.message = widgets.HTML()
        # overflow: at 1024 px the last columns were cut off; now they scroll into view
        self.table = widgets.HTML(table_html([]), layout=widgets.Layout(overflow="auto"))
        self.start_button.on_click(lambda _: self.start())
        self.stop_button.on_click(lambda _: self.stop())
        self.children = (
            widgets.HBox((self.plugin, self.endpoint, self.start_button)),
            widgets.HBox((self.running, self.stop_button)), self.message, self.table)
        self._drawn: Any = None
        self._watch = model.watch(self.refresh, interval) if live else None
        self.refresh()

    def start(self) -> Any:
        """Start a listener from the chosen plugin and endpoint; show the result or the error."""
        try:
            listener = model.listen(self.plugin.value, self.endpoint.value.strip() or None)
        except Exception as error:  # noqa: BLE001 - every failure belongs in the panel
            self.message.value = error_html(error)
            return None
        self.message.value = html.escape(f"listening: {listener.name} on {listener.endpoint}")
        self.refresh()
        self.running.value = listener.name
        return listener

    def stop(self, name: str | None = None) -> None:
        """Stop the chosen (or named) listener."""
        name = name or self.running.value
        try:
            model.get_listener(name).stop()
        except Exception as error:  # noqa: BLE001
            self.message.value = error_html(error)
            return
        self.message.value = html.escape(f"stopped: {name}")
        self.refresh()

    def refresh(self) -> None:
        """Redraw the table and the list of running listeners, if anything changed."""
        rows = model.listeners().rows()
        if rows == self._drawn:
            return
        self._drawn = rows
        self.table.value = table_html(rows)
        names = [r["name"] for r in rows]
        if list(self.running.options) != names:
            keep = self.running.value if self.running.value in names else None
            self.running.options = names
            self.running.value = keep or (names[-1] if names else None)

    def close(self) -> None:
        """Stop refreshing, then close the widget."""
        if self._watch is not None:
            self._watch.stop()
            self._watch = None
        super().close()


def listeners_panel(**kwargs):
    """A new :class:`ListenersPanel`."""
    return ListenersPanel(**kwargs)
