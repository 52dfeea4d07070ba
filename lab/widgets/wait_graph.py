"""The wait-graph view: every pending Deferred, what it waits on, and buttons to act on one.

A view over ``lab.pending()`` snapshots: the picture (the snapshot's SVG,
grouped when large), a node list (orphans first, then the largest groups,
bounded), the selected node's details, and Cancel / Fire / Trace.  Refresh
takes a new snapshot; auto-refresh takes one every few seconds through the
model's watch (a LoopingCall that hands the refresh to the kernel side).
"""

import html
from typing import Any

import ipywidgets as widgets

from lab import inspect, model
from lab.widgets._html import error_html

__all__ = ["WaitGraphView", "MAX_OPTIONS"]

MAX_OPTIONS = 300  # nodes listed in the picker; the rest are counted, never listed
_PER_GROUP = 25


class WaitGraphView(widgets.VBox):
    """Pending Deferreds as a wait graph, with a node picker, details and Cancel/Fire/Trace.

    Every action has a programmatic twin: ``view.refresh()``,
    ``view.select(entry_id)``, ``view.cancel_button.click()``,
    ``view.fire_button.click()`` (fires with the text in ``view.fire_value``,
    as a Failure when ``view.fire_as_failure`` is ticked), ``view.trace_button.click()``.
    """

    def __init__(self, snapshot: Any = None, auto: bool = False, interval: float = 2.0,
                 include_internal: bool = False) -> None:
        super().__init__()
        self.add_class("lab-wait-graph-view")
        self.interval = interval
        self.snapshot = snapshot
        self.refresh_button = self._button("Refresh", "refresh", "Take a new snapshot")
        self.auto = widgets.Checkbox(value=False, description="auto-refresh", indent=False,
                                     tooltip=f"Take a snapshot every {interval} s",
                                     layout=widgets.Layout(width="auto"))
        self.internal = widgets.Checkbox(value=include_internal, description="show internal",
                                         indent=False, layout=widgets.Layout(width="auto"),
                                         tooltip="Also show crochet's and the lab's own timers")
        self.summary = widgets.HTML()
        self.picture = widgets.HTML(layout=widgets.Layout(overflow="auto", max_height="420px"))
        self.nodes = widgets.Select(options=[], rows=10, description="",
                                    layout=widgets.Layout(width="100%"))
        self.details = widgets.HTML()
        self.message = widgets.HTML()
        self.fire_value = widgets.Text(value="", placeholder="value to fire with (text)",
                                       layout=widgets.Layout(width="220px"))
        self.fire_as_failure = widgets.Checkbox(value=False, description="as a Failure",
                                                indent=False, layout=widgets.Layout(width="auto"))
        self.cancel_button = self._button("Cancel", "ban", "Cancel the selected Deferred")
        self.fire_button = self._button("Fire", "bolt", "Fire the selected Deferred with the value")
        self.trace_button = self._button("Trace", "list",
                                         "Step the selected Deferred's chain from now on")
        self.chain_box = widgets.VBox()
        self._watch = None
        self._wire()
        self.children = (
            widgets.HBox((self.refresh_button, self.auto, self.internal)),
            self.summary, self.picture, self.nodes, self.details,
            widgets.HBox((self.cancel_button, self.fire_value, self.fire_as_failure,
                          self.fire_button, self.trace_button),
                         layout=widgets.Layout(flex_flow="row wrap")),  # 1024 px: wrap, not clip
            self.message, self.chain_box)
        if snapshot is None:
            self.refresh()
        else:
            self._draw()
        self.auto.value = auto

    def _button(self, text, icon, tip):
        return widgets.Button(description=text, icon=icon, tooltip=tip,
                              layout=widgets.Layout(width="auto", min_width="80px"))

    def _wire(self):
        self.refresh_button.on_click(lambda _: self.refresh())
        self.internal.observe(lambda _: self.refresh(), names="value")
        self.auto.observe(lambda change: self._set_auto(change["new"]), names="value")
        self.nodes.observe(lambda change: self._show(change["new"]), names="value")
        self.cancel_button.on_click(lambda _: self._act(lambda e: e.cancel(), "cancelled"))
        self.fire_button.on_click(lambda _: self._fire())
        self.trace_button.on_click(lambda _: self._trace())

    # -- snapshots ----------------------------------------------------------------

    def refresh(self) -> None:
        """Take a new snapshot and redraw; errors show in the view."""
        try:
            self.snapshot = inspect.pending(include_internal=self.internal.value)
        except Exception as error:  # noqa: BLE001 - the view shows what went wrong
            self.message.value = error_html(error)
            return
        self._draw()

    def _draw(self):
        snapshot = self.snapshot
        self.summary.value = f"<b>{html.escape(snapshot.summary())}</b>"
        self.picture.value = snapshot.svg()
        selected = self.nodes.value
        options = _options(snapshot)
        self.nodes.options = options
        ids = [value for _, value in options]
        self.nodes.value = selected if selected in ids else (ids[0] if ids else None)
        self._show(self.nodes.value)

    def _set_auto(self, on):
        if on and self._watch is None:
            self._watch = model.watch(self.refresh, self.interval)
        elif not on and self._watch is not None:
            self._watch.stop()
            self._watch = None

    # -- the selected node -------------------------------------------------------

    @property
    def selected(self) -> Any:
        """The selected :class:`lab.inspect.Entry`, or None."""
        value = self.nodes.value
        if value is None or self.snapshot is None or value not in self.snapshot:
            return None
        return self.snapshot[value]

    def select(self, entry_id: int) -> None:
        """Select the node of ``entry_id`` (an id of the current snapshot)."""
        entry = self.snapshot.entry(entry_id)
        self.nodes.value = entry.id

    def _show(self, value):
        entry = self.selected
        if entry is None:
            self.details.value = "<i>select a node to see its details</i>" if len(
                self.snapshot or ()) else "<i>no pending Deferreds</i>"
            return
        self.details.value = _details_html(self.snapshot, entry)

    def _act(self, action, done):
        entry = self.selected
        if entry is None:
            self.message.value = error_html(ValueError("select a node first"))
            return
        try:
            action(entry)
        except Exception as error:  # noqa: BLE001 - shown, never raised into the frontend
            self.message.value = error_html(error)
            return
        self.message.value = f"{html.escape(entry.label)} {done}; refreshed."
        self.refresh()

    def _fire(self):
        text = self.fire_value.value
        if self.fire_as_failure.value:
            self._act(lambda e: e.fire(failure=RuntimeError(text or "fired from the view")),
                      "errbacked")
        else:
            self._act(lambda e: e.fire(text), f"fired with {text!r}")

    def _trace(self):
        entry = self.selected
        if entry is None:
            self.message.value = error_html(ValueError("select a node first"))
            return
        try:
            stepper = entry.step()
        except Exception as error:  # noqa: BLE001
            self.message.value = error_html(error)
            return
        from lab.widgets.deferreds import ChainView

        for child in self.chain_box.children:
            child.close()
        self.chain = stepper
        title = widgets.HTML(f"<b>{html.escape(entry.label)}</b>: its chain pauses before each "
                             "stage from now on; Step once it fires.")
        self.chain_box.children = (title, ChainView(stepper))
        self.message.value = f"{html.escape(entry.label)} opened in the stepper below."

    def close(self) -> None:
        """Stop auto-refresh, then close."""
        self._set_auto(False)
        for child in self.chain_box.children:
            child.close()
        super().close()

    def _repr_html_(self):  # what a saved notebook keeps when widgets are not rendered
        return self.snapshot._repr_html_() if self.snapshot is not None else ""


