"""The conversation view: what each connection said, both ways, as text, hex or decoded.

Why it stays responsive at 100,000 events: it never draws them all.  A
model watch calls :meth:`ConversationView.refresh` a few times a second;
refresh returns at once when nothing changed, and otherwise draws only the
last ``max_rows`` events of the chosen connection.  Decoding (through the
plugin's decoder) is incremental: each refresh feeds only the events that
arrived since the last one, at most ``MAX_DECODE_PER_REFRESH`` of them.
"""

import html
import time
from collections import OrderedDict, deque

from typing import Any

import ipywidgets as widgets

from lab import model

__all__ = ["ConversationView", "conversation_view", "hex_dump", "show_text"]

MAX_DECODE_PER_REFRESH = 5_000  # ~50 ms of decoding: live refreshes run in the reactor thread
MAX_DECODED_LINES = 2_000
MAX_SHOWN_BYTES = 512  # of one event; the rest is summarised
MAX_CONNECTION_CHOICES = 200
MAX_DECODERS = 1_000  # one per connection; the least recently fed goes first
_ARROWS = {"in": ("&rarr;", "#0969da", "client"), "out": ("&larr;", "#cf222e", "server"),
           "connect": ("+", "#1a7f37", ""), "close": ("&times;", "#6e7781", "")}


def show_text(data):
    """Bytes as readable text: UTF-8 where it decodes, escapes for control bytes and CR/LF."""
    text = data.decode("utf-8", "backslashreplace")
    text = "".join(ch if ch.isprintable() or ch == " " else repr(ch)[1:-1] for ch in text)
    return text


def hex_dump(data, width=16):
    """Bytes as hex dump lines: offset, hex bytes, printable ASCII."""
    lines = []
    for at in range(0, len(data), width):
        chunk = data[at:at + width]
        ascii_ = "".join(chr(b) if 32 <= b < 127 else "." for b in chunk)
        lines.append(f"{at:04x}  {chunk.hex(' '):<{width * 3}} {ascii_}")
    return "\n".join(lines)


def _clock(timestamp):
    millis = int(timestamp % 1 * 1000)
    return time.strftime("%H:%M:%S", time.localtime(timestamp)) + f".{millis:03d}"


def _body(event, mode):
    if event.kind == "connect":
        return f"connection #{event.connection} opened"
    if event.kind == "close":
        return f"connection #{event.connection} closed: {event.reason}"
    data, more = event.data[:MAX_SHOWN_BYTES], len(event.data) - MAX_SHOWN_BYTES
    shown = hex_dump(data) if mode == "hex" else show_text(data)
    return shown + (f" ... (+{more} bytes)" if more > 0 else "")


def event_row(event, mode):
    """One event as an HTML table row."""
    arrow, colour, who = _ARROWS[event.kind]
    body = html.escape(_body(event, mode))
    return (f'<tr style="color:{colour}"><td>{_clock(event.time)}</td><td>#{event.connection}</td>'
            f"<td>{arrow} {who}</td><td><pre style=\"margin:0\">{body}</pre></td></tr>")


def _decoded_row(item):
    seq, connection, direction, line, stamp = item
    arrow, colour, who = _ARROWS[direction]
    return (f'<tr style="color:{colour}"><td>{_clock(stamp)}</td><td>#{connection}</td>'
            f'<td>{arrow} {who}</td><td><pre style="margin:0">{html.escape(line)}</pre></td></tr>')


def _table(rows):
    return ('<div class="lab-conversation" style="max-height:24em;overflow-y:auto;'
            'font-family:monospace"><table>' + "".join(rows) + "</table></div>")


class _Decoding:
    """Feeds new events to one decoder per connection; keeps the last decoded lines."""

    def __init__(self, build):
        self.build, self.decoders, self.cursor = build, OrderedDict(), 0
        self.lines = deque(maxlen=MAX_DECODED_LINES)
        # Per connection too: busy neighbours must not push a quiet connection's
        # lines out of the shared window (a load test next to a raw session).
        self.by_connection = OrderedDict()
        self.errors = deque(maxlen=5)

    def lines_of(self, connection):
        """The decoded lines kept for one connection, or for all when ``connection`` is None."""
        if connection is None:
            return list(self.lines)
        return list(self.by_connection.get(connection, ()))

    def advance(self, capture):
        """Decode what arrived since last time (bounded); return how many events are left."""
        seen = capture.seq  # before reading, so nothing recorded meanwhile is skipped
        events = capture.events(since=self.cursor, kinds=("in", "out"))
        batch = events[:MAX_DECODE_PER_REFRESH]
        for event in batch:
            self._feed(event)
        if len(events) > len(batch):
            self.cursor = batch[-1].seq
            return len(events) - len(batch)
        self.cursor = max([seen] + [e.seq for e in batch[-1:]])
        return 0

    def _feed(self, event):
        decoder = self.decoders.get(event.connection)
        if decoder is None:
            decoder = self.decoders[event.connection] = self.build()
            self.by_connection[event.connection] = deque(maxlen=MAX_DECODED_LINES)
            if len(self.decoders) > MAX_DECODERS:
                self.by_connection.pop(self.decoders.popitem(last=False)[0], None)
        else:
            self.decoders.move_to_end(event.connection)
        try:
            for line in decoder.feed(event.kind, event.data):
                item = (event.seq, event.connection, event.kind, str(line), event.time)
                self.lines.append(item)
                self.by_connection[event.connection].append(item)
        except Exception as error:  # noqa: BLE001 - a decoder bug shows here, not as a crash
            self.errors.append(
                f"decoder failed on event {event.seq}: {type(error).__name__}: {error}")


