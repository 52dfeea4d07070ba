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

Here: :class:`Proxy` (its state, start, conversation, faults, replay,
display), :func:`proxy` and :func:`proxies`.  Its parts: ``_proxy_hub``
(what the pipelines call, the connections known), ``_proxy_intercept``
(holding and the user's decisions), ``_proxy_checks`` (arguments),
``_proxy_framing`` (``framer=``), ``_proxy_replay``, ``_proxy_html``.
"""

import threading
from collections import OrderedDict, deque
from collections.abc import Callable
from typing import Any

from twisted.internet.defer import maybeDeferred
from twisted.internet.endpoints import connectProtocol, serverFromString

from lab import bridge, display
from lab._checks import checked_bool, checked_count, checked_timeout
from lab.adapters.proxy import Faults, Pipeline, ProxyDatagram, ProxyFactory
from lab.errors import LabError
from lab.model._capture import DEFAULT_MAX_BYTES, DEFAULT_MAX_EVENTS, Capture
from lab.model._client import client_endpoint, target_spec
from lab.model._endpoints import ClientSpec, ServerSpec, parse_server
from lab.model._errors import ProxyError
from lab.model._listeners import Listener, ListenerTable, listeners, start_registered
from lab.model._proxy_checks import DIRECTIONS, checked_faults
from lab.model._proxy_framing import framing_of
from lab.model._proxy_html import proxy_html
from lab.model._proxy_hub import ProxyNote
from lab.model._proxy_intercept import _Interception
from lab.model._proxy_replay import ReplayReport, replay_connection
from lab.protocols.framing import Framing, FramingDecoder

__all__ = ["Proxy", "ProxyNote", "proxy", "proxies", "DIRECTIONS", "DEFAULT_MAX_HELD",
           "DEFAULT_MAX_HELD_BYTES"]

DEFAULT_MAX_HELD = 100
DEFAULT_MAX_HELD_BYTES = 4 * 1024 * 1024
MAX_HELD, MAX_HELD_BYTES = 100_000, 1024 ** 3  # what max_held= and max_held_bytes= may ask
MAX_NOTES = 1000


class Proxy(_Interception, Listener):
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
