"""A proxy drawn in HTML: both legs side by side, held messages, faults, notes."""

import html
import time
from typing import Any

from lab.protocols.framing import show_bytes


_LEG_STYLE = "vertical-align:top;padding:1px 6px;font-family:monospace;white-space:pre-wrap"


def legs_html(proxy_: Any, connection: int | None = None, rows: int = 60) -> str:
    """Both legs of one proxied connection side by side in time, as an HTML table.

    Left: the client leg (what the client sent and got); right: the server leg
    (what the server got and sent).  One row per event, in the order they happened.
    """
    legs = proxy_.legs()
    if connection is None and legs:
        connection = legs[-1][0]
    pair = next(((c, s) for c, s in legs if connection in (c, s)), None)
    if pair is None:
        return "<i>no connections yet</i>"
    client_id, server_id = pair
    events = proxy_.capture.events(client_id) + (
        proxy_.capture.events(server_id) if server_id is not None else [])
    events = sorted(events, key=lambda e: e.seq)[-rows:]
    arrows = {("in", True): "client &rarr;", ("out", True): "&larr; to client",
              ("in", False): "&rarr; to server", ("out", False): "&larr; server"}
    out = []
    for event in events:
        client_side = event.connection == client_id
        if event.kind in ("in", "out"):
            text = f"{arrows[event.kind, client_side]} {html.escape(show_bytes(event.data, 160))}"
        else:
            text = f"<i>{event.kind} {html.escape(event.reason)}</i>"
        colour = {"in": "#0969da", "out": "#cf222e"}.get(event.kind, "#6e7781")
        cell = f'<td style="{_LEG_STYLE};color:{colour}">{text}</td>'
        blank = f'<td style="{_LEG_STYLE}"></td>'
        stamp = time.strftime("%H:%M:%S", time.localtime(event.time)) + \
            f".{int(event.time % 1 * 1000):03d}"
        out.append(f"<tr><td style='{_LEG_STYLE};color:#57606a'>{stamp}</td>"
                   + (cell + blank if client_side else blank + cell) + "</tr>")
    head = (f"<tr><th></th><th>client leg #{client_id}</th><th>server leg "
            f"#{server_id if server_id is not None else '-'}</th></tr>")
    return ('<table class="lab-proxy-legs" style="table-layout:fixed;width:100%">'
            '<col style="width:7.5em"><col><col>' + head + "".join(out) + "</table>")


def proxy_html(proxy_: Any) -> str:
    """A static picture of a proxy: where it stands, both legs, held messages, faults, notes."""
    held = proxy_.held
    held_rows = "".join(
        f"<tr><td>#{m.id}</td><td>conn #{m.connection}</td><td>{m.direction}</td>"
        f"<td>{len(m.data)} B</td><td><code>{html.escape(m.describe())}</code></td></tr>"
        for m in held[:20])
    notes = "".join(f"<li>#{n.connection}: {html.escape(n.text)}</li>"
                    for n in list(proxy_.notes)[-8:])
    state = "running" if proxy_.running else "stopped"
    return (f'<div class="lab-proxy"><b>Proxy {html.escape(proxy_.name)}</b> ({state}): '
            f"{html.escape(proxy_.endpoint)} &rarr; {html.escape(proxy_.target_address)}, "
            f"framer <code>{html.escape(proxy_.framing.name)}</code>, intercepting "
            f"{html.escape(str(proxy_.intercepting))}, faults "
            f"<code>{html.escape(repr(proxy_.faults) if proxy_.faults else 'none')}</code>"
            f"{legs_html(proxy_)}"
            f"<div><b>held</b>: {len(held)}<table>{held_rows}</table></div>"
            + (f"<div><b>notes</b><ul>{notes}</ul></div>" if notes else "") + "</div>")
