"""The ladder view of a traced or stepped Deferred chain, with Step/Run buttons and a detail pane.

A view only: it reads a ``lab.Trace``/``lab.Stepper`` (duck-typed, so this
module imports no Twisted) and forwards clicks to it.  Stages that run in the
reactor thread reach it through ``lab.bridge.deliver``, as every reactor-side
event reaches a view.
"""

import html
import time

from typing import Any

import anywidget
import ipywidgets as widgets
import traitlets

from lab import bridge
from lab.errors import LabError
from lab.widgets._html import error_html
from lab.widgets._live import StaticPicture

__all__ = ["ChainView"]

# Redraw at most this often for a stream of stage events from another
# thread; the events that leave the chain still (a gate, a wait, the end)
# always redraw, so the last picture is never stale.
_MIN_REDRAW_S = 0.1
# A click on a chain living in the reactor waits this long for it to reach a
# gate (a reply on its way); longer would freeze the notebook.
_CLICK_WAIT_S = 3.0


_PICK_ESM = r"""
function render({ model, el }) {
  const box = document.createElement("div");
  el.appendChild(box);
  const draw = () => { box.innerHTML = model.get("value"); };
  box.addEventListener("click", (event) => {
    const stage = event.target.closest && event.target.closest("[data-stage]");
    if (stage) model.send({ event: "pick", index: Number(stage.dataset.stage) });
  });
  model.on("change:value", draw);
  draw();
}
export default { render };
"""


class PickableLadder(anywidget.AnyWidget):
    """The ladder's HTML; a click on a stage (an element with ``data-stage``) tells the kernel.

    The browser sends ``{"event": "pick", "index": N}``; :class:`ChainView`
    selects stage N.  An ``HTML`` widget cannot report clicks, hence this.
    """

    _esm = _PICK_ESM
    value = traitlets.Unicode("").tag(sync=True)


class ChainView(StaticPicture, widgets.VBox):
    """A chain's ladder diagram, a stage picker with its detail pane, and (for a stepper) controls.

    Buttons: Step, Run, Run to next Failure, Reset; each has a programmatic
    twin (``view.step_button.click()``), so tests need no browser.
    """

    def __init__(self, chain: Any) -> None:
        super().__init__()
        self.chain = chain
        self.ladder = PickableLadder()
        self.ladder.add_class("lab-ladder-view")
        self.status = widgets.HTML()
        self.stage_picker = widgets.IntSlider(description="stage", min=0, max=0,
                                              continuous_update=False)
        self.detail = widgets.HTML()
        self.step_button = self._button("Step", "step-forward", "Run exactly one stage")
        self.run_button = self._button("Run", "play", "Run every stage to the end")
        self.failure_button = self._button("Run to next Failure", "bolt",
                                           "Run until a stage ends in a Failure")
        self.reset_button = self._button("Reset", "undo",
                                         "Replay the chain from its first input")
        self._wire()
        self.children = self._layout()
        self._busy = False
        self._last_draw = 0.0
        self._listener = chain.subscribe(self._on_event)
        self.refresh()

    def _button(self, text, icon, tip):
        # width auto: the default 148 px clips "Run to next Failure" at 1280x800.
        return widgets.Button(description=text, icon=icon, tooltip=tip,
                              layout=widgets.Layout(width="auto", min_width="90px"))

    def _wire(self):
        wait = _CLICK_WAIT_S
        self.step_button.on_click(lambda _: self._act(lambda: self.chain.step(wait)))
        self.run_button.on_click(lambda _: self._act(lambda: self.chain.run(wait)))
        self.failure_button.on_click(
            lambda _: self._act(lambda: self.chain.run_until("failure", wait)))
        self.reset_button.on_click(lambda _: self._act(self.chain.reset))
        self.stage_picker.observe(lambda _: self._show_detail(), names="value")
        self.ladder.on_msg(self._picked)

    def _picked(self, _widget, content, _buffers):
        """A stage clicked in the ladder: select it (outline and detail pane)."""
        if not (isinstance(content, dict) and content.get("event") == "pick"):
            return
        index = content.get("index")
        if isinstance(index, int) and 0 <= index <= self.stage_picker.max:
            self.pick(index)

    def pick(self, index: int) -> None:
        """Select stage ``index`` as a click on it in the ladder does (outline, detail pane)."""
        self.stage_picker.value = index
        self.refresh()

    def _layout(self):
        parts = []
        if hasattr(self.chain, "step"):
            parts.append(widgets.HBox((self.step_button, self.run_button,
                                       self.failure_button, self.reset_button)))
        parts += [self.status, self.ladder, self.stage_picker, self.detail]
        return tuple(parts)

    # -- actions -------------------------------------------------------------

    def _act(self, action):
        """Run a button's action; show its error in the status line instead of raising."""
        self._busy = True
        message = ""
        try:
            action()
        except LabError as error:
            message = error_html(error, widget="chain view")
        finally:
            self._busy = False
        self.refresh(select_current=True)
        if message:
            self.status.value = message

    def snapshot_html(self) -> str:
        """The ladder and the status line as they are drawn now."""
        return self.ladder.value + self.status.value

    def close(self) -> None:
        """Stop listening to the chain, then close the widget."""
        self.chain.unsubscribe(self._listener)
        super().close()

    # -- drawing ---------------------------------------------------------------

    def refresh(self, select_current: bool = False) -> None:
        """Redraw the ladder, the stage picker and the detail pane from the chain as it is now."""
        stages = self.chain.stages
        self.stage_picker.max = max(0, len(stages) - 1)
        if select_current and stages:
            self.stage_picker.value = self._interesting(stages)
        selected = self.stage_picker.value if stages else None
        self.ladder.value = self.chain.ladder_html(selected=selected)
        self.status.value = html.escape(self.chain.status)
        self._show_detail()
        self._last_draw = time.monotonic()

    def _interesting(self, stages):
        """The stage to select after an action: the one just run, else the one waiting."""
        position = getattr(self.chain, "position", None)
        reached = [s.index for s in stages if s.ran is not None]
        if reached:
            return reached[-1]
        return position if position is not None else 0

    def _show_detail(self):
        stages = self.chain.stages
        if not stages:
            self.detail.value = f"<i>{html.escape(_no_stage_text(self.chain))}</i>"
            return
        index = min(self.stage_picker.value, len(stages) - 1)
        self.detail.value = self.chain.detail_html(index)

    # -- live updates ----------------------------------------------------------

    def _on_event(self, event):
        """A change in the chain (any thread): redraw through the bridge, throttled."""
        if self._busy:
            return  # our own button action redraws once when it is done
        # Events are matched by name: importing lab.deferreds here would pull
        # twisted.internet.defer into the view layer.
        still = type(event).__name__ in ("GateReached", "ChainEnded", "ChainReset")
        still = still or getattr(event, "waiting", False)
        if still or time.monotonic() - self._last_draw >= _MIN_REDRAW_S:
            bridge.deliver(self.refresh)


def _no_stage_text(chain):
    """Why a chain shows no stage: nothing added yet, or it fired before the lab saw it."""
    deferred = getattr(chain, "deferred", None)
    if getattr(deferred, "called", False) and getattr(chain, "fired_by", None) == "before trace()":
        return ("no stage recorded: this Deferred had already fired (its result is "
                f"{chain.initial}), so whatever callbacks it had ran before lab.step() saw "
                "it. Call lab.step(d) (or lab.trace(d)) right after making the Deferred, "
                "before adding callbacks and before it fires.")
    return "no stage yet: add callbacks to the Deferred"
