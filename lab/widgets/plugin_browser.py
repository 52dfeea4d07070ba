"""The plugin browser: every plugin the registry found, its status and errors, and its dependency graph.

    lab.plugins().browser()      # or just `lab.plugins()` as the last line of a cell

A table (name, description, provides, requires, status); a chooser with the
chosen plugin's details (module, file, origin, the error and its traceback);
Load, Unload and Rescan; and a picture of who requires whom, drawn here as
SVG (no Graphviz needed), nodes coloured by status, missing plugins dashed
and the edges of a cycle in red.
"""

import html

from collections.abc import Mapping
from typing import Any

import ipywidgets as widgets

from lab.errors import PluginError

__all__ = ["PluginBrowser", "dependency_svg", "STATUS_COLOURS"]

STATUS_COLOURS = {
    "available": "#0969da",
    "loaded": "#1a7f37",
    "broken": "#cf222e",
    "missing dependency": "#bc4c00",
    "cycle": "#8250df",
    "blocked": "#9a6700",
}
MISSING_COLOUR = "#cf222e"
NODE_W, NODE_H, GAP_X, GAP_Y, MARGIN = 150, 30, 60, 16, 12
ALONE_PER_ROW = 4  # unconnected plugins per row of the graph's top grid


class PluginBrowser(widgets.VBox):
    """A view over a plugin registry: table, details, Load/Unload/Rescan, dependency graph."""

    def __init__(self, registry: Any) -> None:
        super().__init__()
        self.registry = registry
        self.summary = widgets.HTML()
        self.table = widgets.HTML()
        self.chooser = widgets.Dropdown(description="Plugin", options=[],
                                        tooltip="The plugin whose details, Load and Unload apply to")
        self.load_button = widgets.Button(description="Load", icon="play",
                                          tooltip="Load the plugin after its dependencies")
        self.unload_button = widgets.Button(description="Unload", icon="stop",
                                            tooltip="Unload it (refused while a loaded plugin needs it)")
        self.rescan_button = widgets.Button(description="Rescan", icon="refresh",
                                            tooltip="Find plugins written or edited since")
        self.folder = widgets.Text(placeholder="a folder of plugin modules",
                                   tooltip="A folder to scan too (no __init__.py needed)",
                                   layout=widgets.Layout(width="18em"))
        self.add_button = widgets.Button(description="Add folder", icon="folder-open",
                                         tooltip="Scan this folder too, now and on every rescan",
                                         layout=widgets.Layout(width="auto"))
        self.add_button.on_click(lambda _: self.add_folder())
        self.message = widgets.HTML()
        self.details = widgets.HTML()
        self.graph = widgets.HTML()
        self.load_button.on_click(lambda _: self.load())
        self.unload_button.on_click(lambda _: self.unload())
        self.rescan_button.on_click(lambda _: self.rescan())
        self.chooser.observe(lambda _: self.show_details(), names="value")
        actions = widgets.HBox((self.chooser, self.load_button, self.unload_button,
                                self.rescan_button), layout=widgets.Layout(flex_flow="row wrap"))
        folders = widgets.HBox((self.folder, self.add_button),
                               layout=widgets.Layout(flex_flow="row wrap"))
        self.children = (self.summary, self.table, actions, folders, self.message, self.details,
                         self.graph)
        self.refresh()
        registry.observe(self.refresh)  # loads and rescans made in code show here too

    # -- requests from the buttons (each callable from code, as click() does)

    def load(self) -> None:
        """Load the chosen plugin (dependencies first) and say what happened."""
        self._act(lambda name: self.registry.load(name), "loaded")

    def unload(self) -> None:
        """Unload the chosen plugin and say what happened; refused while a listener serves it."""
        serving = _listeners_serving(self.chooser.value)
        if serving:
            where = ", ".join(f"{l.name} on {l.host}:{l.port}" for l in serving)
            return self._say(html.escape(
                f"{self.chooser.value} still serves {where}: stop "
                f"{'that listener' if len(serving) == 1 else 'those listeners'} first (its "
                "row's Stop in the listeners panel), then Unload."), error=True)
        self._act(lambda name: self.registry.unload(name), "unloaded")

    def add_folder(self, folder: str | None = None) -> None:
        """Scan ``folder`` (default: the one typed in the view) too, and rescan; say what it found."""
        folder = (self.folder.value if folder is None else folder).strip()
        if not folder:
            return self._say("type the path of a folder of plugin modules first", error=True)
        try:
            self.registry.add_paths([folder])
            report = self.registry.rescan()
        except (PluginError, OSError, ValueError) as error:
            return self._say(html.escape(str(error)), error=True)
        self.folder.value = ""
        self._say(html.escape(f"added {folder}: {report}"))

    def rescan(self) -> None:
        """Scan the plugin folders again and show what changed."""
        report = self.registry.rescan()
        self._say(html.escape(str(report)))

    def _act(self, action, done):
        name = self.chooser.value
        if name is None:
            return self._say("choose a plugin first", error=True)
        try:
            action(name)
        except PluginError as error:
            return self._say(html.escape(str(error)), error=True)
        self._say(f"{html.escape(name)} {done}")

    def _say(self, text, error=False):
        colour = STATUS_COLOURS["broken"] if error else "inherit"
        self.message.value = f'<div style="color:{colour}">{text}</div>'

    # -- drawing

    def refresh(self) -> None:
        """Redraw the table, the chooser, the details and the graph from the registry."""
        infos = self.registry.infos()
        self.summary.value = _summary_html(infos, self.registry.problems())
        self.table.value = _table_html(infos)
        chosen = self.chooser.value
        self.chooser.options = [i.name for i in infos]
        if chosen in self.chooser.options:
            self.chooser.value = chosen
        elif infos:  # something to look at from the start: a problem first, else the first
            trouble = [i.name for i in infos if i.status not in ("available", "loaded")]
            self.chooser.value = (trouble or [infos[0].name])[0]
        self.show_details()
        statuses = {i.name: i.status for i in infos}
        self.graph.value = dependency_svg(self.registry.graph(), statuses)

    def show_details(self) -> None:
        """Show the chosen plugin's module, file, origin, and its error with the traceback."""
        name = self.chooser.value
        self.details.value = _details_html(self.registry.info(name)) if name else ""
        status = self.registry.info(name).status if name else None
        self.load_button.disabled = status in (None, "loaded")
        self.unload_button.disabled = status != "loaded"


