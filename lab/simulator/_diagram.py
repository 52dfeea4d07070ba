"""The sequence diagram (SVG) and the simulation's static summary (HTML), drawn from its records.

Hosts are columns; each message is an arrow from its sender's column to its
receiver's, labelled with what the plugin's decoder made of it (dashed while
in flight, red with a cross when lost); timers that ran are diamonds on their
host's column.  Time runs down the page one *step* per row: every event the
simulation ran that sent, received or fired something gets its own row,
labelled on the left with its virtual time.  Many things happen at the same
virtual instant in a network with fixed latency; rows keep them apart, in
the order they ran, and an arrow's length in rows shows what happened while
it was on its way.  Pure string building: no widgets, no reactor.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from typing import Any

__all__ = ["SequenceDiagram", "summary_html", "pending_html"]

COLUMN = 170
LEFT = 66
TOP = 46
ROW = 22
COLOURS = {"data": "#0969da", "datagram": "#8250df", "lost": "#cf222e", "discarded": "#bc4c00",
           "control": "#6e7781", "timer": "#1a7f37", "flight": "#8c959f"}


def _esc(text):
    return html.escape(str(text), quote=True)


def _cut(text, limit=34):
    return text if len(text) <= limit else text[:limit - 1] + "\u2026"


@dataclass(frozen=True)
class Arrow:
    """One message drawn: rows and times of its ends, hosts, label and style."""

    sent_row: float
    end_row: float
    sent_at: float
    end_at: float | None
    src: str
    dst: str
    label: str
    style: str


@dataclass(frozen=True)
class SequenceDiagram:
    """A picture of the last messages and timers of a simulation; ``svg()`` draws it."""

    hosts: tuple
    arrows: tuple   # Arrow values
    marks: tuple    # (time, host, label, row)
    now: float

    @classmethod
    def of(cls, sim: Any, last: int = 60) -> SequenceDiagram:
        """The diagram of ``sim``'s last ``last`` messages and timers."""
        arrows = []
        next_row = len(sim.log.entries) + sim.log.dropped
        for m in list(sim.messages)[-last:]:
            label = "; ".join(m.decoded) if m.decoded else m.label
            if m.arrived_row is None:
                style, row, at = "flight", next_row, m.due
            else:
                row, at = m.arrived_row, m.arrived_at
                style = m.status if m.status in ("lost", "discarded") else (
                    "datagram" if m.kind == "datagram" else
                    "data" if m.kind == "data" else "control")
            arrows.append(Arrow(m.sent_row, row, m.sent_at, at, m.src, m.dst, label, style))
        marks = tuple(list(sim.marks)[-last:])
        used = {a.src for a in arrows} | {a.dst for a in arrows} | {m[1] for m in marks}
        hosts = tuple(h for h in sim.hosts if h in used)
        return cls(hosts, tuple(arrows), marks, sim._now)

    def _rows(self):
        """Row key -> (y, time), for every row that has something on it."""
        times = {}
        for a in self.arrows:
            times.setdefault(a.sent_row, a.sent_at)
            times.setdefault(a.end_row, a.end_at if a.end_at is not None else self.now)
        for t, _, _, row in self.marks:
            times.setdefault(row, t)
        return {row: (TOP + 10 + i * ROW, times[row]) for i, row in enumerate(sorted(times))}

    def svg(self) -> str:
        """The diagram as an SVG document (a string)."""
        rows = self._rows()
        x = {h: LEFT + COLUMN // 2 + i * COLUMN for i, h in enumerate(self.hosts)}
        width = LEFT + COLUMN * max(1, len(self.hosts)) + 10
        height = TOP + 30 + ROW * max(1, len(rows))
        out = [f'<svg xmlns="http://www.w3.org/2000/svg" class="lab-sequence" width="{width}" '
               f'height="{height}" font-family="monospace" font-size="11">',
               '<defs><marker id="lab-arrow" viewBox="0 0 10 10" refX="10" refY="5" '
               'markerWidth="7" markerHeight="7" orient="auto-start-reverse">'
               '<path d="M 0 0 L 10 5 L 0 10 z" fill="context-stroke"/></marker></defs>',
               f'<rect width="{width}" height="{height}" fill="white"/>']
        for host, hx in x.items():
            out.append(f'<text x="{hx}" y="{TOP - 22}" text-anchor="middle" font-weight="bold" '
                       f'font-size="13">{_esc(host)}</text>')
            out.append(f'<line x1="{hx}" y1="{TOP - 14}" x2="{hx}" y2="{height - 10}" '
                       'stroke="#d0d7de" stroke-width="2"/>')
        shown = None
        for row, (y, t) in rows.items():
            if t is not None and f"{t:.3f}" != shown:
                shown = f"{t:.3f}"
                out.append(f'<text x="4" y="{y + 4}" fill="#57606a">{shown}</text>')
        for arrow in self.arrows:
            out.append(self._arrow(x, rows, arrow))
        for t, host, label, row in self.marks:
            if host in x:
                out.append(self._mark(x[host], rows[row][0], label))
        out.append("</svg>")
        return "".join(out)

    @staticmethod
    def _mark(hx, y, label):
        colour = COLOURS["timer"]
        return (f'<g><path d="M {hx} {y - 6} l 6 6 l -6 6 l -6 -6 z" fill="{colour}">'
                f'<title>{_esc(label)}</title></path><text x="{hx + 9}" y="{y + 4}" '
                f'fill="{colour}" stroke="white" stroke-width="3" paint-order="stroke">'
                f'timer {_esc(_cut(label, 28))}</text></g>')

    @staticmethod
    def _arrow(x, rows, arrow):
        if arrow.src not in x or arrow.dst not in x:
            return ""
        x1, y1 = x[arrow.src], rows[arrow.sent_row][0]
        x2, y2 = x[arrow.dst], rows[arrow.end_row][0]
        colour = COLOURS[arrow.style]
        dash = ' stroke-dasharray="5 4"' if arrow.style in ("flight", "datagram") else ""
        if x1 == x2:  # within one host: a small loop to the right
            path = f'M {x1} {y1} C {x1 + 40} {y1}, {x1 + 40} {y2}, {x1 + 2} {y2}'
            line = (f'<path d="{path}" fill="none" stroke="{colour}" stroke-width="1.5"{dash} '
                    'marker-end="url(#lab-arrow)"/>')
            tx, anchor = x1 + 44, "start"
        elif arrow.style == "lost":  # stops half way, with a cross
            mx, my = (x1 + x2) / 2, (y1 + y2) / 2
            line = (f'<line x1="{x1}" y1="{y1}" x2="{mx:.1f}" y2="{my:.1f}" stroke="{colour}" '
                    f'stroke-width="1.5"/><text x="{mx:.1f}" y="{my + 5:.1f}" fill="{colour}" '
                    'text-anchor="middle" font-size="14">\u2715</text>')
            tx, anchor = (x1 + x2) / 2, "middle"
        else:
            line = (f'<line x1="{x1}" y1="{y1}" x2="{x2}" y2="{y2}" stroke="{colour}" '
                    f'stroke-width="1.5"{dash} marker-end="url(#lab-arrow)"/>')
            tx, anchor = (x1 + x2) / 2, "middle"
        ty = (y1 + y2) / 2 - 3
        text = (f'<text x="{tx:.1f}" y="{ty:.1f}" text-anchor="{anchor}" fill="{colour}" '
                f'stroke="white" stroke-width="3" paint-order="stroke">'
                f'<title>{_esc(arrow.label)}</title>{_esc(_cut(arrow.label))}</text>')
        return f"<g>{line}{text}</g>"

    def _repr_svg_(self):
        return self.svg()

    def __repr__(self):
        return (f"<lab.simulator.SequenceDiagram: {len(self.hosts)} hosts, "
                f"{len(self.arrows)} messages, {len(self.marks)} timers>")


def pending_html(sim: Any, limit: int = 8) -> str:
    """The next ``limit`` queue entries as an HTML table."""
    rows = []
    for p in sim.pending(limit):
        where = f"#{p.connection}" if p.connection is not None else ""
        held = f'<b style="color:#bc4c00">{_esc(p.held)}</b>' if p.held else ""
        rows.append(f"<tr><td>{p.time:.6f}</td><td>{_esc(p.kind)}</td><td>{_esc(p.host)}</td>"
                    f"<td>{where}</td><td>{_esc(_cut(p.text, 70))}</td><td>{held}</td></tr>")
    if not rows:
        rows.append('<tr><td colspan="6"><i>the queue is empty</i></td></tr>')
    return ('<table class="lab-sim-queue"><tr><th>due</th><th>kind</th><th>host</th><th>conn</th>'
            f'<th>what</th><th></th></tr>{"".join(rows)}</table>')


def summary_html(sim: Any) -> str:
    """The simulation at a glance: clock, queue, and the sequence diagram."""
    queued = len(sim._events()) + sum(len(f.stalled) for f in sim._stalled)
    head = (f"<b>Simulation</b> seed={_esc(repr(sim.seed))} &middot; virtual time "
            f"<b>t={sim._now:.6f}</b> &middot; {queued} queued &middot; {len(sim.log)} events run"
            + (f" &middot; partitioned: {len(sim._cuts)} host pairs" if sim._cuts else ""))
    return (f'<div class="lab-simulation"><div>{head}</div>{pending_html(sim)}'
            f'{sim.diagram().svg()}</div>')
