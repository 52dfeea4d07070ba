"""The listeners panel: pick a plugin and an endpoint, Start; each running listener's row has its own Stop.

Why actions live on rows: a shared "running" chooser with one Stop button
let the choice move by itself while the user reached for the button (a
second click stopped a different listener, a third raised ``KeyError``).
Each row's buttons hold that row's listener, nothing else; a stopped
listener's row goes away with its buttons.  Start never silently replaces a
running listener: with no name given it picks a free one (``echo``,
``echo-2``, ...); with the name of a running listener it replaces it and says
so, with the connections that closed.

The table refreshes from a shared model watch (a few times a second, only
when a count changed), so it stays live while other cells run.
"""

import html
from typing import Any

import ipywidgets as widgets
import traitlets

import lab
from lab import model
from lab.widgets._html import error_html
from lab.widgets._live import LiveMixin, StaticPicture

__all__ = ["ListenersPanel", "listeners_panel", "FALLBACK_PLUGINS", "COLUMNS", "table_html"]

FALLBACK_PLUGINS = ("echo", "chat", "discard", "daytime", "qotd", "time")
# (header, tooltip, how a stats row shows in it)
COLUMNS = (
    ("name", "The listener's name (lab.model.get_listener(name))", lambda r: r["name"]),
    ("serves", "The plugin (or factory) it serves", lambda r: r.get("serves") or r["plugin"]),
    ("address", "Where clients connect (the endpoint string is in the tooltip)",
     lambda r: _address(r["endpoint"])),
    ("conns", "connections open now / ever (and how many were cut short by a limit)",
     lambda r: f"{r['open']} / {r['connections']}"
     + (f" ({r['limited']} limited)" if r.get("limited") else "")
     + (f" ({r['refused']} refused)" if r.get("refused") else "")),
    ("bytes in/out", "bytes received from clients / sent to them",
     lambda r: f"{r['bytes_in']} / {r['bytes_out']}"),
    ("events", "captured events kept (dropped: pushed out by the bound)",
     lambda r: f"{r['events']}" + (f" ({r['dropped']} dropped)" if r["dropped"] else "")),
    ("errors", "exceptions the protocol raised", lambda r: r["errors"]),
)
# Columns take what their content needs; a long name or address wraps inside its cell.
_GRID = "minmax(4em,auto) minmax(4em,auto) minmax(7em,auto) auto auto auto auto max-content"
_WRAP = "display:inline-block;white-space:normal;overflow-wrap:anywhere;line-height:1.3"
_KEEP = "display:inline-block;white-space:nowrap;line-height:1.3"
_WRAPPED = ("name", "serves", "address")  # the columns whose text may be long


def _address(endpoint):
    """``host:port`` from an endpoint string such as ``tcp:8000:interface=127.0.0.1``."""
    parts = endpoint.split(":")
    host = next((p.split("=", 1)[1] for p in parts if p.startswith("interface=")), None)
    if host is not None and len(parts) > 1 and parts[1].isdigit():
        return f"{host}:{parts[1]}"
    return endpoint


def _plugin_names():
    """Protocol plugins the registry knows (or the shipped ones if it cannot say)."""
    try:
        registry = lab.plugins()
        names = [n for n in registry.names() if "IProtocolPlugin" in registry.info(n)["provides"]]
        return names or list(FALLBACK_PLUGINS)
    except Exception:  # noqa: BLE001 - a broken registry must not break this panel
        return list(FALLBACK_PLUGINS)


def table_html(rows):
    """The listeners' stats as an HTML table (readable headers, one row per listener)."""
    head = "".join(f'<th title="{html.escape(tip)}">{html.escape(title)}</th>'
                   for title, tip, _ in COLUMNS)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(show(r)))}</td>"
                                    for _, _, show in COLUMNS) + "</tr>" for r in rows)
    if not rows:
        body = f'<tr><td colspan="{len(COLUMNS)}"><i>no listeners running</i></td></tr>'
    return f'<table class="lab-listeners-table"><tr>{head}</tr>{body}</table>{refusals_html(rows)}'


def refusals_html(rows):
    """The last connection each listener refused (and why), one line per listener."""
    return "".join(f'<div class="lab-refusal"><b>{html.escape(r["name"])}</b> '
                   f'{html.escape(r["last_refusal"])}</div>'
                   for r in rows if r.get("last_refusal"))


