"""The ladder diagram: a chain drawn as two columns, callbacks and errbacks, as static SVG.

Pure string building, so the picture shows in a live notebook, in a saved
one, and in exported HTML alike.  Each row is a stage; the path the result
took is drawn from row to row (green while it is a value, red while it is a
Failure) with the value written on each edge; the stage the chain is paused
before is marked.  Long chains show their head, their tail, and a window
around the interesting stage, so the picture stays small.
"""

from html import escape
from typing import NamedTuple

__all__ = ["Picture", "render", "detail", "MAX_ROWS"]

MAX_ROWS = 36
VALUE, FAIL, GATE, MUTED, LINE, SELECT = (
    "#1a7f37", "#cf222e", "#bf8700", "#8c959f", "#d0d7de", "#0969da")
WIDTH, GUTTER, BOX_W, BOX_H, PITCH, GAP_H, TOP = 640, 96, 220, 30, 64, 40, 96
CENTRES = {"callback": GUTTER + 4 + BOX_W // 2, "errback": GUTTER + 44 + BOX_W * 3 // 2}
_FONT = "font-family:ui-monospace,SFMono-Regular,Menlo,monospace"
# Width of one character of the monospace font at 12 px (11 px for edge labels), a little
# generous, so that a label cut to fit its box never runs over the box's edge.
CHAR_W, EDGE_CHAR_W = 7.6, 7.0


def _fit(text, width, char_w=CHAR_W, padding=12):
    """``text`` cut (with an ellipsis) so that it fits ``width`` pixels."""
    return _cut(text, max(4, int((width - padding) / char_w)))


class Picture(NamedTuple):
    """Everything the ladder shows, read from a trace at one moment."""

    stages: tuple
    title: str
    initial: str | None
    fired_by: str | None
    status: str
    done: bool
    unhandled: bool
    failed: bool
    gate: int | None
    notes: tuple
    members: tuple


def _cut(text, limit):
    text = "" if text is None else str(text)
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


def _rows(picture, selected):
    """Stage indexes to draw, with ``None`` where a run of stages is left out."""
    count = len(picture.stages)
    if count <= MAX_ROWS:
        return list(range(count))
    focus = next((i for i in (picture.gate, selected) if i is not None), None)
    if focus is None:
        reached = [s.index for s in picture.stages if s.ran is not None]
        focus = reached[-1] if reached else 0
    half = (MAX_ROWS - 8) // 2
    keep = set(range(3)) | set(range(count - 3, count))
    keep |= set(range(max(0, focus - half), min(count, focus + half + 1)))
    rows, last = [], -1
    for index in sorted(keep):
        if index != last + 1:
            rows.append(None)
        rows.append(index)
        last = index
    return rows


def render(picture, selected=None):
    """The whole ladder as an HTML fragment with an inline SVG."""
    parts, y, previous = _rungs(picture, _rows(picture, selected), selected)
    parts = [_headings(), _start_node(picture), *parts, _end_node(picture, previous, y)]
    height = y + 40
    svg = (f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" '
           f'viewBox="0 0 {WIDTH} {height}" role="img" '
           f'style="{_FONT};font-size:12px;max-width:100%;height:auto">'
           f'<title>{escape(picture.title)}: {escape(picture.status)}</title>'
           + "".join(parts) + "</svg>")
    return _frame(picture, svg)


def _rungs(picture, rows, selected):
    """SVG of the drawn rows and gaps, the height reached, and the path's last point."""
    parts, y, previous = [], TOP, _start_point(picture)
    for i, index in enumerate(rows):
        if index is None:
            parts.append(_gap(y, _hidden(rows, i, len(picture.stages))))
            y += GAP_H
            continue
        stage = picture.stages[index]
        parts.append(_row(stage, y, picture.gate == index, selected == index))
        if stage.ran is not None or stage.state == "gated":
            parts.append(_edge(previous, stage.side, y, stage.input, stage.input_failed))
            previous = (stage.side, y + BOX_H)
        y += PITCH
    return parts, y, previous


def _frame(picture, svg):
    colour = FAIL if picture.unhandled else (VALUE if picture.done else GATE)
    notes = "".join(f"<li>{escape(n)}</li>" for n in picture.notes)
    members = "".join(f"<li>member #{i}: {escape(m)}</li>" for i, m in enumerate(picture.members))
    extra = f'<ul style="margin:4px 0">{members}{notes}</ul>' if notes or members else ""
    return (f'<div class="lab-ladder" style="font-family:sans-serif">'
            f'<div><b>{escape(picture.title)}</b> \u2014 '
            f'<span style="color:{colour}">{escape(picture.status)}</span></div>'
            f"{svg}{extra}</div>")


def _headings():
    return "".join(
        f'<text x="{x}" y="16" text-anchor="middle" fill="{colour}" font-weight="bold">'
        f"{label}</text>"
        for label, x, colour in (("callbacks", CENTRES["callback"], VALUE),
                                 ("errbacks", CENTRES["errback"], FAIL)))


def _start_point(picture):
    failed = picture.fired_by != "called" and (picture.initial or "").startswith("<Failure")
    return ("errback" if failed else "callback", 58)


def _start_node(picture):
    side, _ = _start_point(picture)
    if picture.fired_by == "called":
        text, colour = (f"called {picture.initial}", VALUE)
    elif picture.initial is None:
        text, colour = ("waiting for the Deferred to fire", MUTED)
    else:
        how = picture.fired_by or "fired"
        text = f"{how}: {picture.initial}"
        colour = FAIL if side == "errback" else VALUE
    return _pill(CENTRES[side], 40, text, colour)


def _pill(cx, y, text, colour):
    """A rounded label centred on ``cx`` (moved in to stay inside the picture), text cut to fit."""
    full = text
    text = _fit(text, WIDTH - 8, padding=16)
    width = int(16 + CHAR_W * len(text))
    x = min(max(4, cx - width // 2), WIDTH - 4 - width)
    return (f'<g><title>{escape(full)}</title>'
            f'<rect x="{x}" y="{y}" width="{width}" height="18" rx="9" '
            f'fill="white" stroke="{colour}" stroke-width="1.5"/>'
            f'<text x="{x + width // 2}" y="{y + 13}" text-anchor="middle" fill="{colour}">'
            f"{escape(text)}</text></g>")


def _row(stage, y, at_gate, selected):
    parts = [_gutter(stage, y, at_gate)]
    for side in ("callback", "errback"):
        parts.append(_box(stage, side, y))
    if selected:
        parts.append(f'<rect x="2" y="{y - 6}" width="{WIDTH - 4}" height="{BOX_H + 12}" '
                     f'fill="none" stroke="{SELECT}" stroke-width="2" rx="6"/>')
    return (f'<g class="stage" data-stage="{stage.index}" style="cursor:pointer">'
            f'<title>{escape(stage.describe())}</title>{"".join(parts)}</g>')


def _gutter(stage, y, at_gate):
    marker = ""
    if at_gate:
        marker = (f'<text x="4" y="{y + 19}" fill="{GATE}" font-weight="bold">'
                  "\u25b6 next</text>")
    return (f'{marker}<text x="{GUTTER - 8}" y="{y + 13}" text-anchor="end" '
            f'font-weight="bold">#{stage.index}</text>'
            f'<text x="{GUTTER - 8}" y="{y + 27}" text-anchor="end" fill="{MUTED}" '
            f'font-size="10">{escape(_fit(stage.how, GUTTER - 8, 6.4, 0))}</text>')


def _box(stage, side, y):
    name = stage.callback if side == "callback" else stage.errback
    fill, stroke, width, dash, label = "white", LINE, 1, "", name
    on_path = stage.side == side and (stage.ran is not None or stage.state == "gated")
    if on_path:
        fill, stroke, width, dash, label = _style(stage, side, name)
    x = CENTRES[side] - BOX_W // 2
    dash_attr = f' stroke-dasharray="{dash}"' if dash else ""
    return (f'<rect x="{x}" y="{y}" width="{BOX_W}" height="{BOX_H}" rx="4" fill="{fill}" '
            f'stroke="{stroke}" stroke-width="{width}"{dash_attr}/>'
            f'<text x="{CENTRES[side]}" y="{y + 19}" text-anchor="middle">'
            f"{escape(_fit(label, BOX_W))}</text>")


# What a skipped box says, in words: which result passed and why nothing ran.
_SKIPPED = {"callback": "no callback: the value passes", "errback": "no errback: the Failure passes"}


def _style(stage, side, name):
    """(fill, stroke, width, dash, label) of the box the result entered."""
    if stage.state == "gated":
        return "#fff8c5", GATE, 3, "", name
    if stage.state == "waiting":
        return "#fff1e5", GATE, 2, "5,3", f"{name} \u2026 waiting"
    if stage.ran == "skipped":
        return "#f6f8fa", MUTED, 1, "4,3", _SKIPPED[side]
    if stage.failure is not None:  # its function raised (or returned a Failure)
        return "#ffebe9", FAIL, 3, "", f"\u2717 raised: {name}"
    if side == "callback":
        return "#dafbe1", VALUE, 2, "", name
    return "#ffebe9", FAIL, 2, "", name



def _edge_label(text, failed, side):
    """A short label: the value's repr, or just the exception type of a Failure."""
    text = "" if text is None else str(text)
    if failed and text.startswith("<Failure "):
        text = "\u2717 " + text[len("<Failure "):].split(":", 1)[0].rstrip(">")
    return text


def _edge(previous, side, y, text, failed):
    """The result's path from the last box to this one, its value written beside the last leg.

    Why an elbow and not a diagonal: a diagonal crossing to the other column
    ran through its own label.  The path drops a little, crosses, then drops
    into the box; the label sits right of that final vertical leg, below the
    crossing, where no line runs.
    """
    (from_side, from_y), colour = previous, FAIL if failed else VALUE
    x1, x2 = CENTRES[from_side], CENTRES[side]
    full = "" if text is None else str(text)
    label = _fit(_edge_label(text, failed, side), WIDTH - x2 - 12, EDGE_CHAR_W, 0)
    if x1 == x2:
        path = f"M{x1},{from_y} V{y}"
        label_y = (from_y + y) // 2 + 4
    else:
        turn = from_y + 8
        path = f"M{x1},{from_y} V{turn} H{x2} V{y}"
        label_y = (turn + y) // 2 + 6
    return (f'<g class="edge"><title>{escape(full)}</title>'
            f'<path d="{path}" fill="none" stroke="{colour}" stroke-width="2.5"/>'
            f'<text x="{x2 + 8}" y="{label_y}" text-anchor="start" '
            f'fill="{colour}" font-size="11" paint-order="stroke" stroke="white" '
            f'stroke-width="3">{escape(label)}</text></g>')


def _gap(y, hidden):
    return (f'<text x="{WIDTH // 2}" y="{y + 24}" text-anchor="middle" fill="{MUTED}">'
            f"\u22ef {hidden} stages not drawn \u22ef</text>")


def _hidden(rows, i, count):
    """How many stages the gap at ``rows[i]`` stands for."""
    before = rows[i - 1] if i else -1
    after = next((r for r in rows[i + 1:] if r is not None), count)
    return after - before - 1


def _end_node(picture, previous, y):
    if not picture.done:
        return ""
    side = "errback" if picture.failed else "callback"
    colour = FAIL if picture.failed else VALUE
    last = next((s for s in reversed(picture.stages) if s.ran is not None), None)
    label = picture.status
    edge = ""
    if last is not None:
        text = f"<Failure {last.failure}>" if last.failure else last.output
        edge = _edge(previous, side, y, text, picture.failed)
    return edge + _pill(CENTRES[side], y, label, colour)


def detail(stage):
    """One stage in full, as an HTML table (with the Failure's traceback if it failed)."""
    rows = [("stage", f"#{stage.index} ({stage.how})"), ("function", stage.name),
            ("defined at", stage.location or "-"), ("ran", stage.ran or "not yet"),
            ("state", stage.state), ("input", stage.input or "-")]
    if stage.failure is not None:
        rows.append(("failure", str(stage.failure)))
    else:
        rows.append(("output", stage.output if stage.output is not None else "-"))
    if stage.duration is not None:
        rows.append(("duration", f"{stage.duration * 1e6:.1f} \u00b5s"))
    if stage.note:
        rows.append(("note", stage.note))
    body = "".join(f'<tr><th style="text-align:left;padding-right:8px">{escape(k)}</th>'
                   f'<td style="{_FONT}">{escape(str(v))}</td></tr>' for k, v in rows)
    trace = ""
    if stage.failure is not None:
        trace = (f'<pre style="max-height:16em;overflow:auto;font-size:11px">'
                 f"{escape(stage.failure.traceback)}</pre>")
    return f'<div class="lab-stage-detail"><table>{body}</table>{trace}</div>'
