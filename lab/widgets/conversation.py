"""The conversation view: what each connection said, both ways, as text, hex or decoded.

Why it stays responsive at 100,000 events: it never draws them all.  A
shared model watch calls :meth:`ConversationView.refresh` a few times a
second; refresh returns at once when nothing changed, and otherwise draws
only the last ``max_rows`` events of the chosen connection.  Decoding
(through the plugin's decoder) is incremental: each refresh feeds only the
events that arrived since the last one, at most ``MAX_DECODE_PER_REFRESH`` of
them.  Rows are drawn into a :class:`~lab.widgets._live.LiveLog`, which
follows the newest row while the reader is at the bottom.
"""

import html
import time
from typing import Any
from collections import OrderedDict, deque

import ipywidgets as widgets

from lab.widgets._html import error_html
from lab.widgets._live import LiveLog, LiveMixin, StaticPicture

__all__ = ["ConversationView", "conversation_view", "hex_dump", "show_text", "event_rows"]

MAX_DECODE_PER_REFRESH = 5_000  # ~50 ms of decoding: live refreshes run in the reactor thread
MAX_DECODED_LINES = 2_000
MAX_SHOWN_BYTES = 512  # of one event; the rest is summarised
MAX_CONNECTION_CHOICES = 200
MAX_DECODERS = 1_000  # one per connection; the least recently fed goes first
ALL = -1  # the connection choice "all connections" (a Dropdown shows a blank box for None)
# Direction words a reader cannot misread: "in" is what the server received.
_DIRECTIONS = {"in": ("client &rarr; server", "#0969da"), "out": ("server &rarr; client", "#cf222e"),
               "connect": ("opened", "#1a7f37"), "close": ("closed", "#6e7781"),
               "pending": ("client &rarr; server", "#9a6700")}
_HEAD = ("<tr><th title='seconds since the top row'>t (s)</th>"
         "<th title='seconds since the row above'>&Delta; (s)</th><th>conn</th>"
         "<th>direction</th><th title='bytes in this chunk @ where it starts in its "
         "direction&#39;s stream'>size @ offset</th><th>data</th></tr>")


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


def _body(event, mode):
    if event.kind == "connect":
        return f"connection #{event.connection} opened"
    if event.kind == "close":
        return f"connection #{event.connection} closed: {event.reason}"
    data, more = event.data[:MAX_SHOWN_BYTES], len(event.data) - MAX_SHOWN_BYTES
    shown = hex_dump(data) if mode == "hex" else show_text(data)
    return shown + (f" ... (+{more} bytes)" if more > 0 else "")


def _row(stamp, start, previous, connection, kind, size, body):
    words, colour = _DIRECTIONS[kind]
    delta = "" if previous is None else f"{stamp - previous:+.3f}"
    return (f'<tr style="color:{colour}"><td>{stamp - start:.3f}</td><td>{delta}</td>'
            f"<td>#{connection}</td><td style='white-space:nowrap'>{words}</td>"
            f"<td style='white-space:nowrap'>{size}</td>"
            f'<td><pre style="margin:0;white-space:pre-wrap">{html.escape(body)}</pre></td></tr>')


def event_rows(events, mode, start=None):
    """Events as HTML table rows: relative and delta times, direction in words, size @ offset."""
    rows, previous = [], None
    start = events[0].time if events and start is None else start
    for event in events:
        size = f"{len(event.data)} B @ {event.offset}" if event.kind in ("in", "out") else ""
        rows.append(_row(event.time, start, previous, event.connection, event.kind, size,
                         _body(event, mode)))
        previous = event.time
    return rows


def event_row(event, mode):
    """One event as an HTML table row (times relative to the event itself)."""
    return event_rows([event], mode)[0]


def _strip_arrow(line):
    # Decoders may start a line with their own arrow; the direction column says it already.
    for arrow in ("-> ", "<- "):
        if line.startswith(arrow):
            return line[len(arrow):]
    return line


def _decoded_rows(items):
    rows, previous = [], None
    start = items[0][4] if items else 0.0
    for seq, connection, kind, line, stamp in items:
        if kind == "pending":  # drawn last, whatever its time: no delta to the row above
            previous = None
        rows.append(_row(stamp, start, previous, connection, kind, "", _strip_arrow(line)))
        previous = stamp
    return rows


def _table(rows):
    return '<table class="lab-conversation">' + _HEAD + "".join(rows) + "</table>"


def _matches(text, needle):
    return needle.lower() in text.lower()


