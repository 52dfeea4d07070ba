"""A protocol stepper: feed bytes to a pure protocol core and watch it work, one event at a time.

Type a byte stream (or take one a client sent, from a listener's capture),
press Feed, then Step: each step is one ``next_event()`` of the core's
parser and the reply its engine gives.  The parser's state, its buffer and
the command waiting for data are shown after every step.

The default core is a memcached connection (:mod:`lab.protocols.memcached`)
on a private cache, so stepping never touches a running server.  Views stay
reactor-free: this module imports no ``twisted.internet`` and no crochet.
"""

import codecs
import html
from collections import deque

from collections.abc import Callable
from typing import Any

import ipywidgets as widgets

__all__ = ["ProtocolStepper", "parse_typed"]

MAX_STEPS_SHOWN = 200  # the log keeps the latest steps; older ones scroll away
MAX_RUN = 10_000  # one "Run" never loops forever on a core that keeps producing events
MAX_REPLAY = 1024 * 1024  # bytes kept so that Reset can replay the stream from its start
_PREVIEW = 80


def parse_typed(text, newline_is_crlf=True):
    """Bytes from what a person typed: ``\\r\\n`` escapes work; a newline may mean CRLF."""
    if newline_is_crlf:
        text = text.replace("\r\n", "\n").replace("\n", "\r\n")
    data = text.encode("latin-1", "backslashreplace")
    return codecs.escape_decode(data)[0]


def _memcached_core():
    from lab.protocols.memcached import Connection

    return Connection()


def _preview(data):
    shown = repr(bytes(data[:_PREVIEW]))
    return shown + (f" ... ({len(data)} bytes)" if len(data) > _PREVIEW else "")


