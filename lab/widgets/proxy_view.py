"""The proxy panel: both legs side by side, held messages to edit and release, faults.

Live through a model watch (redrawn only when the capture or the proxy's
held list changed).  Every control has a programmatic trigger
(``panel.forward_button.click()``), so tests need no browser.
"""

import html
from typing import Any

import ipywidgets as widgets

from lab import model
from lab.model._proxy_html import legs_html
from lab.widgets._html import error_html

__all__ = ["ProxyPanel", "to_escaped", "from_escaped"]

_FAULT_FIELDS = (("delay", "delay s", widgets.FloatText),
                 ("jitter", "jitter s", widgets.FloatText),
                 ("rate", "bytes/s", widgets.IntText), ("fragment", "fragment B", widgets.IntText),
                 ("close_after_messages", "close at msgs", widgets.IntText),
                 ("close_after_bytes", "close at bytes", widgets.IntText),
                 ("seed", "seed", widgets.IntText))


def to_escaped(data: bytes) -> str:
    """Bytes as editable text: printable ASCII as is, ``\\r``, ``\\n`` (then a line break), ``\\xNN``."""
    out = []
    for byte in data:
        if byte == 0x5C:
            out.append("\\\\")
        elif byte == 0x0D:
            out.append("\\r")
        elif byte == 0x0A:
            out.append("\\n\n")
        elif byte == 0x09:
            out.append("\\t")
        elif 32 <= byte < 127:
            out.append(chr(byte))
        else:
            out.append(f"\\x{byte:02x}")
    return "".join(out)


def from_escaped(text: str) -> bytes:
    """The bytes :func:`to_escaped` wrote (line breaks are layout; other text is UTF-8)."""
    text = text.replace("\n", "")
    out, at = bytearray(), 0
    while at < len(text):
        char = text[at]
        if char != "\\":
            out += char.encode("utf-8")
            at += 1
            continue
        code = text[at + 1:at + 2]
        simple = {"\\": b"\\", "r": b"\r", "n": b"\n", "t": b"\t", "0": b"\0"}
        if code in simple:
            out += simple[code]
            at += 2
        elif code == "x" and len(text) >= at + 4:
            out.append(int(text[at + 2:at + 4], 16))
            at += 4
        else:
            raise ValueError(f"unknown escape {text[at:at + 2]!r} at {at}; use \\\\, \\r, \\n, "
                             "\\t or \\xNN")
    return bytes(out)