class _Decoding:
    """Feeds new events to one decoder per connection; keeps the last decoded lines."""

    def __init__(self, build):
        self.build, self.decoders, self.cursor = build, OrderedDict(), 0
        self.lines = deque(maxlen=MAX_DECODED_LINES)
        # Per connection too: busy neighbours must not push a quiet connection's
        # lines out of the shared window (a load test next to a raw session).
        self.by_connection = OrderedDict()
        self.errors = deque(maxlen=5)
        self.pending = {}  # (connection, direction) -> (bytes not yet decoded, time)

    def lines_of(self, connection):
        """The decoded lines kept for one connection, or for all when ``connection`` is None."""
        if connection is None:
            return list(self.lines)
        return list(self.by_connection.get(connection, ()))

    def advance(self, capture):
        """Decode what arrived since last time (bounded); return how many events are left."""
        seen = capture.seq  # before reading, so nothing recorded meanwhile is skipped
        batch = capture.events(since=self.cursor, limit=MAX_DECODE_PER_REFRESH)
        for event in batch:
            self._feed(event)
        if len(batch) == MAX_DECODE_PER_REFRESH and batch[-1].seq < seen:
            self.cursor = batch[-1].seq
            return seen - self.cursor
        self.cursor = max([seen] + [e.seq for e in batch[-1:]])
        return 0

    def pending_of(self, connection):
        """Rows for bytes fed but not yet decoded into a line (an incomplete message), per connection."""
        chosen = self.pending if connection is None else {
            k: v for k, v in self.pending.items() if k[0] == connection}
        return [(0, cid, "pending", f"(incomplete, not yet a whole message: {len(data)} B "
                 f"{show_text(data[-MAX_SHOWN_BYTES:])!r})", stamp)
                for (cid, _), (data, stamp) in chosen.items() if data]

    def _keep(self, item):
        self.lines.append(item)
        self.by_connection[item[1]].append(item)

    def _decoder_of(self, connection):
        decoder = self.decoders.get(connection)
        if decoder is None:
            decoder = self.decoders[connection] = self.build()
            self.by_connection[connection] = deque(maxlen=MAX_DECODED_LINES)
            if len(self.decoders) > MAX_DECODERS:
                gone = self.decoders.popitem(last=False)[0]
                self.by_connection.pop(gone, None)
                for direction in ("in", "out"):
                    self.pending.pop((gone, direction), None)
        else:
            self.decoders.move_to_end(connection)
        return decoder

    def _feed(self, event):
        decoder = self._decoder_of(event.connection)
        if event.kind in ("connect", "close"):
            self._keep((event.seq, event.connection, event.kind,
                        _body(event, "text"), event.time))
            return
        try:
            lines = decoder.feed(event.kind, event.data)
        except Exception as error:  # noqa: BLE001 - a decoder bug shows here, not as a crash
            self.errors.append(
                f"decoder failed on event {event.seq}: {type(error).__name__}: {error}")
            return
        for line in lines:
            self._keep((event.seq, event.connection, event.kind, str(line), event.time))
        key = (event.connection, event.kind)
        if event.kind == "in":  # what the client sent that the decoder still waits on
            if lines:  # a whole message ended in this chunk: what follows its last line waits
                rest = event.data[event.data.rfind(b"\n") + 1:]
            else:
                rest = self.pending.get(key, (b"", 0))[0] + event.data
            self.pending[key] = (rest[-MAX_SHOWN_BYTES:], event.time)


