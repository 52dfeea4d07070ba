"""Snapshots as text, HTML and a static SVG wait graph (what a saved notebook keeps).

Bounded whatever the snapshot's size: at most ``MAX_UNITS`` boxes are drawn;
beyond ``GROUP_ABOVE`` entries, boxes stand for groups of entries that share
a creation site (or, untracked, what they wait on), orphans and the largest
groups first.
"""

import html

from lab.inspect._collect import leaf_key

__all__ = ["snapshot_text", "snapshot_html", "snapshot_svg", "STATE_COLOURS", "LEAF_COLOURS"]

GROUP_ABOVE = 24
MAX_UNITS = 30
STATE_COLOURS = {"waiting": "#ddf4ff", "paused": "#fbefff", "running": "#dafbe1"}
LEAF_COLOURS = {"timer": "#fff8c5", "connection": "#b6e3ff", "listening": "#b6e3ff",
                "thread": "#eaeef2", "paused": "#fbefff", "running": "#dafbe1",
                "nothing": "#ffebe9"}
ORPHAN_STROKE, OLD_STROKE, STROKE = "#cf222e", "#bf8700", "#57606a"


def snapshot_text(snapshot, limit=40):
    """Counts, orphans, then the largest groups with a few entries each."""
    lines = [snapshot.summary()]
    for group in snapshot.groups():
        if len(lines) >= limit:
            lines.append(f"... {len(snapshot.groups())} groups in all; see snapshot.groups()")
            break
        orphans = f", {group.orphans} orphan{'s' if group.orphans != 1 else ''}" \
            if group.orphans else ""
        lines.append(f"{len(group.entries)} x {group.key}{orphans}")
        shown = sorted(group.entries, key=lambda e: (not e.orphan, e.id))[:3]
        for entry in shown:
            lines.append(f"    {snapshot.why(entry)}")
        if len(group.entries) > len(shown):
            lines.append(f"    ... and {len(group.entries) - len(shown)} more like these")
    return "\n".join(lines)


def snapshot_html(snapshot):
    """The SVG picture above a summary list; both bounded."""
    rows = []
    for group in snapshot.groups()[:12]:
        first = sorted(group.entries, key=lambda e: (not e.orphan, e.id))[0]
        colour = ORPHAN_STROKE if group.orphans else "#24292f"
        rows.append(
            f"<tr><td style='text-align:right;color:{colour}'><b>{len(group.entries)}</b></td>"
            f"<td><code>{html.escape(group.key[:120])}</code><br>"
            f"<small>{html.escape(snapshot.why(first)[:300])}</small></td></tr>")
    more = len(snapshot.groups()) - 12
    tail = f"<tr><td></td><td><i>... {more} more groups</i></td></tr>" if more > 0 else ""
    return (f'<div class="lab-pending"><b>{html.escape(snapshot.summary())}</b>'
            f"<div>{snapshot_svg(snapshot)}</div>"
            f"<table style='font-size:12px'>{''.join(rows)}{tail}</table></div>")


def _units(snapshot):
    """Boxes to draw: ``(key, label, entries, depth)``; single entries when few, else groups."""
    entries = snapshot.entries
    depth = {e.id: len(snapshot._path(e)) - 1 for e in entries}
    if len(entries) <= GROUP_ABOVE:
        return [(f"#{e.id}", e.label, (e,), depth[e.id]) for e in entries], False
    found = {}
    for entry in entries:
        found.setdefault((entry.group, depth[entry.id]), []).append(entry)
    ranked = sorted(found.items(), key=lambda kv: (-sum(e.orphan for e in kv[1]), -len(kv[1])))
    units = [(f"g{i}", f"{len(es)} x {key[0]}", tuple(es), key[1])
             for i, (key, es) in enumerate(ranked[:MAX_UNITS])]
    rest = [e for _, es in ranked[MAX_UNITS:] for e in es]
    if rest:
        units.append(("rest", f"{len(rest)} others in {len(ranked) - MAX_UNITS} groups",
                      tuple(rest), 0))
    return units, True


def _leaf_of(snapshot, entry):
    wait = snapshot._path(entry)[-1][1]
    return _leaf_node(wait), wait


def _leaf_node(wait):
    return f"leaf:{wait.kind}:{leaf_key(wait)}"


