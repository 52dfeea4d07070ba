"""The client console: type text or hex, send it to a listener, watch the transcript.

Replies arrive in the reactor thread; a shared model watch redraws the
transcript when the client's version counter moves, so the kernel never
blocks on a read.  The transcript follows its newest line while the reader is
at the bottom (a :class:`~lab.widgets._live.LiveLog`).  Enter sends, like
Send; an empty input is refused rather than sending a bare line ending.
"""

import html
from typing import Any

import ipywidgets as widgets

from lab import model
from lab.widgets._html import error_html
from lab.widgets._live import LiveLog, LiveMixin, StaticPicture
from lab.widgets.conversation import hex_dump, show_text

__all__ = ["ClientConsole", "client_console", "parse_input"]

MAX_ROWS = 200
MAX_SHOWN_BYTES = 2048  # of one entry; a 200 KB message is drawn shortened
_MARKS = {"sent": ("&gt;", "#0969da"), "received": ("&lt;", "#cf222e"), "note": ("#", "#6e7781")}


def parse_input(text, mode, line_ending=""):
    """The bytes to send for what was typed: UTF-8 text (plus ``line_ending``) or hex digits."""
    if not text.strip() if mode == "hex" else not text:
        raise ValueError("nothing to send: type something first (the line ending is added "
                         "to what you type; choose ending 'none' to send text without one).")
    if mode == "hex":
        digits = "".join(text.split())
        try:
            return bytes.fromhex(digits)
        except ValueError:
            raise ValueError(
                f"{text!r} is not hex: write pairs of hex digits such as '68 69 0d 0a'.") from None
    return text.encode("utf-8") + line_ending.encode("ascii")


def transcript_html(transcript, mode):
    """The last ``MAX_ROWS`` transcript entries as HTML."""
    rows = []
    for entry in list(transcript)[-MAX_ROWS:]:
        mark, colour = _MARKS[entry.direction]
        hexed = mode == "hex" and entry.direction != "note"
        data, more = entry.data[:MAX_SHOWN_BYTES], len(entry.data) - MAX_SHOWN_BYTES
        shown = hex_dump(data) if hexed else show_text(data)
        if more > 0:
            shown += f" ... (+{more} bytes not shown; {len(entry.data)} in all)"
        rows.append(f'<div style="color:{colour}"><b>{mark}</b> <pre style="display:inline;'
                    f'margin:0;white-space:pre-wrap">{html.escape(shown)}</pre></div>')
    return '<div class="lab-transcript">' + "".join(rows) + "</div>"


class ClientConsole(StaticPicture, LiveMixin, widgets.VBox):
    """A client for one listener or endpoint: text or hex input, Send (or Enter), Close, and a transcript."""

    def __init__(self, target: Any, live: bool = True, interval: float = 0.25) -> None:
        super().__init__()
        self.target = target
        self.client: Any = None
        self.input = widgets.Text(placeholder="type here, then Enter or Send", description="send",
                                  tooltip="Text, or hex digits in hex mode; Enter sends; "
                                          "Send connects if needed")
        # Enter in the box: the front end sends a "submit" message (what the
        # deprecated Text.on_submit listened to).
        self.input.on_msg(self._input_message)
        self.mode = widgets.ToggleButtons(options=["text", "hex"], value="text",
                                          tooltips=["send UTF-8 text",
                                                    "send hex digits, e.g. 68 69 0d 0a"])
        self.line_ending = widgets.Dropdown(options=[("CRLF", "\r\n"), ("LF", "\n"), ("none", "")],
                                            value="\r\n", description="ending",
                                            tooltip="Appended to text input")
        self.send_button = widgets.Button(description="Send", icon="paper-plane",
                                          tooltip="Send the input (connects first if needed)")
        self.close_button = widgets.Button(description="Close", icon="times",
                                           tooltip="Close the connection")
        self.message = widgets.HTML()
        self.transcript = LiveLog(html=transcript_html([], "text"), max_height="20em")
        self.transcript.observe(self._following_changed, names="following")
        self.send_button.on_click(lambda _: self.send())
        self.close_button.on_click(lambda _: self.close_connection())
        self.mode.observe(lambda _: self.refresh(force=True), names="value")
        self.children = (widgets.HBox((self.input, self.send_button, self.close_button)),
                         widgets.HBox((self.mode, self.line_ending)), self.message, self.transcript)
        self._drawn: Any = None
        if live:
            self._start_live(interval)

    def _following_changed(self, change):
        if change["new"]:  # back at the bottom: catch up
            self._drawn: Any = None
            self.refresh()

    def _input_message(self, _widget, content, _buffers):
        if isinstance(content, dict) and content.get("event") == "submit":
            self.send()

    def _error(self, error):
        self.message.value = error_html(error)

    def connect(self) -> Any:
        """Connect (again) to the target; errors show in the console."""
        try:
            self.client = model.connect(self.target)
        except Exception as error:  # noqa: BLE001 - every failure belongs in the console
            self._error(error)
            return None
        self.message.value = html.escape(f"connected to {self.client.address}")
        self.refresh(force=True)
        return self.client

    def send(self, text: str | None = None) -> None:
        """Send the input box (or ``text``) as text or hex; errors show in the console."""
        text = self.input.value if text is None else text
        try:
            data = parse_input(text, self.mode.value, self.line_ending.value)
        except ValueError as error:
            self._error(error)
            return
        if (self.client is None or not self.client.is_open) and self.connect() is None:
            return
        try:
            self.client.send(data)
        except Exception as error:  # noqa: BLE001
            self._error(error)
            return
        self.message.value = html.escape(f"sent {len(data)} bytes")
        self.input.value = ""
        self.refresh(force=True)

    def close_connection(self) -> None:
        """Close the client's connection."""
        if self.client is not None:
            try:
                self.client.close()
            except Exception as error:  # noqa: BLE001
                self._error(error)
                return
            self.message.value = "closed"
            self.refresh(force=True)

    def refresh(self, force: bool = False) -> None:
        """Redraw the transcript if it changed."""
        if self.client is None:
            return
        key = (self.client.version, self.mode.value)
        if key == self._drawn and not force:
            return
        if not self.transcript.following and self._drawn is not None \
                and key[1] == self._drawn[1]:
            # The reader scrolled up: keep what they read; say that more arrived.
            self.message.value = ("<small><b>not following</b> (you scrolled up): new lines "
                                  "arrived; scroll to the bottom to follow again</small>")
            return
        self._drawn = key
        self.transcript.html = transcript_html(self.client.transcript, self.mode.value)

    def snapshot_html(self) -> str:
        """The transcript as it is drawn now."""
        return self.transcript.html

    def close(self) -> None:
        """Stop refreshing, then close the widget (the connection stays as it is)."""
        self._stop_live()
        super().close()


def client_console(target, **kwargs):
    """A new :class:`ClientConsole` talking to ``target`` (a Listener, port or endpoint string)."""
    return ClientConsole(target, **kwargs)
