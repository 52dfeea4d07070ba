"""Proxies: a man-in-the-middle on loopback, between a real client and a real server.

``lab.proxy(target)`` listens like a listener (it *is* a
:class:`~lab.model.Listener`: same registry, capture, table row, stop) and
gives every client connection its own connection to ``target``.  The bytes
in between go through a pipeline (``lab.adapters.proxy``) that frames them
into whole protocol messages, lets the user hold, edit, drop and inject
messages, and shapes them with faults.

Capture: each proxied connection is two captured connections, the *client
leg* (client -> proxy; "in" is what the client sent, "out" what it was
given) and the *server leg* (proxy -> target; "in" is what the proxy sent
the server, "out" what the server answered).  So the conversation view
shows both legs, an edit shows as a difference between them, and the pcap
export has both as ordinary TCP streams.

The held list is bounded (``max_held`` messages, ``max_held_bytes``
bytes).  The rule at the bound: a message that would be held past
``max_held`` is not held; it waits in order behind the held ones and goes
as soon as they are decided, and :attr:`Proxy.not_held` counts it (with a
note).  Past ``max_held_bytes`` waiting on one connection, the proxy stops
reading from that sender until the user decides (TCP back-pressure).
Nothing is dropped without the user saying so, and what cannot be delivered
(its receiver left) is listed in :attr:`Proxy.notes` with the reason.
"""

import difflib
import re
import threading
import time
from collections import OrderedDict, deque
from typing import NamedTuple

from lab import bridge
from lab.errors import LabError
from lab.model._capture import DEFAULT_MAX_BYTES, DEFAULT_MAX_EVENTS, Capture
from lab.model._endpoints import ClientSpec, parse_client, parse_server
from lab.model._errors import ClientError
from lab.model._listeners import Listener, _registry, _registry_lock, _install_shutdown_hook, \
    _start

__all__ = ["Proxy", "ProxyError", "ProxyNote", "ReplayStep", "ReplayReport", "proxy",
           "proxies", "proxy_html", "legs_html", "DIRECTIONS", "DEFAULT_MAX_HELD", "DEFAULT_MAX_HELD_BYTES"]

DIRECTIONS = ("to_server", "to_client")
DEFAULT_MAX_HELD = 100
DEFAULT_MAX_HELD_BYTES = 4 * 1024 * 1024
MAX_NOTES = 1000
MAX_PIPELINES = 2000  # closed ones beyond this are forgotten (the capture keeps their traffic)
_FAULT_TYPES = {"delay": (int, float), "jitter": (int, float), "rate": (int, float),
                "fragment": int, "close_after_bytes": int, "close_after_messages": int,
                "reset": bool, "half_close_after": int, "direction": str, "seed": object}


class ProxyError(LabError):
    """A proxy could not do what was asked (unknown message, bad fault, bad framer...)."""


class ProxyNote(NamedTuple):
    """Something the proxy did that the user should know: when, on which connection, what."""

    time: float
    connection: int
    text: str


def _as_data(data, what="an edit"):
    if isinstance(data, str):
        return data.encode("utf-8")
    if isinstance(data, (bytes, bytearray, memoryview)):
        return bytes(data)
    raise TypeError(f"{what} must be bytes or str (sent as UTF-8), not {type(data).__name__}; "
                    "write e.g. proxy.forward(message, b'+OK\\r\\n').")


def _matcher(match):
    if match is None:
        return lambda data: True
    if isinstance(match, (str, bytes)):
        needle = match.encode() if isinstance(match, str) else match
        return lambda data: needle in data
    if isinstance(match, re.Pattern):
        if isinstance(match.pattern, str):
            return lambda data: match.search(data.decode("utf-8", "replace")) is not None
        return lambda data: match.search(data) is not None
    if callable(match):
        return match
    raise TypeError(f"match= takes None, bytes, str, a compiled regex or a function of the "
                    f"message's bytes, not {type(match).__name__}.")


def _direction(direction, allow_both=True):
    choices = DIRECTIONS + (("both",) if allow_both else ())
    if direction not in choices:
        raise ValueError(f"direction must be one of {', '.join(map(repr, choices))}, "
                         f"not {direction!r}.")
    return direction


