"""Listeners: servers started from a notebook, each wiretapped, each with a name.

``listen()`` runs in the kernel thread: it checks everything it can there
(plugin, endpoint, options) so that a mistake raises before anything is
stopped or started, then asks the reactor thread to listen.  Listeners are
kept by name, so re-running a cell replaces its listener instead of leaking
the old port; a kernel shutdown stops them all.

Nothing here imports ``twisted.internet.reactor``: importing the model
installs no reactor; code running in the reactor thread reaches it through
:func:`lab.bridge.get_reactor`.
"""

import html
import threading
from typing import Any

from twisted.internet.defer import gatherResults, maybeDeferred
from twisted.internet.endpoints import serverFromString
from twisted.internet.error import CannotListenError
from twisted.internet.interfaces import IProtocolFactory
from twisted.internet.protocol import DatagramProtocol, Factory, Protocol

from lab import bridge
from lab.adapters.wiretap import TrackingFactory, WiretapDatagram, WiretapFactory
from lab.model._capture import (DEFAULT_MAX_BYTES, DEFAULT_MAX_EVENTS, Capture, Connection,
                                check_connection)
from lab.model._client import Client, replay
from lab.model._endpoints import (ClientSpec, ServerSpec, check_unix_path, escape_host,
                                  is_loopback, parse_server)
from lab.model._errors import ClientError, EndpointError, ListenError, RemoteNotAllowed
from lab.model._privacy import ListenerPrivacy, admit_listener
from lab.plugin import plugins

__all__ = ["Listener", "ListenerTable", "listen", "listeners", "stop_all", "get_listener",
           "start_registered"]

_registry: dict = {}
_registry_lock = threading.RLock()
_hook_installed = False