class ConversationView(widgets.VBox):
    """Per connection, both directions of a listener's captured traffic, live."""

    def __init__(self, listener: Any, connection: int | None = None, mode: str = "text",
                 live: bool = True, max_rows: int = 200,
                 interval: float = 0.25) -> None:
        super().__init__()
        self.listener, self.capture, self.max_rows = listener, listener.capture, max_rows
        modes = ["text", "hex"] + (["decoded"] if self._decoder_factory() else [])
        tips = ["UTF-8 text", "hex dump", "the plugin's decoder"][:len(modes)]
        self.mode = widgets.ToggleButtons(options=modes, value=mode if mode in modes else "text",
                                          tooltips=tips)
        self.connection = widgets.Dropdown(options=[("all connections", None)], value=None,
                                           description="connection",
                                           tooltip="Whose conversation to show")
        self.paused = widgets.ToggleButton(value=False, description="Pause", icon="pause",
                                           tooltip="Stop updating while you read")
        self.status = widgets.HTML()
        self.body = widgets.HTML()
        self.render_seconds = 0.0
        self._drawn_key: Any = None
        self._decoding = None
        for control in (self.mode, self.connection, self.paused):
            control.observe(lambda _: self.refresh(), names="value")  # unpausing catches up
        controls = widgets.HBox((self.connection, self.mode, self.paused))
        self.children = (controls, self.status, self.body)
        if connection is not None:
            self._update_choices(force=True)
            self.connection.value = connection
        self._watch = model.watch(self.refresh, interval) if live else None
        self.refresh()

    def _decoder_factory(self):
        try:
            return self.listener.decoder() and self.listener.decoder
        except Exception:  # noqa: BLE001 - no decoder, no decoded mode
            return None

    def _update_choices(self, force=False):
        known = self.capture.connection_count
        if not force and known == getattr(self, "_choices_for", None):
            return
        self._choices_for = known
        conns = self.capture.connections()[-MAX_CONNECTION_CHOICES:]
        options = [("all connections", None)] + [
            (f"#{c.id} {c.peer[0]}:{c.peer[1]} {'open' if c.is_open else 'closed'}", c.id)
            for c in conns]
        current = self.connection.value
        self.connection.options = options
        self.connection.value = current if current in [v for _, v in options] else None

    def refresh(self) -> None:
        """Redraw if new events arrived or the choice changed (cheap when nothing did)."""
        if self.paused.value:
            return
        key = (self.capture.seq, self.connection.value, self.mode.value)
        if key == self._drawn_key:
            return
        started = time.perf_counter()
        self._update_choices()
        self._drawn_key = key
        rows, note = self._rows()
        self.body.value = _table(rows)
        self.render_seconds = time.perf_counter() - started
        self.status.value = self._status(len(rows), note)

    def _rows(self):
        if self.mode.value == "decoded":
            return self._decoded_rows()
        events = self.capture.tail(self.max_rows, self.connection.value)
        return [event_row(e, self.mode.value) for e in events], ""

    def _decoded_rows(self):
        if self._decoding is None:
            self._decoding = _Decoding(self.listener.decoder)
        behind = self._decoding.advance(self.capture)
        if behind:
            self._drawn_key = None  # draw again next tick: decoding is not done
        chosen = self.connection.value
        lines = self._decoding.lines_of(chosen)
        note = "; ".join(self._decoding.errors)
        if behind:
            note += f" decoding, {behind} events to go"
        return [_decoded_row(i) for i in lines[-self.max_rows:]], note

    def _status(self, shown, note):
        cap = self.capture
        text = (f"{shown} rows shown of {len(cap)} events kept ({cap.dropped} dropped, "
                f"{cap.connection_count} connections); "
                f"drawn in {self.render_seconds * 1000:.1f} ms")
        errors = ""
        if cap.errors:
            last = html.escape(cap.errors[-1].message)
            errors = f" &middot; protocol errors: {len(cap.errors)} (last: {last})"
        extra = f' &middot; <span style="color:#cf222e">{html.escape(note)}</span>' if note else ""
        return f"<small>{html.escape(text)}{errors}{extra}</small>"

    def close(self) -> None:
        """Stop refreshing, then close the widget."""
        if self._watch is not None:
            self._watch.stop()
            self._watch = None
        super().close()


def conversation_view(listener, **kwargs):
    """A new :class:`ConversationView` of ``listener``'s traffic."""
    return ConversationView(listener, **kwargs)