class ConversationView(StaticPicture, LiveMixin, widgets.VBox):
    """Per connection, both directions of a listener's captured traffic, live.

    The newest rows are at the bottom and the view follows them; scroll up to
    read and it stops following (and stops redrawing) until you scroll back to
    the bottom.  ``search`` keeps only the rows that contain a text; Export
    writes the kept events of the chosen connection as a ``.pcap`` file.
    """

    def __init__(self, listener: Any, connection: int | None = None, mode: str = "text",
                 live: bool = True, max_rows: int = 200, interval: float = 0.25) -> None:
        super().__init__()
        self.add_class("lab-conversation-view")
        self.listener, self.capture, self.max_rows = listener, listener.capture, max_rows
        modes = ["text", "hex"] + (["decoded"] if self._decoder_factory() else [])
        tips = ["UTF-8 text", "hex dump", "the plugin's decoder"][:len(modes)]
        self.mode = widgets.ToggleButtons(options=modes, value=mode if mode in modes else "text",
                                          tooltips=tips, style={"button_width": "auto"},
                                          layout=widgets.Layout(width="auto"))
        self.connection = widgets.Dropdown(options=[("all connections", ALL)], value=ALL,
                                           description="connection",
                                           tooltip="Whose conversation to show",
                                           layout=widgets.Layout(width="auto", min_width="16em"))
        self.direction = widgets.Dropdown(
            options=[("both directions", "both"), ("client \u2192 server", "in"),
                     ("server \u2192 client", "out")], value="both",
            tooltip="Show one direction only", layout=widgets.Layout(width="auto"))
        self.search = widgets.Text(placeholder="search", continuous_update=True,
                                   tooltip="Show only rows containing this text",
                                   layout=widgets.Layout(width="12em"))
        self.paused = widgets.ToggleButton(value=False, description="Pause", icon="pause",
                                           tooltip="Stop updating while you read",
                                           layout=widgets.Layout(width="auto"))
        self.export_button = widgets.Button(description=".pcap", icon="download",
                                            tooltip="Write the kept events of the chosen "
                                                    "connection as a .pcap file (Wireshark)",
                                            layout=widgets.Layout(width="auto"))
        self.export_button.on_click(lambda _: self.export_pcap())
        self.status = widgets.HTML()
        self.rows = LiveLog()
        self.render_seconds = 0.0
        self._drawn_key: Any = None
        self._decoding: _Decoding | None = None
        for control in (self.mode, self.connection, self.paused, self.direction, self.search):
            control.observe(lambda _: self.refresh(), names="value")  # unpausing catches up
        self.rows.observe(lambda _: self.refresh(), names="following")
        controls = widgets.HBox((self.connection, self.direction, self.mode, self.search,
                                 self.paused, self.export_button),
                                layout=widgets.Layout(flex_flow="row wrap"))
        self.children = (controls, self.status, self.rows)
        if connection is not None:
            self._update_choices(force=True)
            self.connection.value = connection
        if live:
            self._start_live(interval)
        self.refresh()

    @property
    def chosen(self) -> int | None:
        """The connection id shown, or None for all connections."""
        return None if self.connection.value == ALL else self.connection.value

    def _decoder_factory(self):
        try:
            return self.listener.decoder() and self.listener.decoder
        except Exception:  # noqa: BLE001 - no decoder, no decoded mode
            return None

    def _update_choices(self, force=False):
        known = (self.capture.connection_count, self.capture.open_count)
        if not force and known == getattr(self, "_choices_for", None):
            return
        self._choices_for = known
        conns = self.capture.connections()[-MAX_CONNECTION_CHOICES:]
        options = [("all connections", ALL)] + [
            (f"#{c.id} {c.peer[0]}:{c.peer[1]} {'open' if c.is_open else 'closed'}", c.id)
            for c in conns]
        current = self.connection.value
        self.connection.options = options
        self.connection.value = current if current in [v for _, v in options] else ALL

    def refresh(self) -> None:
        """Redraw if new events arrived or a choice changed (cheap when nothing did).

        While the reader has scrolled up (``log.following`` is False) the rows
        stay as they are; the status line counts what arrived meanwhile.
        """
        if self.paused.value:
            return
        key = (self.capture.seq, self.connection.value, self.mode.value, self.direction.value,
               self.search.value)
        if key == self._drawn_key:
            return
        if not self.rows.following and self._drawn_key is not None \
                and key[1:] == self._drawn_key[1:]:
            waiting = self.capture.seq - self._drawn_key[0]
            self.status.value = (f"<small><b>not following</b> (you scrolled up): {waiting} new "
                                 "events; scroll to the bottom to follow again</small>")
            return
        started = time.perf_counter()
        self._update_choices()
        self._drawn_key = key
        rows, note = self._rows()
        self.rows.html = _table(rows)
        self.render_seconds = time.perf_counter() - started
        self.status.value = self._status(len(rows), note)

    def _wanted(self, kind, text):
        if self.direction.value != "both" and kind in ("in", "out", "pending") \
                and kind.replace("pending", "in") != self.direction.value:
            return False
        return not self.search.value or _matches(text, self.search.value)

    def _rows(self):
        if self.mode.value == "decoded":
            return self._decoded_rows()
        filtered = self.direction.value != "both" or self.search.value
        events = self.capture.tail(self.max_rows * (20 if filtered else 1), self.chosen)
        if filtered:
            events = [e for e in events if self._wanted(e.kind, _body(e, self.mode.value))]
        return event_rows(events[-self.max_rows:], self.mode.value), ""

    def _decoded_rows(self):
        if self._decoding is None:
            self._decoding = _Decoding(self.listener.decoder)
        behind = self._decoding.advance(self.capture)
        if behind:
            self._drawn_key = None  # draw again next tick: decoding is not done
        lines = self._decoding.lines_of(self.chosen) + self._decoding.pending_of(self.chosen)
        lines = [item for item in lines if self._wanted(item[2], item[3])]
        note = "; ".join(self._decoding.errors)
        if behind:
            note += f" decoding, {behind} events to go"
        return _decoded_rows(lines[-self.max_rows:]), note

    def export_pcap(self, path: Any = None) -> Any:
        """Write the kept events (of the chosen connection) as a ``.pcap`` file; return its path."""
        if path is None:
            which = "all" if self.chosen is None else f"conn{self.chosen}"
            path = f"{self.listener.name}-{which}-{time.strftime('%H%M%S')}.pcap"
        try:
            written = self.capture.write_pcap(path, self.chosen)
        except Exception as error:  # noqa: BLE001 - a failed export shows in the view
            self.status.value = error_html(error)
            return None
        self.status.value = (f"<small>wrote <code>{html.escape(str(written))}</code> "
                             "(open it in Wireshark or <code>tshark -r</code>)</small>")
        self._drawn_key = None
        return written

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

    def snapshot_html(self) -> str:
        """The status line and the rows as they are drawn now."""
        return self.status.value + self.rows.html

    def close(self) -> None:
        """Stop refreshing, then close the widget."""
        self._stop_live()
        super().close()


def conversation_view(listener, **kwargs):
    """A new :class:`ConversationView` of ``listener``'s traffic."""
    return ConversationView(listener, **kwargs)