class Listener:
    """A running server: its name, address, open connections and captured traffic.

    Made by :func:`lab.listen`; ``stop()`` frees its port.
    """

    def __init__(self, name: str, spec: ServerSpec, plugin: Any, options: dict[str, Any],
                 capture: Capture, allow_remote: bool = False, wiretap: bool = True) -> None:
        self.name = name
        self.spec = spec
        self.plugin = plugin
        self.options = dict(options)
        self.capture = capture
        self.allow_remote = allow_remote
        self.wiretap = wiretap
        self.host, self.port = spec.interface, spec.port
        self._port = None
        self.privacy: ListenerPrivacy | None = None  # who may connect; set by listen()
        # What it serves, for tables: the plugin's name, or the factory's (protocol's) class.
        self.serves = getattr(plugin, "name", None) or ""
        self._tracker: TrackingFactory | None = None  # without a wiretap: the connections

    # -- what it is -----------------------------------------------------------

    @property
    def endpoint(self) -> str:
        """The endpoint string it listens on, with the port actually bound."""
        if self.spec.kind in ("tcp", "tcp6", "ssl", "udp"):
            return f"{self.spec.kind}:{self.port}:interface={escape_host(self.host)}"
        if self.spec.kind == "unix":
            return f"unix:{self.path}"
        return self.spec.text

    @property
    def path(self) -> str:
        """The socket file of a ``unix:`` listener ("" for network listeners)."""
        return self.spec.path

    @property
    def address(self) -> str:
        """Where clients reach it: ``HOST:PORT``, or the socket path of a ``unix:`` listener."""
        if self.spec.kind == "unix":
            return self.path
        host = f"[{self.host}]" if ":" in str(self.host) else self.host
        return f"{host}:{self.port}"

    @property
    def transport(self) -> str:
        """``"tcp"`` (any stream endpoint) or ``"udp"``."""
        return self.spec.transport

    @property
    def plugin_name(self) -> str | None:
        """The name of the plugin it serves, or None for a factory."""
        return getattr(self.plugin, "name", None)

    @property
    def running(self) -> bool:
        """True until :meth:`stop`."""
        return self._port is not None

    @property
    def listening_port(self) -> Any:
        """Twisted's listening port (``IListeningPort``) while running, else None."""
        return self._port

    @property
    def connections(self) -> list[Connection]:
        """Snapshots of the connections open now."""
        return self.capture.connections(open_only=True)

    def stats(self) -> dict[str, Any]:
        """Counts for a table row: connections ever and open, bytes in and out, events."""
        cap, tracker = self.capture, self._tracker
        connections, open_now = cap.connection_count, cap.open_count
        if tracker is not None:
            connections, open_now = tracker.built, len(tracker.open_protocols())
        return {"name": self.name, "plugin": self.plugin_name or "", "serves": self.serves,
                "endpoint": self.endpoint,
                "running": self.running, "connections": connections,
                "open": open_now, "bytes_in": cap.bytes_in, "bytes_out": cap.bytes_out,
                "events": len(cap), "dropped": cap.dropped, "errors": len(cap.errors),
                "limited": cap.limited,
                "refused": self.privacy.refused if self.privacy else 0,
                "last_refusal": self.privacy.last_refusal if self.privacy else ""}

    def decoder(self) -> Any:
        """A fresh conversation decoder from the plugin, or None."""
        build = getattr(self.plugin, "build_decoder", None)
        return build() if build else None

    # -- start / stop -----------------------------------------------------------

    def _start_in_reactor(self, server):
        reactor = bridge.get_reactor()
        if self.transport == "udp":
            tap = WiretapDatagram(server, self.capture) if self.wiretap else server
            tap = self.privacy.guard_datagram(tap) if self.privacy else tap
            return self._started(reactor.listenUDP(self.port, tap, interface=self.host))
        if self.spec.kind == "unix":
            check_unix_path(self.spec.path)
        endpoint = serverFromString(reactor, self.spec.text)
        if self.wiretap:
            factory = WiretapFactory(server, self.capture)
        else:
            factory = self._tracker = TrackingFactory(server)
        if self.privacy:
            factory = self.privacy.guard_factory(factory, lambda: (self.host, self.port))
        started = maybeDeferred(endpoint.listen, factory)
        return started.addCallback(self._started)

    def _started(self, port):
        address = port.getHost()
        host = getattr(address, "host", None)
        if host is not None and not self.allow_remote and not is_loopback(host):
            # Why check again: the endpoint was judged before binding; this is
            # the address the socket really has, whatever the string said.
            port.stopListening()
            raise RemoteNotAllowed(
                f"{self.spec.text!r} bound {host}, which is not loopback, so it was closed "
                "at once. Pass allow_remote=True if other machines may connect.")
        self._port = port
        if host is not None:
            self.host, self.port = host, address.port
        return self

    def _stop_in_reactor(self):
        port, self._port = self._port, None
        with _registry_lock:
            if _registry.get(self.name) is self:
                del _registry[self.name]
        if self.privacy:
            self.privacy.release()
        if port is None:
            return None
        stopped = maybeDeferred(port.stopListening)
        # Why abort: a stopped server should not keep talking on old connections,
        # and lingering sockets would keep the test process's descriptors busy.
        for tap in self.capture.open_taps():
            tap.abort()
        if self._tracker is not None:
            self._tracker.abort_all()
        return stopped

    def stop(self, timeout: float = bridge.DEFAULT_TIMEOUT) -> Any:
        """Stop listening, drop open connections, and free the port (harmless twice)."""
        timeout = bridge.checked_timeout(timeout)
        if bridge.in_reactor_thread():
            return self._stop_in_reactor()
        bridge.call(self._stop_in_reactor, timeout=timeout)
        return None

    def client_spec(self) -> ClientSpec:
        """Where a client reaches this listener: a :class:`ClientSpec` (loopback for a wildcard)."""
        if not self.running:
            raise ClientError(f"listener {self.name!r} is stopped; start it again first.")
        if self.transport != "udp" and self.spec.kind not in ("tcp", "tcp6"):
            raise ClientError(f"the client speaks tcp and udp; {self.endpoint} is neither.")
        host = self.host
        if host in ("0.0.0.0", "::", ""):
            host = "::1" if host == "::" else "127.0.0.1"
        return ClientSpec(self.transport, host, self.port)

    def replay(self, connection: int, target: Any = None, timeout: float = 5.0) -> Client:
        """Send what a captured client sent on ``connection`` to ``target`` (default: here).

        Returns the :class:`lab.Client` that sent it, so its replies can be read.
        """
        check_connection(connection)
        return replay(self.capture, connection, target or self, timeout)

    # -- display ------------------------------------------------------------------

    def __repr__(self):
        state = "running" if self.running else "stopped"
        plugin = f" plugin={self.plugin_name!r}" if self.plugin_name else ""
        return (f"<Listener {self.name!r}{plugin} {self.endpoint} {state}, "
                f"{self.capture.open_count} open, {self.capture.connection_count} connections>")

    def _repr_html_(self):
        return ListenerTable([self])._repr_html_()