class ProxyPanel(widgets.VBox):
    """One proxy: legs side by side, held messages with a text/hex editor, intercept and faults."""

    def __init__(self, proxy: Any, live: bool = True, interval: float = 0.3) -> None:
        super().__init__()
        self.add_class("lab-proxy-panel")
        self.proxy = proxy
        self.header = widgets.HTML()
        # 0 stands for "the latest" (None would show as an empty choice).
        self.connection = widgets.Dropdown(description="connection", options=[("latest", 0)],
                                           value=0, tooltip="Which proxied connection")
        self.legs = widgets.HTML()
        # intercept
        self.direction = widgets.Dropdown(options=["both", "to_server", "to_client"],
                                          value="both", description="intercept")
        self.match = widgets.Text(placeholder="text to match (empty: every message)",
                                  description="match")
        self.intercept_button = widgets.ToggleButton(description="Intercept", icon="hand-paper-o",
                                                     tooltip="Hold matching messages")
        # held messages
        self.held = widgets.Select(options=[], rows=5, description="held",
                                   layout=widgets.Layout(width="100%"))
        self.edit_mode = widgets.ToggleButtons(options=["text", "hex"], value="text",
                                               tooltips=["escaped text", "hex bytes"])
        self.editor = widgets.Textarea(layout=widgets.Layout(width="100%", height="7em"))
        self.forward_button = widgets.Button(description="Forward", icon="play",
                                             button_style="success",
                                             tooltip="Send the message as edited")
        self.drop_button = widgets.Button(description="Drop", icon="trash", button_style="danger",
                                          tooltip="Never send this message")
        self.forward_all_button = widgets.Button(description="Forward all", icon="forward",
                                                 tooltip="Send every held message unchanged")
        # faults
        self.fault_inputs = {key: kind(description=label, value=0,
                                       layout=widgets.Layout(width="190px"),
                                       style={"description_width": "95px"})
                             for key, label, kind in _FAULT_FIELDS}
        self.reset = widgets.Checkbox(description="reset instead of close", value=False)
        self.fault_button = widgets.Button(description="Apply faults", icon="bolt",
                                           button_style="warning")
        self.clear_faults_button = widgets.Button(description="Clear faults", icon="eraser")
        self.message = widgets.HTML()
        self.notes = widgets.HTML()
        self._drawn: tuple | None = None
        self._editing = None
        self._held: dict[int, Any] = {}
        self.intercept_button.observe(lambda _: self._intercept(), names="value")
        self.held.observe(lambda _: self._load_editor(), names="value")
        self.edit_mode.observe(lambda change: self._switch_mode(change), names="value")
        self.connection.observe(lambda _: self.refresh(force=True), names="value")
        self.forward_button.on_click(lambda _: self._act(self._forward))
        self.drop_button.on_click(lambda _: self._act(self._drop))
        self.forward_all_button.on_click(lambda _: self._act(self.proxy.release_all))
        self.fault_button.on_click(lambda _: self._act(self._apply_faults))
        self.clear_faults_button.on_click(lambda _: self._act(self._clear_faults))
        faults = widgets.GridBox(list(self.fault_inputs.values()) + [self.reset],
                                 layout=widgets.Layout(grid_template_columns=(
                                     "repeat(auto-fill, minmax(200px, 1fr))")))
        self.children = (
            self.header, self.connection,
            widgets.Box((self.legs,), layout=widgets.Layout(max_height="22em", overflow="auto")),
            widgets.HBox((self.direction, self.match, self.intercept_button)),
            self.held, widgets.HBox((self.edit_mode,)), self.editor,
            widgets.HBox((self.forward_button, self.drop_button, self.forward_all_button)),
            widgets.HTML("<b>faults</b>"), faults,
            widgets.HBox((self.fault_button, self.clear_faults_button)),
            self.message, self.notes)
        self._watch = model.watch(self.refresh, interval) if live else None
        self.refresh(force=True)

    # -- drawing ---------------------------------------------------------------------

    def refresh(self, force: bool = False) -> None:
        """Redraw what changed since the last time (cheap when nothing did)."""
        proxy = self.proxy
        key = (proxy.capture.seq, proxy.version, self.connection.value)
        if key == self._drawn and not force:
            return
        self._drawn = key
        faults = repr(proxy.faults) if proxy.faults else "none"
        self.header.value = (f"<b>{html.escape(proxy.name)}</b>: {html.escape(proxy.endpoint)} "
                             f"&rarr; {html.escape(proxy.target_address)} &middot; framer "
                             f"<code>{html.escape(proxy.framing.name)}</code> &middot; faults "
                             f"<code>{html.escape(faults)}</code>")
        legs = proxy.legs()
        options = [("latest", 0)] + [(f"#{c} (server leg #{s})", c) for c, s in legs[-100:]]
        if [v for _, v in options] != [v for _, v in self.connection.options]:
            current = self.connection.value
            self.connection.options = options
            self.connection.value = current if current in [v for _, v in options] else 0
        self.legs.value = legs_html(proxy, self.connection.value or None)
        held = proxy.held
        self._held = {m.id: m for m in held}
        choices = [(f"#{m.id} conn #{m.connection} {m.direction}: {m.describe()[:60]}", m.id)
                   for m in held]
        if choices != list(self.held.options):
            current = self.held.value
            self.held.options = choices
            ids = [v for _, v in choices]
            self.held.value = current if current in ids else (ids[0] if ids else None)
        notes = list(proxy.notes)[-6:]
        self.notes.value = "<br>".join(f"<small>#{n.connection}: {html.escape(n.text)}</small>"
                                       for n in notes)

    def _load_editor(self):
        message = self._held.get(self.held.value) if self.held.value else None
        self._editing = message
        if message is None:
            self.editor.value = ""
            return
        self.editor.value = (to_escaped(message.data) if self.edit_mode.value == "text"
                             else message.data.hex(" "))

    def _switch_mode(self, change):
        try:
            data = self._editor_bytes(change["old"])
        except ValueError as error:
            self.message.value = error_html(str(error))
            return
        self.editor.value = to_escaped(data) if change["new"] == "text" else data.hex(" ")

    def _editor_bytes(self, mode=None):
        mode = mode or self.edit_mode.value
        if mode == "hex":
            return bytes.fromhex(self.editor.value)
        return from_escaped(self.editor.value)

    # -- actions -----------------------------------------------------------------------

    def _act(self, action):
        try:
            result = action()
        except Exception as error:  # noqa: BLE001 - shown in the panel, the kernel goes on
            self.message.value = error_html(f"{type(error).__name__}: {error}")
            return
        self.message.value = f"<small>done: {html.escape(str(result))[:200]}</small>"
        self.refresh(force=True)

    def _intercept(self):
        if self.intercept_button.value:
            self.proxy.intercept(self.direction.value, self.match.value or None)
        else:
            self.proxy.intercept(None)

    def _chosen(self):
        if self._editing is None:
            raise ValueError("no held message is chosen")
        return self._editing

    def _forward(self):
        message = self._chosen()
        data = self._editor_bytes()
        self.proxy.forward(message, data if data != message.data else None)
        return f"forwarded #{message.id}"

    def _drop(self):
        message = self._chosen()
        self.proxy.drop(message)
        return f"dropped #{message.id}"

    def _apply_faults(self):
        settings = {key: box.value for key, box in self.fault_inputs.items() if box.value}
        if self.reset.value:
            settings["reset"] = True
        return self.proxy.fault(**settings)

    def _clear_faults(self):
        self.proxy.fault()
        return "faults cleared"

    def close(self) -> None:
        """Stop refreshing, then close."""
        if self._watch is not None:
            self._watch.stop()
            self._watch = None
        super().close()
