"""Replay: send a proxied client's captured requests again and compare the replies."""

import difflib
import html
import time
from typing import Any, NamedTuple

from lab.model._client import connect
from lab.model._errors import ClientError
from lab.protocols.framing import Framing, FramingError


class ReplayStep(NamedTuple):
    """One request replayed: the replies captured then and those received now."""

    request: bytes
    then: tuple
    now: tuple

    @property
    def same(self) -> bool:
        """True if the replies are byte for byte the same."""
        return self.then == self.now


class ReplayReport(list):
    """The steps of a replay; ``diff()`` shows where the replies differ."""

    def __init__(self, steps: list[ReplayStep], framing: Framing, target: Any) -> None:
        super().__init__(steps)
        self.framing, self.target = framing, target

    @property
    def differences(self) -> int:
        """How many requests got different replies now."""
        return sum(not step.same for step in self)

    def _lines(self, which):
        describe = self.framing.to_client().describe
        lines = []
        for index, step in enumerate(self):
            lines.append(f"#{index + 1} -> {self.framing.to_server().describe(step.request)}")
            lines += [f"#{index + 1} <- {describe(r)}" for r in getattr(step, which)]
        return lines

    def diff(self) -> str:
        """A unified diff of the replies, then versus now (empty if they are the same)."""
        return "\n".join(difflib.unified_diff(self._lines("then"), self._lines("now"),
                                              "then", "now", lineterm=""))

    def __repr__(self):
        return (f"<ReplayReport {len(self)} requests to {self.target}, "
                f"{self.differences} with different replies>")

    def _repr_html_(self):
        rows = []
        describe = self.framing.to_client().describe
        for index, step in enumerate(self):
            colour = "#1a7f37" if step.same else "#cf222e"
            then = "<br>".join(html.escape(describe(r)) for r in step.then) or "<i>none</i>"
            now = "<br>".join(html.escape(describe(r)) for r in step.now) or "<i>none</i>"
            request = html.escape(self.framing.to_server().describe(step.request))
            rows.append(f'<tr style="color:{colour}"><td>{index + 1}</td><td>{request}</td>'
                        f"<td>{then}</td><td>{now}</td></tr>")
        return (f"<div><b>Replay</b> of {len(self)} requests to {html.escape(str(self.target))}:"
                f" {self.differences} differ<table><tr><th>#</th><th>request</th><th>then</th>"
                f"<th>now</th></tr>{''.join(rows)}</table></div>")


def _captured_exchange(capture, client_id, server_id, framing):
    """Requests the client sent, each with the replies the server sent before the next one."""
    requests, replies = framing.to_server(), framing.to_client()
    steps = []
    events = capture.events(client_id, kinds=("in",))
    if server_id is not None:
        events += capture.events(server_id, kinds=("out",))
    else:
        events += capture.events(client_id, kinds=("out",))
    for event in sorted(events, key=lambda e: e.seq):
        if event.kind == "in":
            for message in _frame(requests, event.data):
                steps.append([message, []])
        elif steps:
            steps[-1][1].extend(_frame(replies, event.data))
    return steps


def _frame(framer, data):
    try:
        return framer.feed(data)
    except FramingError as error:
        return [*error.messages, framer.drain()]


def replay_connection(proxy_: Any, connection: int, target: Any, timeout: float,
                      quiet: float) -> "ReplayReport":
    """Replay connection ``connection`` of ``proxy_`` against ``target``; see ``Proxy.replay``."""
    client_id, server_id = proxy_._legs(connection)
    steps = _captured_exchange(proxy_.capture, client_id, server_id, proxy_.framing)
    if not steps:
        raise ClientError(f"nothing from the client of connection #{client_id} is in the "
                          "capture (it sent nothing, or its events were dropped).")
    client = connect(target, timeout)
    report = []
    try:
        framer = proxy_.framing.to_client()
        for request, then in steps:
            client.send(request)
            now: list[bytes] = []
            deadline = time.monotonic() + (timeout if then else quiet)
            while time.monotonic() < deadline:
                wait = quiet if len(now) >= len(then) else max(0.0, deadline - time.monotonic())
                data = client.read(timeout=min(wait, max(0.0, deadline - time.monotonic())))
                if not data:
                    if len(now) >= len(then) or not client.is_open:
                        break
                    continue
                now.extend(_frame(framer, data))
            report.append(ReplayStep(request, tuple(then), tuple(now)))
    finally:
        client.close()
    return ReplayReport(report, proxy_.framing, target)
