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

import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from typing import Any, NamedTuple

from twisted.internet.defer import maybeDeferred
from twisted.internet.endpoints import connectProtocol, serverFromString

from lab import bridge, display
from lab._checks import checked_bool, checked_count, checked_data, checked_timeout
from lab.adapters.proxy import Faults, Message, Pipeline, ProxyDatagram, ProxyFactory
from lab.errors import LabError
from lab.model._capture import DEFAULT_MAX_BYTES, DEFAULT_MAX_EVENTS, Capture
from lab.model._client import client_endpoint, target_spec
from lab.model._endpoints import ClientSpec, ServerSpec, parse_server
from lab.model._errors import ProxyError
from lab.model._listeners import Listener, ListenerTable, listeners, start_registered
from lab.model._proxy_checks import (DIRECTIONS, as_data, checked_direction, checked_faults,
                                     matcher)
from lab.model._proxy_framing import framing_of
from lab.model._proxy_html import proxy_html
from lab.model._proxy_replay import ReplayReport, replay_connection
from lab.protocols.framing import Framing, FramingDecoder

__all__ = ["Proxy", "ProxyNote", "proxy", "proxies", "DIRECTIONS", "DEFAULT_MAX_HELD",
           "DEFAULT_MAX_HELD_BYTES"]

DEFAULT_MAX_HELD = 100
DEFAULT_MAX_HELD_BYTES = 4 * 1024 * 1024
MAX_HELD, MAX_HELD_BYTES = 100_000, 1024 ** 3  # what max_held= and max_held_bytes= may ask
MAX_NOTES = 1000
MAX_PIPELINES = 2000  # closed ones beyond this are forgotten (the capture keeps their traffic)


class ProxyNote(NamedTuple):
    """Something the proxy did that the user should know: when, on which connection, what."""

    time: float
    connection: int | None
    text: str