# ------------------------------------------------------------------------------
# framers


def _framing_of(framer, target, name=None):
    """A Framing from ``framer=`` (None, a name, a plugin name, or an object)."""
    from lab.protocols.framing import FRAMINGS, Framing

    if framer is None:
        plugin = getattr(target, "plugin", None) if isinstance(target, Listener) else None
        name = getattr(plugin, "name", None)
        if plugin is not None and hasattr(plugin, "build_framing"):
            built = plugin.build_framing()
            if built is not None:
                return _framing_of(built, None, name)
        return FRAMINGS.get(name, FRAMINGS["raw"])
    if isinstance(framer, str):
        if framer in FRAMINGS:
            return FRAMINGS[framer]
        try:
            from lab.plugin import plugins

            plugin = plugins().load(framer)
        except Exception:  # noqa: BLE001 - any failure means "no such framer"
            plugin = None
        built = plugin.build_framing() if hasattr(plugin, "build_framing") else None
        if built is None:
            raise ProxyError(f"no framer {framer!r}: built in are {', '.join(FRAMINGS)}, and no "
                             "plugin of that name provides one (a plugin declares framing=).")
        return _framing_of(built, None, framer)
    if isinstance(framer, Framing):
        return framer
    if isinstance(framer, tuple) and len(framer) == 2 and all(map(callable, framer)):
        made = Framing(name or "custom", framer[0], framer[1])
    elif hasattr(framer, "to_server") and hasattr(framer, "to_client"):
        made = Framing(name or getattr(framer, "name", "custom"), framer.to_server,
                       framer.to_client)
    elif callable(framer):
        made = Framing(name or getattr(framer, "name", getattr(framer, "__name__", "custom")),
                       framer)
    else:
        raise ProxyError(f"framer= takes a name ({', '.join(FRAMINGS)}), a plugin's name, a "
                         f"Framing, a framer class, or a (to_server, to_client) pair, not "
                         f"{type(framer).__name__}.")
    for build in (made.to_server, made.to_client):
        sample = build()
        if not callable(getattr(sample, "feed", None)):
            raise ProxyError(f"framer {made.name!r} builds {type(sample).__name__}, which has "
                             "no feed(data) -> list of messages.")
    return made


# ------------------------------------------------------------------------------
# replay


class ReplayStep(NamedTuple):
    """One request replayed: the replies captured then and those received now."""

    request: bytes
    then: tuple
    now: tuple

    @property
    def same(self):
        """True if the replies are byte for byte the same."""
        return self.then == self.now


class ReplayReport(list):
    """The steps of a replay; ``diff()`` shows where the replies differ."""

    def __init__(self, steps, framing, target):
        super().__init__(steps)
        self.framing, self.target = framing, target

    @property
    def differences(self):
        """How many requests got different replies now."""
        return sum(not step.same for step in self)

    def _lines(self, which):
        describe = self.framing.to_client().describe
        lines = []
        for index, step in enumerate(self):
            lines.append(f"#{index + 1} -> {self.framing.to_server().describe(step.request)}")
            lines += [f"#{index + 1} <- {describe(r)}" for r in getattr(step, which)]
        return lines

    def diff(self):
        """A unified diff of the replies, then versus now (empty if they are the same)."""
        return "\n".join(difflib.unified_diff(self._lines("then"), self._lines("now"),
                                              "then", "now", lineterm=""))

    def __repr__(self):
        return (f"<ReplayReport {len(self)} requests to {self.target}, "
                f"{self.differences} with different replies>")

    def _repr_html_(self):
        import html

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
    from lab.protocols.framing import FramingError

    try:
        return framer.feed(data)
    except FramingError as error:
        return [*error.messages, framer.drain()]


def _replay(proxy_, connection, target, timeout, quiet):
    from lab.model._client import connect

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
            now = []
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


# ------------------------------------------------------------------------------
# the proxy


