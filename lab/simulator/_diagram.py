"""The sequence diagram (SVG) and the simulation's static summary (HTML), drawn from its records.

Hosts are columns; each message is an arrow from its sender's column at the
time it was sent to its receiver's at the time it arrived (dashed while in
flight, red with a cross when lost), labelled with what the plugin's decoder
made of it; timers that ran are diamonds on their host's column.  Virtual
time runs down the page on a stretched scale: each gap between two moments
is drawn between 14 and 48 pixels tall, so that 10 ms of latency and a 5 s
timer both stay readable.  Pure string building: no widgets, no reactor.
"""

import html
from dataclasses import dataclass

__all__ = ["SequenceDiagram", "summary_html"]

COLUMN = 170
LEFT = 70
TOP = 46
PX_PER_SECOND = 2000.0
MIN_GAP, MAX_GAP = 14.0, 48.0
COLOURS = {"data": "#0969da", "datagram": "#8250df", "lost": "#cf222e", "discarded": "#bc4c00",
           "control": "#6e7781", "timer": "#1a7f37"}


def _esc(text):
    return html.escape(str(text), quote=True)


def _cut(text, limit=34):
    return text if len(text) <= limit else text[:limit - 1] + "\u2026"


@dataclass(frozen=True)
class SequenceDiagram:
    """A picture of the last messages and timers of a simulation; ``svg()`` draws it."""

    hosts: tuple
    arrows: tuple   # (sent, arrived, src, dst, label, style)
    marks: tuple    # (time, host, label)
    now: float

    @classmethod
    def of(cls, sim, last=60):
        """The diagram of ``sim``'s last ``last`` messages and timers."""
        arrows = []
        for m in list(sim.messages)[-last:]:
            label = "; ".join(m.decoded) if m.decoded else m.label
            if m.status == "lost":
                style, end = "lost", m.arrived_at
            elif m.status == "discarded":
                style, end = "discarded", m.arrived_at
            elif m.arrived_at is None:
                style, end = "flight", m.due if m.due is not None else sim._now
            else:
                style, end = ("datagram" if m.kind == "datagram" else
                              "data" if m.kind == "data" else "control"), m.arrived_at
            arrows.append((m.sent_at, end, m.src, m.dst, label, style))
        marks = tuple(list(sim.marks)[-last:])
        used = {a[2] for a in arrows} | {a[3] for a in arrows} | {m[1] for m in marks}
        hosts = tuple(h for h in sim.hosts if h in used)
        return cls(hosts, tuple(arrows), marks, sim._now)

    def _scale(self):
        times = sorted({round(t, 9) for a in self.arrows for t in a[:2]}
                       | {round(m[0], 9) for m in self.marks} | {round(self.now, 9)})
        ys, y = {}, float(TOP + 16)
        for before, after in zip([None] + times, times):
            if before is not None:
                y += min(MAX_GAP, max(MIN_GAP, (after - before) * PX_PER_SECOND))
            ys[after] = y
        return ys, times

    def svg(self):
        """The diagram as an SVG document (a string)."""
        ys, times = self._scale()
        x = {h: LEFT + COLUMN // 2 + i * COLUMN for i, h in enumerate(self.hosts)}
        width = LEFT + COLUMN * max(1, len(self.hosts)) + 10
        height = int(max(ys.values(), default=TOP) + 30)
        out = [f'<svg xmlns="http://www.w3.org/2000/svg" class="lab-sequence" width="{width}" '
               f'height="{height}" font-family="monospace" font-size="11">',
               '<defs><marker id="lab-arrow" viewBox="0 0 10 10" refX="10" refY="5" '
               'markerWidth="7" markerHeight="7" orient="auto-start-reverse">'
               '<path d="M 0 0 L 10 5 L 0 10 z" fill="context-stroke"/></marker></defs>']
        for host, hx in x.items():
            out.append(f'<text x="{hx}" y="{TOP - 22}" text-anchor="middle" font-weight="bold" '
                       f'font-size="13">{_esc(host)}</text>')
            out.append(f'<line x1="{hx}" y1="{TOP - 14}" x2="{hx}" y2="{height - 10}" '
                       'stroke="#d0d7de" stroke-width="2"/>')
        labelled = set()
        for sent, end, src, dst, label, style in self.arrows:
            for t in (sent,):
                key = round(t, 9)
                if key not in labelled:
                    labelled.add(key)
                    out.append(f'<text x="4" y="{ys[key] + 4:.1f}" fill="#57606a">'
                               f'{t:.3f}</text>')
            out.append(self._arrow(x, ys, sent, end, src, dst, label, style))
        for t, host, label in self.marks:
            if host not in x:
                continue
            y, hx = ys[round(t, 9)], x[host]
            out.append(f'<path d="M {hx} {y - 5:.1f} l 5 5 l -5 5 l -5 -5 z" '
                       f'fill="{COLOURS["timer"]}"><title>{_esc(label)}</title></path>')
            out.append(f'<text x="{hx + 8}" y="{y + 4:.1f}" fill="{COLOURS["timer"]}">'
                       f'\u23f0 {_esc(_cut(label, 26))}</text>')
            key = round(t, 9)
            if key not in labelled:
                labelled.add(key)
                out.append(f'<text x="4" y="{y + 4:.1f}" fill="#57606a">{t:.3f}</text>')
        now_y = ys[round(self.now, 9)]
        out.append(f'<line x1="{LEFT - 6}" y1="{now_y:.1f}" x2="{width - 6}" y2="{now_y:.1f}" '
                   'stroke="#fb8f44" stroke-dasharray="2 3"/>')
        out.append(f'<text x="{width - 8}" y="{now_y - 3:.1f}" text-anchor="end" fill="#bc4c00">'
                   f'now t={self.now:.3f}</text>')
        out.append("</svg>")
        return "".join(out)

    @staticmethod
    def _arrow(x, ys, sent, end, src, dst, label, style):
        if src not in x or dst not in x:
            return ""
        x1, y1, x2, y2 = x[src], ys[round(sent, 9)], x[dst], ys[round(end, 9)]
        if x1 == x2:  # same host: a loop to the right
            x2 = x1 + 0.01
        colour = COLOURS.get(style, COLOURS["control"] if style != "flight" else "#8c959f")
        dash = ' stroke-dasharray="5 4"' if style in ("flight", "datagram") else ""
        if style == "lost":  # stop half way, with a cross
            mx, my = (x1 + x2) / 2, (y1 + y2) / 2
            line = (f'<line x1="{x1}" y1="{y1:.1f}" x2="{mx:.1f}" y2="{my:.1f}" stroke="{colour}"'
                    f' stroke-width="1.5"/><text x="{mx:.1f}" y="{my + 4:.1f}" fill="{colour}" '
                    'text-anchor="middle" font-size="14">\u2715</text>')
        else:
            line = (f'<line x1="{x1}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}" stroke="{colour}" '
                    f'stroke-width="1.5"{dash} marker-end="url(#lab-arrow)"/>')
        tx, ty = (x1 + x2) / 2, (y1 + y2) / 2 - 4
        text = (f'<text x="{tx:.1f}" y="{ty:.1f}" text-anchor="middle" fill="{colour}">'
                f'<title>{_esc(label)}</title>{_esc(_cut(label))}</text>')
        return f"<g>{line}{text}</g>"

    def _repr_svg_(self):
        return self.svg()

    def __repr__(self):
        return (f"<lab.simulator.SequenceDiagram: {len(self.hosts)} hosts, "
                f"{len(self.arrows)} messages, {len(self.marks)} timers>")


def pending_html(sim, limit=8):
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


def summary_html(sim):
    """The simulation at a glance: clock, queue, and the sequence diagram."""
    queued = len(sim._events()) + sum(len(f.stalled) for f in sim._stalled)
    head = (f"<b>Simulation</b> seed={_esc(repr(sim.seed))} &middot; virtual time "
            f"<b>t={sim._now:.6f}</b> &middot; {queued} queued &middot; {len(sim.log)} events run"
            + (f" &middot; partitioned: {len(sim._cuts)} host pairs" if sim._cuts else ""))
    return (f'<div class="lab-simulation"><div>{head}</div>{pending_html(sim)}'
            f'{sim.diagram().svg()}</div>')