def _listeners_serving(name):
    """The running listeners that serve plugin ``name``."""
    if not name:
        return []
    from lab import model

    return [l for l in model.listeners() if getattr(l, "plugin_name", None) == name]


def _badge(status):
    colour = STATUS_COLOURS.get(status, "#57606a")
    return (f'<span style="background:{colour};color:white;border-radius:8px;'
            f'padding:0 6px">{html.escape(status)}</span>')


def _summary_html(infos, problems):
    counts = {}
    for info in infos:
        counts[info.status] = counts.get(info.status, 0) + 1
    parts = ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
    lines = [f"<b>{len(infos)} plugins</b>: {html.escape(parts) or 'none'}"]
    lines += [f'<div style="color:{STATUS_COLOURS["blocked"]}">{html.escape(str(p))}</div>'
              for p in problems]
    return "".join(lines)


def _table_html(infos):
    head = "".join(f"<th style='text-align:left;padding:2px 8px'>{h}</th>"
                   for h in ("name", "description", "provides", "requires", "status"))
    rows = []
    for info in infos:
        cells = (f"<b>{html.escape(info.name)}</b>", html.escape(info.description),
                 html.escape(", ".join(p for p in info.provides if p != "IPlugin")),
                 html.escape(", ".join(info.requires)) or "&mdash;", _badge(info.status))
        rows.append("<tr>" + "".join(f"<td style='padding:2px 8px'>{c}</td>"
                                      for c in cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def _details_html(info):
    facts = [("status", _badge(info.status)), ("module", html.escape(str(info.module))),
             ("file", html.escape(str(info.file))), ("origin", html.escape(str(info.origin))),
             ("transports", html.escape(", ".join(info.transports)) or "&mdash;"),
             ("loaded", "yes" if info.loaded else "no")]
    rows = "".join(f"<tr><td><b>{k}</b></td><td>{v}</td></tr>" for k, v in facts)
    parts = [f"<h4>{html.escape(info.name)}</h4><table>{rows}</table>"]
    if info.error is not None:
        parts.append(f'<div style="color:{STATUS_COLOURS["broken"]}">'
                     f"{html.escape(str(info.error))}</div>")
        trace = getattr(info.error, "traceback", None)
        if trace:
            parts.append(f'<pre style="font-size:85%">{html.escape(trace)}</pre>')
    return "".join(parts)


# --------------------------------------------------------------------------
# the dependency graph, as SVG

def dependency_svg(graph: Any, statuses: Mapping[str, str]) -> str:
    """An SVG picture of a :class:`~lab.plugin.DependencyGraph`, its layers as columns.

    A plugin is drawn to the right of everything it requires, with an arrow to
    each; a required name that is not a plugin is a dashed node; an edge that
    is part of a cycle is red.  The graph computes order, cycles and layers;
    this only draws them.
    """
    nodes = graph.nodes()
    cyclic = graph.cycle_edges()
    # Plugins that neither require nor are required go in a compact grid on
    # top: a tall column of them would push the interesting part off screen.
    linked = {n for n, deps in graph.items() if deps} | {d for deps in graph.values() for d in deps}
    alone = [n for n in nodes if n not in linked]
    columns = [[n for n in layer if n in linked] for layer in graph.layers()]
    columns = [c for c in columns if c]
    per_row = max(len(columns), ALONE_PER_ROW)
    alone_rows = -(-len(alone) // per_row)
    top = MARGIN + alone_rows * (NODE_H + GAP_Y) + (GAP_Y if alone_rows and columns else 0)
    places = _places(columns, top)
    places.update(_grid_places(alone, per_row))
    height = max([len(c) for c in columns] or [0])
    wide = max(len(columns), min(per_row, len(alone)))
    width = max(wide * (NODE_W + GAP_X) - GAP_X, _LEGEND_W) + 2 * MARGIN
    graph_h = top - MARGIN + max(height * (NODE_H + GAP_Y) - GAP_Y, 0) + GAP_Y
    full_h = graph_h + 2 * MARGIN + 20
    # viewBox + max-width: beside the file browser the graph shrinks to fit instead of being cut.
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{full_h}" '
             f'viewBox="0 0 {width} {full_h}" style="max-width:100%;height:auto" '
             'font-family="sans-serif" font-size="12">',
             _ARROWS, _legend(MARGIN, graph_h + MARGIN)]
    for name in graph:
        for dependency in graph[name]:
            parts.append(_edge(places[name], places[dependency], (name, dependency) in cyclic))
    for name in nodes:
        parts.append(_node(name, places[name], statuses.get(name), name not in graph))
    parts.append("</svg>")
    return "".join(parts)


_ARROWS = ('<defs>'
           '<marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" '
           'markerHeight="7" orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="#57606a"/></marker>'
           '<marker id="arrow-cycle" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" '
           f'markerHeight="7" orient="auto"><path d="M0,0 L10,5 L0,10 z" '
           f'fill="{STATUS_COLOURS["broken"]}"/></marker></defs>')


_LEGEND_ITEMS = [*STATUS_COLOURS.items(), ("missing", None)]
_LEGEND_W = sum(30 + 7 * len(status) for status, _ in _LEGEND_ITEMS)


def _legend(x, y):
    """One line of colour chips: what each node colour means."""
    parts = ['<g class="legend">']
    for status, colour in _LEGEND_ITEMS:
        fill, stroke = (colour, colour) if colour else ("white", MISSING_COLOUR)
        dash = "" if colour else ' stroke-dasharray="3 2"'
        parts.append(f'<rect x="{x}" y="{y + 6}" width="12" height="12" rx="3" '
                     f'fill="{fill}" stroke="{stroke}"{dash}/>'
                     f'<text x="{x + 16}" y="{y + 16}" fill="#57606a">{status}</text>')
        x += 30 + 7 * len(status)
    return "".join(parts) + "</g>"


def _places(columns, top=MARGIN):
    """Top-left corner of each node of the dependency columns, starting at ``top``."""
    places = {}
    for column, names in enumerate(columns):
        for row, name in enumerate(sorted(names)):
            places[name] = (MARGIN + column * (NODE_W + GAP_X), top + row * (NODE_H + GAP_Y))
    return places


def _grid_places(names, per_row):
    """Top-left corner of each unconnected node, ``per_row`` to a row."""
    return {name: (MARGIN + (i % per_row) * (NODE_W + GAP_X),
                   MARGIN + (i // per_row) * (NODE_H + GAP_Y))
            for i, name in enumerate(names)}


def _edge(start, end, on_cycle):
    """An arrow from a plugin's left side to its requirement's right side (curved if it goes right)."""
    x1, y1 = start[0], start[1] + NODE_H / 2
    x2, y2 = end[0] + NODE_W, end[1] + NODE_H / 2
    colour = STATUS_COLOURS["broken"] if on_cycle else "#57606a"
    marker = "arrow-cycle" if on_cycle else "arrow"
    width = 2 if on_cycle else 1
    if x2 > x1:  # a back edge of a cycle: bow it below the nodes
        bow = max(y1, y2) + NODE_H + GAP_Y
        shape = f"M{x1},{y1} C{x1 - GAP_X},{bow} {x2 + GAP_X},{bow} {x2},{y2}"
    elif x1 - x2 > GAP_X:  # skips a column: run in the gap between rows, not behind a node
        bow = max(y1, y2) + (NODE_H + GAP_Y) / 2
        shape = f"M{x1},{y1} C{x1 - GAP_X},{bow} {x2 + GAP_X},{bow} {x2},{y2}"
    else:
        shape = f"M{x1},{y1} L{x2},{y2}"
    return (f'<path class="edge{" cycle" if on_cycle else ""}" d="{shape}" fill="none" '
            f'stroke="{colour}" stroke-width="{width}" marker-end="url(#{marker})"/>')


def _node(name, place, status, missing):
    """A rounded box: filled with its status colour, or dashed and white for a missing plugin."""
    x, y = place
    label = name if len(name) <= 18 else name[:17] + "…"
    if missing:
        box = (f'<rect x="{x}" y="{y}" width="{NODE_W}" height="{NODE_H}" rx="6" fill="white" '
               f'stroke="{MISSING_COLOUR}" stroke-dasharray="4 3"/>')
        text_fill, title = MISSING_COLOUR, f"{name}: missing (no plugin has this name)"
        label = f"? {label}"
    else:
        colour = STATUS_COLOURS.get(status, "#57606a")
        box = (f'<rect x="{x}" y="{y}" width="{NODE_W}" height="{NODE_H}" rx="6" '
               f'fill="{colour}" stroke="{colour}"/>')
        text_fill, title = "white", f"{name}: {status}"
    return (f'<g class="node" data-name="{html.escape(name)}" '
            f'data-status="{"missing" if missing else html.escape(str(status))}">'
            f"<title>{html.escape(title)}</title>{box}"
            f'<text x="{x + NODE_W / 2}" y="{y + NODE_H / 2 + 4}" text-anchor="middle" '
            f'fill="{text_fill}">{html.escape(label)}</text></g>')