class ListenerTable(list):
    """A list of listeners that shows itself as a table in a notebook."""

    COLUMNS = ("name", "plugin", "endpoint", "running", "connections", "open",
               "bytes_in", "bytes_out", "events", "dropped", "errors", "limited",
               "refused")

    def rows(self) -> list[dict[str, Any]]:
        """One stats dict per listener."""
        return [listener.stats() for listener in self]

    def _repr_html_(self):
        head = "".join(f"<th>{c}</th>" for c in self.COLUMNS)
        body = "".join(
            "<tr>" + "".join(f"<td>{html.escape(str(row[c]))}</td>" for c in self.COLUMNS)
            + "</tr>" for row in self.rows())
        empty = "" if self else f'<tr><td colspan="{len(self.COLUMNS)}">no listeners</td></tr>'
        return f'<table class="lab-listeners"><tr>{head}</tr>{body}{empty}</table>'


# ------------------------------------------------------------------------------
# what to serve


def _load_plugin(name):
    """The plugin object called ``name``, loaded with its dependencies."""
    return plugins().load(name)


def _describe(target):
    """``(plugin or None, default name, default endpoint, build(transport, options))``."""
    if isinstance(target, str):
        target = _load_plugin(target)
    if hasattr(target, "build_factory") and hasattr(target, "transports"):
        return target, target.name, target.default_endpoint, _plugin_builder(target)
    if isinstance(target, type) and issubclass(target, (DatagramProtocol, Factory)):
        try:
            target = target()  # lab.listen(MyFactory) means a new MyFactory()
        except TypeError as error:
            raise ListenError(
                f"lab.listen() got the class {target.__name__}, which cannot be made without "
                f"arguments ({error}); pass an instance: lab.listen({target.__name__}(...)).") \
                from None
    if isinstance(target, type) and issubclass(target, Protocol):
        target = Factory.forProtocol(target)
    if isinstance(target, DatagramProtocol):
        return None, type(target).__name__.lower(), "udp:0", _fixed_builder(target, "udp")
    if IProtocolFactory.providedBy(target):
        name = getattr(target, "protocol", type(target)).__name__.lower()
        return None, name, "tcp:0", _fixed_builder(target, "tcp")
    raise ListenError(
        f"lab.listen() takes a plugin name, a Factory, a Protocol class or a "
        f"DatagramProtocol, not {type(target).__name__} {target!r}.")


def _served_by(target):
    """A factory's (or protocol's) name for tables: ``MyFactory`` or ``Factory(Echo)``."""
    if isinstance(target, type):
        return target.__name__
    protocol = getattr(target, "protocol", None)
    name = type(target).__name__
    return f"{name}({protocol.__name__})" if isinstance(protocol, type) else name


def _plugin_builder(plugin):
    def build(transport, options):
        if transport not in plugin.transports:
            raise ListenError(
                f"plugin {plugin.name!r} serves {', '.join(plugin.transports)}, not "
                f"{transport}; use an endpoint such as '{plugin.transports[0]}:0'.")
        unknown = set(options) - set(plugin.options) if plugin.options else set()
        if unknown:
            raise ListenError(
                f"plugin {plugin.name!r} has no option {', '.join(sorted(unknown))}; "
                f"its options: {', '.join(plugin.options)}.")
        if transport == "udp":
            return plugin.build_datagram(**options)
        return plugin.build_factory(**options)
    return build


def _fixed_builder(server, transport):
    def build(wanted, options):
        if options:
            raise ListenError(
                f"options ({', '.join(options)}) only apply to plugins; configure the "
                "factory itself instead.")
        if wanted != transport:
            kind = "a DatagramProtocol" if transport == "udp" else "a stream Factory"
            raise ListenError(f"{kind} cannot listen on {wanted}; use '{transport}:0'.")
        return server
    return build


# ------------------------------------------------------------------------------
# public verbs