class Proxy(Listener):
    """A running intercepting proxy: a :class:`Listener` whose connections go on to a target.

    Made by :func:`lab.proxy`.  ``intercept()``, ``held``, ``forward()``,
    ``drop()``, ``inject()``, ``release_all()`` edit the traffic;
    ``fault()`` breaks it on purpose; ``replay()`` sends a captured client
    again, message by message.
    """

    def __init__(self, name, spec, target, target_spec, framing, capture,
                 max_held=DEFAULT_MAX_HELD, max_held_bytes=DEFAULT_MAX_HELD_BYTES,
                 connect_timeout=5.0):
        plugin = target.plugin if isinstance(target, Listener) else None
        super().__init__(name, spec, plugin, {}, capture)
        self.target = target
        self.target_spec = target_spec
        self.framing = framing
        self.max_held, self.max_held_bytes = max_held, max_held_bytes
        self.connect_timeout = connect_timeout
        self.not_held = 0
        self.notes = deque(maxlen=MAX_NOTES)
        self.version = 0  # bumped when held messages or notes change, for views
        from lab.adapters.proxy import Faults

        self._faults = None
        self._no_faults = Faults()
        self._intercept = None  # (direction, match function) or None
        self.holding = False  # read by the pipelines on every chunk: is anything intercepted?
        self._pipelines = OrderedDict()
        self._lock = threading.Lock()

    # -- what it is --------------------------------------------------------------

    @property
    def target_address(self):
        """``transport:host:port`` of the target."""
        spec = self.target_spec
        return f"{spec.transport}:{spec.host}:{spec.port}"

    @property
    def plugin_name(self):
        """What the listeners table shows in its plugin column."""
        return f"proxy/{self.framing.name}"

    def decoder(self):
        """A conversation decoder from the proxy's framer."""
        from lab.protocols.framing import FramingDecoder

        return FramingDecoder(self.framing)

    def stats(self):
        """The listener's counts, and the target, held messages and faults."""
        row = super().stats()
        row.update(target=self.target_address, held=len(self.held),
                   faults=repr(self.faults) if self.faults else "")
        return row

    # -- the pipelines call these (reactor thread) ------------------------------------

    def pipeline_started(self, pipeline):
        """Remember a new connection's pipeline (forgetting old closed ones)."""
        with self._lock:
            self._pipelines[id(pipeline)] = pipeline
            if len(self._pipelines) > MAX_PIPELINES:
                for key, old in list(self._pipelines.items()):
                    if old.closed and len(self._pipelines) > MAX_PIPELINES:
                        del self._pipelines[key]

    def should_hold(self, pipeline, direction, message):
        """True if the intercept rule matches and the held list has room."""
        rule = self._intercept
        if rule is None or rule[0] not in ("both", direction):
            return False
        try:
            wanted = rule[1](message.data)
        except Exception as error:  # noqa: BLE001 - a user's match function must not lose bytes
            self.note(pipeline.id, f"match function raised {type(error).__name__}: {error}; "
                                   "message not held")
            return False
        if not wanted:
            return False
        if len(self.held) >= self.max_held:
            self.not_held += 1
            self.note(pipeline.id, f"held limit ({self.max_held}) reached: message #{message.id}"
                                   " not held; it goes after the held ones ahead of it")
            return False
        return True

    def held_changed(self):
        """Views redraw the held list."""
        self.version += 1

    def note(self, connection, text):
        """Keep a note for the user."""
        self.notes.append(ProxyNote(time.time(), connection, text))
        self.version += 1

    def faults_for(self, pipeline):
        """The proxy's faults (a connection's own ones are on its pipeline)."""
        return self._faults or self._no_faults

    # -- start / stop -----------------------------------------------------------------

    def _start_in_reactor(self, server=None):
        from twisted.internet import reactor
        from twisted.internet.defer import maybeDeferred
        from twisted.internet.endpoints import connectProtocol, serverFromString

        from lab.adapters.proxy import ProxyDatagram, ProxyFactory
        from lab.model._client import _client_endpoint

        target = self.target_spec
        if self.transport == "udp":
            datagram = ProxyDatagram(self, (target.host, target.port), reactor)
            return self._started(reactor.listenUDP(self.port, datagram, interface=self.host))

        def connect(protocol):
            endpoint = _client_endpoint(reactor, target, self.connect_timeout)
            return connectProtocol(endpoint, protocol)

        endpoint = serverFromString(reactor, self.spec.text)
        started = maybeDeferred(endpoint.listen, ProxyFactory(self, connect, reactor))
        return started.addCallback(self._started)

    # -- connections -------------------------------------------------------------------

    def pipelines(self):
        """The proxied connections known (open and recently closed)."""
        with self._lock:
            return list(self._pipelines.values())

    def _pipeline(self, connection):
        if hasattr(connection, "queues"):
            return connection
        for pipeline in self.pipelines():
            if connection in (pipeline.id, pipeline.server_id):
                return pipeline
        known = ", ".join(f"#{p.id}" for p in self.pipelines()[-10:]) or "none yet"
        raise ProxyError(f"proxy {self.name!r} has no connection #{connection} (client legs: "
                         f"{known}); see proxy.connections.")

    def _legs(self, connection):
        pipeline = self._pipeline(connection)
        return pipeline.id, pipeline.server_id

    def legs(self):
        """``[(client leg id, server leg id or None)]`` for every known proxied connection."""
        return [(p.id, p.server_id) for p in self.pipelines()]

    def conversation(self, connection=None, leg="client"):
        """The decoded messages of the client legs (or ``leg="server"``), one line each.

        ``connection`` narrows it to one proxied connection (either leg's id).
        ``->`` is towards the server, ``<-`` towards the client.
        """
        if leg not in ("client", "server"):
            raise ValueError(f"leg must be 'client' or 'server', not {leg!r}")
        pairs = [self._legs(connection)] if connection is not None else self.legs()
        chosen = {pair[0] if leg == "client" else pair[1] for pair in pairs}
        decoders, lines = {}, []
        for event in self.capture.events(kinds=("in", "out")):
            if event.connection in chosen:
                decoder = decoders.setdefault(event.connection, self.decoder())
                lines += [f"#{event.connection} {line}"
                          for line in decoder.feed(event.kind, event.data)]
        return lines

    # -- intercept -----------------------------------------------------------------------

    def intercept(self, direction="both", match=None):
        """Hold messages going ``direction`` that ``match``; ``intercept(None)`` stops holding.

        ``direction`` is ``"to_server"``, ``"to_client"`` or ``"both"``;
        ``match`` is None (every message), bytes/str (contained in the
        message), a compiled regex, or a function of the message's bytes.
        Messages already held stay held until forwarded or dropped.
        """
        if direction is None:
            self._intercept = None
            self.holding = False
            return self
        self._intercept = (_direction(direction), _matcher(match))
        self.holding = True
        return self

    @property
    def intercepting(self):
        """The direction being intercepted, or None."""
        return self._intercept[0] if self._intercept else None

    @property
    def held(self):
        """The messages waiting for a decision, oldest first."""
        messages = [m for p in self.pipelines() for m in p.held]
        return sorted(messages, key=lambda m: m.id)

    def _check_held(self, message):
        from lab.adapters.proxy import Message

        if not isinstance(message, Message):
            raise TypeError(f"expected a message from proxy.held, not {type(message).__name__}")
        if message.pipeline.hub is not self:
            raise ProxyError(f"message #{message.id} belongs to another proxy.")
        if message not in message.pipeline.queues[message.direction]:
            raise ProxyError(f"message #{message.id} is no longer waiting (it was forwarded, "
                             "dropped, or its connection closed; see proxy.notes).")

    def forward(self, message, data=None, timeout=bridge.DEFAULT_TIMEOUT):
        """Let a held message go on, replaced by ``data`` (bytes or str) if given."""
        if data is not None:
            data = _as_data(data)
        self._check_held(message)
        bridge.call(self._forward_in_reactor, message, data, timeout=timeout)
        return message

    def _forward_in_reactor(self, message, data):
        if message in message.pipeline.queues[message.direction]:
            if data is not None:
                self.note(message.connection, f"{message.direction}: message #{message.id} "
                                              f"edited ({len(message.data)} -> {len(data)} bytes)")
            message.pipeline.release(message, data)
        self.held_changed()

    def drop(self, message, timeout=bridge.DEFAULT_TIMEOUT):
        """Throw a held message away (noted in :attr:`notes`)."""
        self._check_held(message)
        bridge.call(message.pipeline.drop, message, timeout=timeout)
        self.held_changed()
        return message

    def inject(self, connection, direction, data, timeout=bridge.DEFAULT_TIMEOUT):
        """Send ``data`` as a new message on ``connection`` (an id) going ``direction``."""
        data = _as_data(data, "injected data")
        _direction(direction, allow_both=False)
        pipeline = self._pipeline(connection)
        if pipeline.closed:
            raise ProxyError(f"connection #{pipeline.id} is closed; inject into an open one "
                             "(see proxy.connections).")
        item = bridge.call(pipeline.inject, direction, data, timeout=timeout)
        self.note(pipeline.id, f"{direction}: injected message #{item.id} ({len(data)} bytes)")
        return item

    def release_all(self, timeout=bridge.DEFAULT_TIMEOUT):
        """Forward every held message unchanged; return how many."""
        def release():
            held = self.held
            for message in held:
                message.pipeline.release(message)
            self.held_changed()
            return len(held)
        return bridge.call(release, timeout=timeout)

    # -- faults ------------------------------------------------------------------------

    @property
    def faults(self):
        """The proxy-wide faults in force, or None."""
        return self._faults

    def fault(self, connection=None, **settings):
        """Set faults (``fault()`` clears them), for the whole proxy or one ``connection``.

        ``delay`` and ``jitter`` (seconds), ``rate`` (bytes per second),
        ``fragment`` (send every write as N-byte pieces, each on its own
        reactor turn), ``close_after_bytes`` / ``close_after_messages``
        (then close, or ``reset=True`` to abort), ``half_close_after`` (N
        messages, then shut that sending side), ``direction`` (``"both"``,
        ``"to_server"``, ``"to_client"``) for the count-based ones, and
        ``seed`` for the jitter's random choices.
        """
        from lab.adapters.proxy import Faults

        unknown = set(settings) - set(_FAULT_TYPES)
        if unknown:
            raise ProxyError(f"no fault {', '.join(sorted(unknown))}; faults: "
                             f"{', '.join(_FAULT_TYPES)}.")
        for key, value in settings.items():
            kind = _FAULT_TYPES[key]
            if value is None or kind is object:
                continue
            if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
                wanted = getattr(kind, "__name__", "a number")
                raise ProxyError(f"fault {key}={value!r}: expected {wanted}.")
            if kind is not str and kind is not bool and value < 0:
                raise ProxyError(f"fault {key}={value!r} must not be negative.")
        if settings.get("fragment") == 0 or settings.get("rate") == 0:
            raise ProxyError("fragment= and rate= must be at least 1 (or leave them out).")
        if "direction" in settings:
            _direction(settings["direction"])
        faults = Faults(**settings) if settings else None
        pipeline = self._pipeline(connection) if connection is not None else None

        def apply():
            if pipeline is not None:
                pipeline.faults = faults
                pipeline._rng = None
            else:
                self._faults = faults
                for each in self.pipelines():
                    each._rng = None
            self.version += 1
        bridge.call(apply)
        return faults

    # -- replay -----------------------------------------------------------------------

    def replay(self, connection, target=None, timeout=2.0, quiet=0.1):
        """Send a captured client's messages again, one at a time, waiting for each reply.

        ``target`` defaults to the proxy's target (directly, not through the
        proxy).  Returns a :class:`ReplayReport`: per request, the replies
        captured then and those received now; ``report.diff()`` shows where
        they differ.  A request answered with nothing waits ``quiet`` s.
        """
        return _replay(self, connection, target or self.target_address, timeout, quiet)

    # -- display ---------------------------------------------------------------------

    def __repr__(self):
        state = "running" if self.running else "stopped"
        held = f", {len(self.held)} held" if self._intercept or self.held else ""
        faults = f", {self.faults!r}" if self.faults else ""
        return (f"<Proxy {self.name!r} {self.endpoint} -> {self.target_address} "
                f"framer={self.framing.name!r} {state}, {self.capture.open_count} legs open, "
                f"{len(self.legs())} connections{held}{faults}>")

    def _repr_html_(self):
        return proxy_html(self)

    def widget(self):
        """The live proxy panel (``lab.widgets.ProxyPanel``)."""
        from importlib import import_module

        return import_module("lab.widgets").ProxyPanel(self)