class ProtocolStepper(widgets.VBox):
    """Step a protocol core through a byte stream and show its state.

    ``core`` needs ``receive_data(bytes)`` and ``step()`` returning an object
    with ``event``, ``reply`` and ``describe()``; a memcached
    :class:`~lab.protocols.memcached.Connection` is made when none is given.
    Every button has a method twin: :meth:`feed`, :meth:`step`, :meth:`run`,
    :meth:`reset` (a fresh core, the same bytes fed again from the start) and
    :meth:`clear` (a fresh core, nothing fed).
    """

    def __init__(self, core: Any = None, data: bytes = b"",
                 core_factory: Callable[[], Any] = _memcached_core) -> None:
        super().__init__()
        self._factory = core_factory
        self.core = core if core is not None else core_factory()
        self.steps: deque = deque(maxlen=MAX_STEPS_SHOWN)
        self.fed = bytearray()  # what was fed, for Reset (bounded by MAX_REPLAY)
        self.input = widgets.Textarea(
            value=data.decode("latin-1") if isinstance(data, bytes) else data,
            placeholder="set greeting 0 0 5\\r\\nhello\\r\\nget greeting\\r\\n",
            layout=widgets.Layout(width="100%", height="6em"))
        self.crlf = widgets.Checkbox(value=True, description="newline sends \\r\\n",
                                     indent=False)
        self.feed_button = widgets.Button(description="Feed", icon="download",
                                          tooltip="Give the typed bytes to the parser")
        self.step_button = widgets.Button(description="Step", icon="step-forward",
                                          tooltip="Parse and run one event")
        self.run_button = widgets.Button(description="Run", icon="fast-forward",
                                         tooltip="Step until the parser needs more data")
        self.reset_button = widgets.Button(description="Reset", icon="refresh",
                                           tooltip="Start over: a fresh core (empty cache), "
                                                   "the same bytes fed again")
        self.clear_button = widgets.Button(description="Clear", icon="eraser",
                                           tooltip="A fresh core with nothing fed")
        self.state_view = widgets.HTML()
        self.history = widgets.HTML()
        self.feed_button.on_click(lambda _: self.feed())
        self.step_button.on_click(lambda _: self.step())
        self.run_button.on_click(lambda _: self.run())
        self.reset_button.on_click(lambda _: self.reset())
        self.clear_button.on_click(lambda _: self.clear())
        buttons = (self.feed_button, self.step_button, self.run_button, self.reset_button,
                   self.clear_button, self.crlf)
        self.children = (self.input, widgets.HBox(buttons), self.state_view, self.history)
        self._render()

    # -- actions ------------------------------------------------------------

    def feed(self, data: Any = None) -> int:
        """Give bytes to the core: ``data``, or what is typed in the box (which then clears)."""
        if data is None:
            data = parse_typed(self.input.value, self.crlf.value)
            self.input.value = ""
        elif isinstance(data, str):
            data = parse_typed(data, self.crlf.value)
        self.core.receive_data(bytes(data))
        self.fed += data[:max(0, MAX_REPLAY - len(self.fed))]
        self._render()
        return len(data)

    def feed_capture(self, capture: Any, connection: int) -> int:
        """Feed what a client sent on ``connection`` of a listener's ``capture``."""
        return self.feed(capture.stream(connection, "in"))

    def step(self) -> Any:
        """One event: parse it, run it, show it; returns the step (its event may be NEED_DATA)."""
        done = self.core.step()
        if repr(done.event) != "NEED_DATA":
            self.steps.append(done)
        self._render(last=done)
        return done

    def run(self) -> Any:
        """Step until the core needs more data (or closes); return the steps taken."""
        taken = []
        for _ in range(MAX_RUN):
            done = self.core.step()
            if repr(done.event) == "NEED_DATA":
                break
            taken.append(done)
            self.steps.append(done)
            if getattr(self.core, "closed", None) is not None:
                break
        self._render(last=taken[-1] if taken else None)
        return taken

    def reset(self) -> None:
        """Start over: a fresh core (for memcached: an empty cache) fed the same bytes again."""
        self.core = self._factory()
        self.steps.clear()
        self.core.receive_data(bytes(self.fed))
        self._render()

    def clear(self) -> None:
        """Forget everything: a fresh core and nothing fed."""
        self.fed.clear()
        self.reset()

    # -- view -----------------------------------------------------------------

    def state_summary(self) -> dict[str, str]:
        """The parser's state as ``{name: text}`` (what the state panel shows)."""
        parser = getattr(self.core, "parser", None)
        if parser is None:
            return {"core": repr(self.core)}
        pending = getattr(parser, "pending", None)
        summary = {
            "state": str(getattr(parser, "state", "?")),
            "buffered": f"{parser.buffered} bytes {repr(bytes(parser.peek(_PREVIEW)))}",
        }
        if pending is not None:
            summary["waiting for data of"] = pending.describe().split(" (")[0]
        expected = getattr(parser, "expected", 0)
        if expected:
            here = min(parser.buffered, expected)
            summary["data block"] = (f"{here} of {expected} bytes here (with the final \\r\\n), "
                                     f"{expected - here} still to come")
        if getattr(self.core, "closed", None) is not None:
            summary["connection"] = self.core.closed.describe()
        return summary

    def _render(self, last=None):
        rows = "".join(f"<tr><th style='text-align:left;padding-right:1em'>{html.escape(k)}"
                       f"</th><td><code>{html.escape(v)}</code></td></tr>"
                       for k, v in self.state_summary().items())
        self.state_view.value = f"<table class='lab-stepper-state'>{rows}</table>"
        self.history.value = self._log_html(last)

    def _log_html(self, last):
        lines = []
        for number, done in enumerate(self.steps, 1):
            style = " style='background:#fff8c5'" if done is last else ""
            reply = _preview(done.reply) if done.reply else "(no reply)"
            lines.append(f"<li{style}><b>{html.escape(done.describe())}</b> &rarr; "
                         f"<code>{html.escape(reply)}</code></li>")
        if last is not None and repr(last.event) == "NEED_DATA":
            lines.append("<li><i>needs more data: feed more bytes</i></li>")
        return f"<ol class='lab-stepper-log'>{''.join(lines)}</ol>"