def snapshot_svg(snapshot, width=920):
    """The wait graph: Deferreds (by depth, left to right) pointing at what they wait on."""
    units, grouped = _units(snapshot)
    if not units:
        return ('<svg xmlns="http://www.w3.org/2000/svg" width="360" height="30">'
                '<text x="4" y="20" font-family="sans-serif" font-size="13">'
                'no pending Deferreds</text></svg>')
    max_depth = max(u[3] for u in units)
    columns = max_depth + 2
    col_width = (width - 20) / columns
    box_w = min(260.0, col_width - 24)
    unit_of = {e.id: u[0] for u in units for e in u[2]}
    leaves, rows, positions = {}, {}, {}
    for key, label, entries, depth in units:
        col = max_depth - depth
        row = rows.get(col, 0)
        rows[col] = row + 1
        positions[key] = (10 + col * col_width, 10 + row * 40)
    leaf_row = 0
    edges = []
    for key, label, entries, depth in units:
        first = entries[0]
        # One entry: every wait is an edge.  A group: the wait its first entry's why follows.
        waits = first.waits_on if not grouped else (snapshot._first_wait(first),)
        for wait in waits:
            target = unit_of.get(wait.target) if wait.target is not None else None
            if target is not None and target != key:
                edges.append((key, target, wait.kind))
                continue
            leaf_wait = wait if wait.target is None else _leaf_of(snapshot, first)[1]
            node = _leaf_node(leaf_wait)
            if node not in leaves:
                leaves[node] = leaf_wait
                positions[node] = (10 + (columns - 1) * col_width, 10 + leaf_row * 40)
                leaf_row += 1
            edges.append((key, node, leaf_wait.kind))
    height = 20 + 40 * max([leaf_row, *rows.values()])
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="lab-wait-graph" width="100%" '
             f'viewBox="0 0 {width} {height}" style="max-width:{width}px" '
             f'font-family="sans-serif" font-size="11">',
             '<defs><marker id="lab-arrow" viewBox="0 0 10 10" refX="10" refY="5" '
             'markerWidth="6" markerHeight="6" orient="auto-start-reverse">'
             f'<path d="M 0 0 L 10 5 L 0 10 z" fill="{STROKE}"/></marker></defs>']
    for source, target, kind in edges:
        x1, y1 = positions[source]
        x2, y2 = positions[target]
        dash = ' stroke-dasharray="4 3"' if kind in ("member", "coroutine") else ""
        parts.append(f'<line x1="{x1 + box_w:.0f}" y1="{y1 + 15}" x2="{x2:.0f}" y2="{y2 + 15}" '
                     f'stroke="{STROKE}"{dash} marker-end="url(#lab-arrow)"/>')
    for key, label, entries, depth in units:
        x, y = positions[key]
        orphan = any(e.orphan for e in entries)
        old = any(e.old for e in entries)
        state = entries[0].state
        stroke = ORPHAN_STROKE if orphan else OLD_STROKE if old else STROKE
        width_line = 2.5 if orphan or old else 1
        fill = "#ffebe9" if orphan else STATE_COLOURS.get(state, "#ffffff")
        title = html.escape(snapshot.why(entries[0])[:400])
        parts.append(f'<g class="lab-node" data-node="{key}"><title>{title}</title>'
                     f'<rect x="{x:.0f}" y="{y}" width="{box_w:.0f}" height="30" rx="4" '
                     f'fill="{fill}" stroke="{stroke}" stroke-width="{width_line}"/>'
                     f'<text x="{x + 6:.0f}" y="{y + 19}">{html.escape(_fit(label, box_w))}'
                     f'</text></g>')
    for key, wait in leaves.items():
        x, y = positions[key]
        colour = LEAF_COLOURS.get(wait.kind, "#ffffff")
        stroke = ORPHAN_STROKE if wait.kind == "nothing" else STROKE
        text = "nothing can fire it" if wait.kind == "nothing" else wait.text
        parts.append(f'<g class="lab-leaf" data-kind="{wait.kind}"><title>'
                     f'{html.escape(wait.text)}</title><rect x="{x:.0f}" y="{y}" '
                     f'width="{box_w:.0f}" height="30" rx="14" fill="{colour}" '
                     f'stroke="{stroke}"/><text x="{x + 8:.0f}" y="{y + 19}">'
                     f'{html.escape(_fit(text, box_w))}</text></g>')
    parts.append("</svg>")
    return "".join(parts)


def _fit(text, box_width):
    room = max(8, int(box_width / 6.2))
    return text if len(text) <= room else text[: room - 1] + "\u2026"