_LEG_STYLE = "vertical-align:top;padding:1px 6px;font-family:monospace;white-space:pre-wrap"


def legs_html(proxy_, connection=None, rows=60):
    """Both legs of one proxied connection side by side in time, as an HTML table.

    Left: the client leg (what the client sent and got); right: the server leg
    (what the server got and sent).  One row per event, in the order they happened.
    """
    import html

    from lab.protocols.framing import show_bytes

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


def proxy_html(proxy_):
    """A static picture of a proxy: where it stands, both legs, held messages, faults, notes."""
    import html

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


def _target(target):
    from lab.model._client import _target_spec

    if isinstance(target, Listener):
        if isinstance(target, Proxy):
            raise ProxyError("a proxy's target cannot be another proxy's Listener object here; "
                             "pass its endpoint string instead (proxy.endpoint).")
        return _target_spec(target)
    if isinstance(target, ClientSpec):
        return target
    try:
        return parse_client(target)
    except LabError as error:
        raise type(error)(f"proxy target: {error}") from None


def proxy(target, listen="tcp:0", framer=None, name=None, allow_remote=False, *,
          capture=True, max_events=DEFAULT_MAX_EVENTS, max_bytes=DEFAULT_MAX_BYTES,
          max_held=DEFAULT_MAX_HELD, max_held_bytes=DEFAULT_MAX_HELD_BYTES,
          connect_timeout=5.0, timeout=bridge.DEFAULT_TIMEOUT):
    """Start an intercepting proxy to ``target`` and return its :class:`Proxy`.

    ``target`` is a client endpoint string (``"tcp:127.0.0.1:11211"``,
    ``"udp:127.0.0.1:9999"``), a port number, or a lab :class:`Listener`.
    ``listen`` is where clients connect (127.0.0.1 unless ``allow_remote``).
    ``framer`` splits traffic into messages: a name (``"memcached"``,
    ``"resp"``, ``"lines"``, ``"netstring"``, ``"length"``, ``"raw"``), a
    plugin's name, or a framer object; by default the target listener's
    plugin's, else raw.  A running listener or proxy called ``name`` is
    stopped first.
    """
    target_spec = _target(target)
    spec = parse_server(listen, allow_remote)
    if spec.transport != target_spec.transport:
        raise ProxyError(f"the proxy listens on {spec.transport} but the target speaks "
                         f"{target_spec.transport}; use the same transport on both sides.")
    if spec.transport == "udp" and spec.kind != "udp":
        raise ProxyError(f"cannot proxy from {spec.kind}; listen on 'tcp:0' or 'udp:0'.")
    framing_ = _framing_of(framer, target)
    for limit, value in (("max_held", max_held), ("max_held_bytes", max_held_bytes)):
        if not isinstance(value, int) or value < 1:
            raise ValueError(f"{limit} must be a positive int, not {value!r}")
    default = f"proxy-{target_spec.port}"
    made = Proxy(name or default, spec, target, target_spec, framing_,
                 Capture(max_events, max_bytes, enabled=capture), max_held, max_held_bytes,
                 connect_timeout)
    _install_shutdown_hook()
    with _registry_lock:
        old = _registry.get(made.name)
    if old is not None:
        old.stop(timeout)
    _start(made, None, timeout)
    with _registry_lock:
        _registry[made.name] = made
    return made


def proxies():
    """The running proxies (they are listed with :func:`lab.listeners` too)."""
    from lab.model._listeners import ListenerTable

    with _registry_lock:
        return ListenerTable(p for p in _registry.values() if isinstance(p, Proxy) and p.running)