class Proxy(Listener):
    """A running intercepting proxy: a :class:`Listener` whose connections go on to a target.

    Made by :func:`lab.proxy`.  ``intercept()``, ``held``, ``forward()``,
    ``drop()``, ``inject()``, ``release_all()`` edit the traffic;
    ``fault()`` breaks it on purpose; ``replay()`` sends a captured client
    again, message by message.
    """

    def __init__(self, name: str, spec: ServerSpec, target: Any, target_spec: ClientSpec,
                 framing: Framing, capture: Capture, max_held: int = DEFAULT_MAX_HELD,
                 max_held_bytes: int = DEFAULT_MAX_HELD_BYTES,
                 connect_timeout: float = 5.0, allow_remote: bool = False) -> None:
        plugin = target.plugin if isinstance(target, Listener) else None
        super().__init__(name, spec, plugin, {}, capture, allow_remote)
        self.target = target
        self.target_spec = target_spec
        self.serves = f"proxy \u2192 {self.target_address}"  # the listeners table's "serves"
        self.framing = framing
        self.max_held, self.max_held_bytes = max_held, max_held_bytes
        self.connect_timeout = connect_timeout
        self.not_held = 0
        self.notes: deque[ProxyNote] = deque(maxlen=MAX_NOTES)
        self.version = 0  # bumped when held messages or notes change, for views
        self._faults = None
        self._no_faults = Faults()
        # (direction, match function) or None
        self._intercept: tuple[str, Callable[[bytes], Any]] | None = None
        self.holding = False  # read by the pipelines on every chunk: is anything intercepted?
        self._pipelines: OrderedDict[int, Pipeline] = OrderedDict()
        self._lock = threading.Lock()

    # -- what it is --------------------------------------------------------------

    @property
    def target_address(self) -> str:
        """``transport:host:port`` of the target."""
        spec = self.target_spec
        return f"{spec.transport}:{spec.host}:{spec.port}"

    @property
    def plugin_name(self) -> str:
        """What the listeners table shows in its plugin column."""
        return f"proxy/{self.framing.name}"

    def decoder(self) -> FramingDecoder:
        """A conversation decoder from the proxy's framer."""
        return FramingDecoder(self.framing)

    def stats(self) -> dict[str, Any]:
        """The listener's counts, and the target, held messages and faults."""
        row = super().stats()
        row.update(target=self.target_address, held=len(self.held),
                   faults=repr(self.faults) if self.faults else "")
        return row

    # -- the pipelines call these (reactor thread) ------------------------------------

    def pipeline_started(self, pipeline: Pipeline) -> None:
        """Remember a new connection's pipeline (forgetting old closed ones)."""
        with self._lock:
            self._pipelines[id(pipeline)] = pipeline
            if len(self._pipelines) > MAX_PIPELINES:
                for key, old in list(self._pipelines.items()):
                    if old.closed and len(self._pipelines) > MAX_PIPELINES:
                        del self._pipelines[key]

    def should_hold(self, pipeline: Pipeline, direction: str, message: Message) -> bool:
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

    def held_changed(self) -> None:
        """Views redraw the held list."""
        self.version += 1

    def note(self, connection: int | None, text: str) -> None:
        """Keep a note for the user."""
        self.notes.append(ProxyNote(time.time(), connection, text))
        self.version += 1

    def faults_for(self, pipeline: Pipeline) -> Faults:
        """The proxy's faults (a connection's own ones are on its pipeline)."""
        return self._faults or self._no_faults

    # -- start / stop -----------------------------------------------------------------

    def _start_in_reactor(self, server=None):
        reactor = bridge.get_reactor()
        target = self.target_spec
        if self.transport == "udp":
            datagram = ProxyDatagram(self, (target.host, target.port), reactor)
            if self.privacy:
                datagram = self.privacy.guard_datagram(datagram)
            return self._started(reactor.listenUDP(self.port, datagram, interface=self.host))

        def connect(protocol):
            endpoint = client_endpoint(reactor, target, self.connect_timeout)
            return connectProtocol(endpoint, protocol)

        endpoint = serverFromString(reactor, self.spec.text)
        factory = ProxyFactory(self, connect, reactor)
        if self.privacy:
            factory = self.privacy.guard_factory(factory, lambda: (self.host, self.port))
        started = maybeDeferred(endpoint.listen, factory)
        return started.addCallback(self._started)

    # -- connections -------------------------------------------------------------------

    def pipelines(self) -> list[Pipeline]:
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

    def legs(self) -> list[tuple[int, int | None]]:
        """``[(client leg id, server leg id or None)]`` for every known proxied connection."""
        return [(p.id, p.server_id) for p in self.pipelines()]

    def conversation(self, connection: int | None = None, leg: str = "client") -> list[str]:
        """The decoded messages of the client legs (or ``leg="server"``), one line each.

        ``connection`` narrows it to one proxied connection (either leg's id).
        ``->`` is towards the server, ``<-`` towards the client.
        """
        if leg not in ("client", "server"):
            raise ValueError(f"leg must be 'client' or 'server', not {leg!r}")
        pairs = [self._legs(connection)] if connection is not None else self.legs()
        chosen = {pair[0] if leg == "client" else pair[1] for pair in pairs}
        decoders: dict[int, FramingDecoder] = {}
        lines: list[str] = []
        for event in self.capture.events(kinds=("in", "out")):
            if event.connection in chosen:
                decoder = decoders.setdefault(event.connection, self.decoder())
                lines += [f"#{event.connection} {line}"
                          for line in decoder.feed(event.kind, event.data)]
        return lines

    # -- intercept -----------------------------------------------------------------------

    def intercept(self, direction: str | None = "both", match: Any = None) -> "Proxy":
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
        self._intercept = (checked_direction(direction), matcher(match))
        self.holding = True
        return self

    @property
    def intercepting(self) -> str | None:
        """The direction being intercepted, or None."""
        return self._intercept[0] if self._intercept else None

    @property
    def held(self) -> list[Message]:
        """The messages waiting for a decision, oldest first."""
        messages = [m for p in self.pipelines() for m in p.held]
        return sorted(messages, key=lambda m: m.id)

    def _check_held(self, message):
        if not isinstance(message, Message):
            raise TypeError(f"expected a message from proxy.held, not {type(message).__name__}")
        if message.pipeline.hub is not self:
            raise ProxyError(f"message #{message.id} belongs to another proxy.")
        if message not in message.pipeline.queues[message.direction]:
            raise ProxyError(f"message #{message.id} is no longer waiting (it was forwarded, "
                             "dropped, or its connection closed; see proxy.notes).")

    def forward(self, message: Message, data: bytes | str | None = None,
                timeout: float = bridge.DEFAULT_TIMEOUT) -> Message:
        """Let a held message go on, replaced by ``data`` (bytes or str) if given."""
        if data is not None:
            data = as_data(data)
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

    def drop(self, message: Message,
             timeout: float = bridge.DEFAULT_TIMEOUT) -> Message:
        """Throw a held message away (noted in :attr:`notes`)."""
        self._check_held(message)
        bridge.call(message.pipeline.drop, message, timeout=timeout)
        self.held_changed()
        return message

    def inject(self, connection: int, direction: str, data: bytes | str,
               timeout: float = bridge.DEFAULT_TIMEOUT) -> Message:
        """Send ``data`` as a new message on ``connection`` (an id) going ``direction``."""
        data = checked_data(data, "data", "b'PING\\r\\n'")
        checked_direction(direction, allow_both=False)
        pipeline = self._pipeline(connection)
        if pipeline.closed:
            raise ProxyError(f"connection #{pipeline.id} is closed; inject into an open one "
                             "(see proxy.connections).")
        item = bridge.call(pipeline.inject, direction, data, timeout=timeout)
        self.note(pipeline.id, f"{direction}: injected message #{item.id} ({len(data)} bytes)")
        return item

    def release_all(self, timeout: float = bridge.DEFAULT_TIMEOUT) -> int:
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
    def faults(self) -> Faults | None:
        """The proxy-wide faults in force, or None."""
        return self._faults

    def fault(self, connection: int | None = None, **settings: Any) -> Faults | None:
        """Set faults (``fault()`` clears them), for the whole proxy or one ``connection``.

        ``delay`` and ``jitter`` (seconds), ``rate`` (bytes per second),
        ``fragment`` (send every write as N-byte pieces, each on its own
        reactor turn), ``close_after_bytes`` / ``close_after_messages``
        (then close, or ``reset=True`` to abort), ``half_close_after`` (N
        messages, then shut that sending side), ``direction`` (``"both"``,
        ``"to_server"``, ``"to_client"``) for the count-based ones, and
        ``seed`` for the jitter's random choices.
        """
        checked_faults(settings)
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

    def replay(self, connection: int, target: Any = None,  # type: ignore[override]
               timeout: float = 2.0, quiet: float = 0.1) -> ReplayReport:
        """Send a captured client's messages again, one at a time, waiting for each reply.

        ``target`` defaults to the proxy's target (directly, not through the
        proxy).  Returns a :class:`ReplayReport`: per request, the replies
        captured then and those received now; ``report.diff()`` shows where
        they differ.  A request answered with nothing waits ``quiet`` s.
        """
        timeout = checked_timeout(timeout, positive=True)
        quiet = checked_timeout(quiet, "quiet", positive=True)
        return replay_connection(self, connection, target or self.target_address, timeout, quiet)

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

    def widget(self) -> Any:
        """The live proxy panel (``lab.widgets.ProxyPanel``, through :mod:`lab.display`)."""
        return display.view("proxy", self)

