"""What live views share: a scrolling log that follows the newest rows, and one refresh per view.

Why a widget of its own for the log: an ``HTML`` widget whose value is
replaced loses its scroll position on every refresh (the conversation view
jumped to its top 8 refreshes out of 8), and ipywidgets cannot tell the kernel
where the reader has scrolled.  :class:`LiveLog` keeps one scrolling box in
the browser, replaces only its content, stays at the bottom while the reader
is there, and reports ``following`` back: a view stops redrawing while the
reader has scrolled up (the rows they read stay put) and catches up when they
return to the bottom.

:class:`LiveMixin` gives a view one model watch whose refresh is skipped
while none of the view's outputs is on screen any more (a re-run cell's old
output), so views that are gone cost nothing.
"""

import anywidget
import traitlets

from lab import model

__all__ = ["LiveLog", "LiveMixin", "StaticPicture"]

_ESM = r"""
function render({ model, el }) {
  const box = document.createElement("div");
  box.className = "lab-live-log";
  box.style.overflowY = "auto";
  box.style.overflowX = "auto";
  box.style.fontFamily = "var(--jp-code-font-family, monospace)";
  el.appendChild(box);
  const atBottom = () => box.scrollHeight - box.scrollTop - box.clientHeight < 8;
  const draw = () => {
    box.style.maxHeight = model.get("max_height");
    box.innerHTML = model.get("html");
    if (model.get("following")) {
      box.scrollTop = box.scrollHeight;
    }
  };
  box.addEventListener("scroll", () => {
    if (!box.clientHeight) return;  // hidden (another tab): no opinion
    const bottom = atBottom();
    if (bottom !== model.get("following")) {
      model.set("following", bottom);
      model.save_changes();
    }
  });
  model.on("change:html", draw);
  model.on("change:max_height", draw);
  model.on("change:following", () => {
    if (model.get("following") && !atBottom()) box.scrollTop = box.scrollHeight;
  });
  draw();
  // Shown later (a tab becomes visible): start at the newest rows.
  new ResizeObserver(() => {
    if (model.get("following")) box.scrollTop = box.scrollHeight;
  }).observe(box);
}
export default { render };
"""


class LiveLog(anywidget.AnyWidget):
    """A scrolling HTML log that follows its newest (bottom) rows while the reader is at the bottom."""

    _esm = _ESM
    html = traitlets.Unicode("").tag(sync=True)
    max_height = traitlets.Unicode("24em").tag(sync=True)
    following = traitlets.Bool(True).tag(sync=True)



class StaticPicture:
    """Adds a static HTML copy of a view to its display, for saved notebooks and viewers without widgets.

    Why: a notebook saved without widget state (or shown on a site that runs
    no widgets) showed ``ConversationView(children=(HBox(...`` where the view
    was.  JupyterLab with a kernel still draws the live widget (its mime type
    ranks first); everything else shows this picture of the moment it was
    displayed.  Views define ``snapshot_html()``.
    """

    def snapshot_html(self) -> str:
        """The view as static HTML (override)."""
        return ""

    def _repr_mimebundle_(self, **kwargs):
        bundle = super()._repr_mimebundle_(**kwargs)
        if isinstance(bundle, dict):
            try:
                picture = self.snapshot_html()
            except Exception:  # noqa: BLE001 - a picture must never break display
                picture = ""
            if picture:
                bundle["text/html"] = (f'<div class="lab-static-picture" title="a picture of '
                                       f'the view when it was shown">{picture}</div>')
        return bundle


class LiveMixin:
    """One shared-timer refresh for a view, skipped while the view has no output on screen."""

    _watch = None
    _had_views = False

    def _start_live(self, interval):
        if self._view_count is None:
            self._view_count = 0  # ask the front end to count this view's outputs
            self.observe(self._views_changed, names="_view_count")
        self._watch = model.watch(self._live_tick, interval)

    def _views_changed(self, change):
        if change["new"]:
            self._had_views = True
            self.refresh()

    def _live_tick(self):
        if self._had_views and not self._view_count:
            return  # every output showing this view was cleared: nothing to draw
        self.refresh()

    def _stop_live(self):
        if self._watch is not None:
            self._watch.stop()
            self._watch = None