def _options(snapshot):
    """``(label, entry id)`` pairs: orphans first, then groups by size, bounded.

    Only entries are options (a header option would be selectable and mean
    nothing); each label starts with its group's size and site.
    """
    options = []
    for group in snapshot.groups():
        if len(options) >= MAX_OPTIONS:
            break
        entries = sorted(group.entries, key=lambda e: (not e.orphan, e.id))[:_PER_GROUP]
        more = len(group.entries) - len(entries)
        for index, entry in enumerate(entries):
            mark = "ORPHAN " if entry.orphan else "OLD " if entry.old else ""
            where = (f"[{len(group.entries)} x {group.key}"
                     f"{f', {more} not listed' if more and index == 0 else ''}] ")
            options.append((f"{where}{mark}{entry.label} {entry.state}: "
                            f"{entry.waits_on[0].text}"[:200], entry.id))
    return options[:MAX_OPTIONS]


def _details_html(snapshot, entry):
    rows = [("state", entry.state + (" (orphan)" if entry.orphan else "")),
            ("age", "not tracked" if entry.age is None else f"{entry.age:.1f} s"),
            ("created at", str(entry.site) if entry.site else
             "not tracked (lab.track_deferreds(True) records it)"),
            ("callbacks to run", ", ".join(str(c) for c in entry.callbacks) +
             (f" … and {entry.more_callbacks} more" if entry.more_callbacks else "") or "none"),
            ("current value", entry.value or "no result yet"),
            ("waits on", "; ".join(w.text for w in entry.waits_on[:5])),
            ("why", snapshot.why(entry))]
    body = "".join(f"<tr><th style='text-align:left;vertical-align:top'>{html.escape(k)}</th>"
                   f"<td>{html.escape(v)}</td></tr>" for k, v in rows)
    colour = "#cf222e" if entry.orphan else "#24292f"
    return (f"<div class='lab-pending-detail'><b style='color:{colour}'>"
            f"{html.escape(entry.label)}</b><table style='font-size:12px'>{body}</table></div>")