class _Row:
    """One running listener's cells and its own buttons."""

    def __init__(self, panel, listener):
        self.listener = listener
        self.cells = [widgets.HTML(layout=widgets.Layout(height="auto")) for _ in COLUMNS]
        self.show_button = widgets.Button(description="", icon="eye", tooltip=(
            f"Show {listener.name}'s traffic and a client for it (the dashboard's tabs)"),
            layout=widgets.Layout(width="auto"))
        self.stop_button = widgets.Button(description="Stop", icon="stop", button_style="danger",
                                          tooltip=f"Stop {listener.name} and free port "
                                                  f"{listener.port}",
                                          layout=widgets.Layout(width="auto"))
        self.show_button.on_click(lambda _: panel.select(listener))
        self.stop_button.on_click(lambda _: panel.stop(listener))
        self.actions = widgets.HBox((self.show_button, self.stop_button))
        self.drawn = None

    def draw(self, stats, selected):
        """Fill the cells from ``stats`` (only when something changed)."""
        key = (tuple(sorted(stats.items())), selected)
        if key == self.drawn:
            return
        self.drawn = key
        weight = "bold" if selected else "normal"
        for cell, (title, _, show) in zip(self.cells, COLUMNS):
            text = str(show(stats))
            tip = stats["endpoint"] if title == "address" else text
            style = _WRAP if title in _WRAPPED else _KEEP
            cell.value = (f'<span style="font-weight:{weight};{style}" '
                          f'title="{html.escape(tip)}">{html.escape(text)}</span>')
        running = self.listener.running
        self.stop_button.disabled = not running
        self.show_button.disabled = not running or selected

    def close(self):
        """Close the row's widgets."""
        for part in (*self.cells, self.show_button, self.stop_button, self.actions):
            part.close()