def _target(target: Any) -> ClientSpec:
    try:
        return target_spec(target)
    except LabError as error:
        raise type(error)(f"proxy target: {error}") from None


def proxy(target: Any, listen: Any = "tcp:0", framer: Any = None, name: str | None = None,
          allow_remote: bool = False, *, share: Any = False, capture: bool = True,
          max_events: int = DEFAULT_MAX_EVENTS, max_bytes: int = DEFAULT_MAX_BYTES,
          max_held: int = DEFAULT_MAX_HELD, max_held_bytes: int = DEFAULT_MAX_HELD_BYTES,
          connect_timeout: float = 5.0, timeout: float = bridge.DEFAULT_TIMEOUT) -> "Proxy":
    """Start an intercepting proxy to ``target`` and return its :class:`Proxy`.

    ``target`` is a client endpoint string (``"tcp:127.0.0.1:11211"``,
    ``"udp:127.0.0.1:9999"``), a port number, or a lab :class:`Listener`.
    ``listen`` is where clients connect (127.0.0.1 unless ``allow_remote``).
    ``framer`` splits traffic into messages: a name (``"memcached"``,
    ``"resp"``, ``"lines"``, ``"netstring"``, ``"length"``, ``"raw"``), a
    plugin's name, or a framer object; by default the target listener's
    plugin's, else raw.  A running listener or proxy called ``name`` is
    stopped first.  Like a listener, only this kernel's user may connect to
    it unless ``share=True`` (or ``share=["bob"]``).
    """
    timeout = bridge.checked_timeout(timeout)
    connect_timeout = checked_timeout(connect_timeout, "connect_timeout", positive=True)
    checked_bool(allow_remote, "allow_remote")
    checked_bool(capture, "capture")
    if name is not None and (not isinstance(name, str) or not name.strip()):
        raise TypeError(f"name must be a non-empty string such as 'my-proxy', not {name!r}")
    max_events = checked_count(max_events, "max_events", example=DEFAULT_MAX_EVENTS)
    max_bytes = checked_count(max_bytes, "max_bytes", example=DEFAULT_MAX_BYTES)
    max_held = checked_count(max_held, "max_held", high=MAX_HELD, example=DEFAULT_MAX_HELD)
    max_held_bytes = checked_count(max_held_bytes, "max_held_bytes", high=MAX_HELD_BYTES,
                                   example=DEFAULT_MAX_HELD_BYTES)
    wanted = _target(target)
    spec = parse_server(listen, allow_remote)
    if spec.transport != wanted.transport:
        raise ProxyError(f"the proxy listens on {spec.transport} but the target speaks "
                         f"{wanted.transport}; use the same transport on both sides.")
    if spec.kind not in ("tcp", "tcp6", "udp"):
        raise ProxyError(f"cannot proxy from {spec.kind}; listen on 'tcp:0' or 'udp:0'.")
    framing_ = framing_of(framer, target)
    made = Proxy(name or f"proxy-{wanted.port}", spec, target, wanted, framing_,
                 Capture(max_events, max_bytes, enabled=capture), max_held, max_held_bytes,
                 connect_timeout, allow_remote)
    return start_registered(made, None, timeout, share)


def proxies() -> ListenerTable:
    """The running proxies (they are listed with :func:`lab.listeners` too)."""
    return ListenerTable(p for p in listeners() if isinstance(p, Proxy))