def listen(plugin_or_factory: Any, endpoint: str | int | None = None, name: str | None = None,
           allow_remote: bool = False, *, share: Any = False, capture: bool = True,
           wiretap: bool = True,
           max_events: int = DEFAULT_MAX_EVENTS, max_bytes: int = DEFAULT_MAX_BYTES,
           backlog: int | None = None, timeout: float = bridge.DEFAULT_TIMEOUT,
           **options: Any) -> Listener:
    """Start a wiretapped server and return its :class:`Listener`.

    ``plugin_or_factory`` is a plugin name (``"echo"``), a Factory, a Protocol
    class or a DatagramProtocol.  ``endpoint`` is a Twisted endpoint string
    (``"tcp:0"``, ``"tcp:8000"``, ``"tcp6:0"``, ``"udp:0"``,
    ``"unix:/path"``); it listens on loopback (a ``unix:`` socket only you
    can open) unless ``allow_remote=True``.  ``backlog`` is the listen queue
    of stream listeners (default 1024, as a server would use).  A running
    listener with the same ``name`` is stopped first.  ``options`` go to the
    plugin's factory.

    Only processes of this kernel's user may connect, unless ``share=True``
    (everyone) or ``share=["bob", 1002]`` (these users too); see
    ``listener.privacy``.  Limits a teacher set apply (``lab.teacher_limits()``).

    ``capture=False`` keeps no events but still counts connections and bytes,
    and notes errors and limits.  ``wiretap=False`` (only with
    ``capture=False``; what ``python -m lab serve --no-capture`` uses) serves
    the protocol unwrapped, at plain Twisted's speed: the listener then knows
    only how many connections it accepted and which are open (so ``stop()``
    drops them); it counts no bytes and adds no back-pressure beyond the
    protocol's own.
    """
    timeout = bridge.checked_timeout(timeout)
    _check_listen_arguments(name, capture, max_events, max_bytes)
    if type(wiretap) is not bool:
        raise TypeError(f"wiretap must be True or False, not {wiretap!r}")
    if capture and not wiretap:
        raise ValueError("capture=True needs the wiretap; pass capture=False with wiretap=False "
                         "to serve the protocol unwrapped")
    plugin, default_name, default_endpoint, build = _describe(plugin_or_factory)
    spec = parse_server(endpoint if endpoint is not None else default_endpoint, allow_remote,
                        backlog)
    server = build(spec.transport, options)
    listener = Listener(name or default_name, spec, plugin, options,
                        Capture(max_events, max_bytes, enabled=capture), allow_remote, wiretap)
    if plugin is None:
        listener.serves = _served_by(plugin_or_factory)
    return start_registered(listener, server, timeout, share)


def start_registered(listener: "Listener", server: Any,
                     timeout: float = bridge.DEFAULT_TIMEOUT, share: Any = False) -> Any:
    """Start ``listener`` (stopping a running one of the same name first) and list it.

    For :func:`listen` and for other kinds of listener (``lab.proxy``).
    ``share`` says who besides the owner may connect (lab.model._privacy).
    """
    _install_shutdown_hook()
    with _registry_lock:
        old = _registry.get(listener.name)
    if old is not None:
        old.stop(timeout)
    privacy = listener.privacy = admit_listener(listener, share, DEFAULT_MAX_BYTES)
    try:
        _start(listener, server, timeout)
    except BaseException:
        privacy.release()
        raise
    with _registry_lock:
        _registry[listener.name] = listener
    return listener


def _check_listen_arguments(name, capture, max_events, max_bytes):
    if name is not None and (not isinstance(name, str) or not name.strip()):
        raise TypeError(f"name must be a non-empty string such as 'my-echo', not {name!r}")
    if type(capture) is not bool:
        raise TypeError(f"capture must be True or False, not {capture!r}")
    for label, value in (("max_events", max_events), ("max_bytes", max_bytes)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{label} must be a whole number of at least 1, not {value!r}")


def _start(listener, server, timeout):
    try:
        bridge.call(listener._start_in_reactor, server, timeout=timeout)
    except CannotListenError as error:
        if listener.spec.kind == "unix":
            raise ListenError(
                f"cannot listen on the socket {listener.path!r}: {error.socketError}. Choose "
                "another path, in a folder of yours.") from None
        raise ListenError(
            f"cannot listen on {listener.spec.text}: {error.socketError}. Choose another "
            "port, or port 0 for any free one.") from None
    except (ValueError, TypeError) as error:
        raise EndpointError(f"Twisted rejected {listener.spec.text!r}: {error}") from None


def listeners() -> "ListenerTable":
    """The running listeners, as a list that shows as a table."""
    with _registry_lock:
        return ListenerTable(l for l in _registry.values() if l.running)


def get_listener(name: str) -> Listener:
    """The running listener called ``name`` (``KeyError`` if none)."""
    with _registry_lock:
        if name not in _registry:
            raise KeyError(f"no running listener {name!r}; running: {', '.join(_registry)}")
        return _registry[name]


def _stop_all_in_reactor():
    with _registry_lock:
        running = list(_registry.values())
    return gatherResults([l._stop_in_reactor() for l in running if l.running])


def stop_all(timeout: float = bridge.DEFAULT_TIMEOUT) -> Any:
    """Stop every running listener (the kernel does this on shutdown)."""
    if bridge.in_reactor_thread():
        return _stop_all_in_reactor()
    bridge.call(_stop_all_in_reactor, timeout=timeout)
    return None


def _install_shutdown_hook():
    global _hook_installed
    with _registry_lock:
        if not _hook_installed:
            bridge.on_shutdown(_stop_all_in_reactor)
            _hook_installed = True