class ListenersPanel(StaticPicture, LiveMixin, widgets.VBox):
    """Start listeners, and see and act on each running one in its own row, live.

    ``selected`` is the listener the user last started or chose with a row's
    Show button (the dashboard's tabs follow it); None when there is none.
    """

    selected = traitlets.Any(None, allow_none=True)

    def __init__(self, live: bool = True, interval: float = 0.5) -> None:
        super().__init__()
        self.add_class("lab-listeners-panel")
        self.plugin = widgets.Dropdown(options=_plugin_names(), value=None,
                                       description="plugin", tooltip="The protocol to serve",
                                       layout=widgets.Layout(width="auto"))
        if "echo" in self.plugin.options:
            self.plugin.value = "echo"
        self.endpoint = widgets.Text(value="", placeholder="tcp:0", description="endpoint",
                                     tooltip="Twisted endpoint string; 127.0.0.1 unless "
                                             "interface= says otherwise",
                                     layout=widgets.Layout(width="14em"))
        self.name = widgets.Text(value="", placeholder="(a free name)", description="name",
                                 tooltip="Optional; the name of a running listener replaces it",
                                 layout=widgets.Layout(width="13em"))
        self.start_button = widgets.Button(description="Start", icon="play", button_style="success",
                                           tooltip="Start a new listener for this plugin",
                                           layout=widgets.Layout(width="auto"))
        self.message = widgets.HTML()
        self.refusals = widgets.HTML()
        self.grid = widgets.GridBox(layout=widgets.Layout(
            grid_template_columns=_GRID, grid_gap="2px 6px", width="100%", overflow="auto",
            justify_content="flex-start",
            align_items="center"))
        self.grid.add_class("lab-listeners-table")
        self.start_button.on_click(lambda _: self.start())
        self.children = (
            widgets.HBox((self.plugin, self.endpoint, self.name, self.start_button),
                         layout=widgets.Layout(flex_flow="row wrap")),
            self.message, self.grid, self.refusals)
        self._rows: dict[str, _Row] = {}  # listener name -> _Row of the listener object running under it
        self._header = [widgets.HTML(f'<b title="{html.escape(tip)}" style="{_KEEP}">'
                                     f"{html.escape(title)}</b>", layout=widgets.Layout(height="auto"))
                        for title, tip, _ in COLUMNS] + [widgets.HTML("<b>actions</b>")]
        self._empty = widgets.HTML("<i>no listeners running: choose a plugin and Start</i>",
                                   layout=widgets.Layout(grid_column="1 / -1"))
        self._drawn: Any = None
        if live:
            self._start_live(interval)
        self.refresh()

    @property
    def table(self) -> widgets.HTML:
        """The running listeners as one HTML table (what the rows show, for tests and saving)."""
        return widgets.HTML(table_html(self._stats()))

    def _stats(self):
        return [r for r in model.listeners().rows()]

    def _free_name(self, base):
        taken = {r["name"] for r in self._stats()}
        if base not in taken:
            return base
        return next(f"{base}-{n}" for n in range(2, 10_000) if f"{base}-{n}" not in taken)

    def start(self) -> Any:
        """Start a listener from the chosen plugin, endpoint and name; say what it replaced, if anything."""
        plugin = self.plugin.value
        if plugin is None:
            self.message.value = error_html(ValueError("choose a plugin to serve first"))
            return None
        wanted = self.name.value.strip()
        name = wanted or self._free_name(plugin)
        replaced = None
        try:
            replaced = model.get_listener(name) if wanted else None
        except KeyError:
            pass
        closing = replaced.capture.open_count if replaced is not None else 0
        try:
            listener = model.listen(plugin, self.endpoint.value.strip() or None, name=name)
        except Exception as error:  # noqa: BLE001 - every failure belongs in the panel
            self.message.value = error_html(error, widget="listeners panel")
            return None
        note = f"listening: {listener.name} on {listener.endpoint}"
        if replaced is not None:
            note += (f" (replaced the running {name} on port {replaced.port}, closing "
                     f"{closing} open connection{'s' if closing != 1 else ''})")
        self.message.value = html.escape(note)
        self.selected = listener
        self.refresh()
        return listener

    def select(self, listener: Any) -> None:
        """Make ``listener`` (a Listener or a running listener's name) the selected one."""
        if isinstance(listener, str):
            listener = model.get_listener(listener)
        self.selected = listener
        self.refresh()

    def stop(self, listener: Any = None) -> None:
        """Stop ``listener`` (a Listener or a name; default: the selected one); say what closed."""
        listener = self.selected if listener is None else listener
        if isinstance(listener, str):
            try:
                listener = model.get_listener(listener)
            except KeyError as error:
                self.message.value = error_html(error)
                return
        if listener is None or not listener.running:
            self.message.value = error_html(ValueError(
                "nothing to stop: that listener is not running (its row is gone)"))
            self.refresh()
            return
        closing = listener.capture.open_count
        try:
            listener.stop()
        except Exception as error:  # noqa: BLE001
            self.message.value = error_html(error)
            return
        self.message.value = html.escape(
            f"stopped: {listener.name} (port {listener.port} freed, {closing} open "
            f"connection{'s' if closing != 1 else ''} closed)")
        if self.selected is listener:
            self.selected = None
        self.refresh()

    def refresh(self) -> None:
        """Redraw the rows, if anything changed."""
        stats = self._stats()
        refusals = refusals_html(stats)
        if self.refusals.value != refusals:
            self.refusals.value = refusals
        running = {l.name: l for l in model.listeners()}
        for name in list(self._rows):
            if running.get(name) is not self._rows[name].listener:
                self._rows.pop(name).close()
        for name, listener in running.items():
            if name not in self._rows:
                self._rows[name] = _Row(self, listener)
        if self.selected is not None and not self.selected.running:
            self.selected = None
        for row_stats in stats:
            row = self._rows.get(row_stats["name"])
            if row is not None:
                row.draw(row_stats, row.listener is self.selected)
        layout = tuple(self._rows)
        if layout != self._drawn:
            self._drawn = layout
            cells = list(self._header)
            for row in self._rows.values():
                cells += [*row.cells, row.actions]
            self.grid.children = tuple(cells) if self._rows else (*self._header, self._empty)

    def snapshot_html(self) -> str:
        """The running listeners as one table."""
        return table_html(self._stats())

    def close(self) -> None:
        """Stop refreshing, then close the widget."""
        self._stop_live()
        for row in self._rows.values():
            row.close()
        super().close()


def listeners_panel(**kwargs):
    """A new :class:`ListenersPanel`."""
    return ListenersPanel(**kwargs)
