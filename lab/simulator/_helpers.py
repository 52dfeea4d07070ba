"""``sim.listen`` and ``sim.connect``: a plugin server and a client in two lines, as live."""

from __future__ import annotations

import inspect
from collections import deque
from typing import Any

from twisted.internet.interfaces import IHalfCloseableProtocol
from twisted.internet.protocol import ClientFactory, Protocol
from zope.interface import implementer

from lab.simulator._values import short

__all__ = ["Listener", "Client", "listen", "connect"]

MAX_RECEIVED = 1 << 20  # bytes a client keeps; older ones are dropped (and counted)


class Listener:
    """A server in the simulation: which host and port, what it serves, its connections."""

    def __init__(self, sim: Any, host: Any, port: Any, name: str, decoder_factory: Any,
                 udp: bool) -> None:
        self.sim, self._host, self.port_object = sim, host, port
        self.name, self._decoder_factory, self.udp = name, decoder_factory, udp
        self.connections: deque[Any] = deque(maxlen=1000)  # the last connections it accepted

    @property
    def host(self) -> str:
        """The name of the host it listens on."""
        return self._host.name

    @property
    def address(self) -> str:
        """The IPv4 address of that host."""
        return self._host.address

    @property
    def port(self) -> int:
        """The port number it listens on."""
        return self.port_object.getHost().port

    def _accepted(self, conn):
        conn.decoder = self._decoder_factory() if self._decoder_factory else None
        self.connections.append(conn)

    def stop(self) -> None:
        """Stop listening (connections already open stay open)."""
        self.port_object.stopListening()

    def __repr__(self):
        kind = "udp" if self.udp else "tcp"
        return f"<lab.simulator.Listener {self.name} on {self.host}:{self.port}/{kind}>"


@implementer(IHalfCloseableProtocol)
class _ClientProtocol(Protocol):
    """Keeps what arrives for its :class:`Client`; closes when the server has finished sending."""

    def __init__(self, client):
        self.client = client

    def connectionMade(self):
        """Send what was queued before the connection was up."""
        self.client._made(self.transport)

    def dataReceived(self, data):
        """Keep the bytes (bounded)."""
        self.client._got(data)

    def readConnectionLost(self):
        """The server finished sending: close our side too, as an ordinary client does."""
        self.client.server_finished = True
        self.transport.loseConnection()

    def writeConnectionLost(self):
        """Nothing to do: we only stop sending."""

    def connectionLost(self, reason):
        """Note why."""
        self.client._lost(reason)


class _ClientFactory(ClientFactory):
    noisy = False

    def __init__(self, client):
        self.client = client

    def buildProtocol(self, addr):  # noqa: N802
        return _ClientProtocol(self.client)

    def clientConnectionFailed(self, connector, reason):  # noqa: N802
        self.client._lost(reason)


class Client:
    """A simulated TCP client: ``send()`` queues bytes, the simulation carries them, ``read()``.

    Nothing blocks: after sending, run the simulation (``sim.run_until_idle()``)
    and read what arrived.
    """

    def __init__(self, sim: Any, host: str) -> None:
        self.sim, self.host = sim, host
        self.transport = None
        self.closed_reason = None
        self.server_finished = False
        self._queued: list[bytes | None] = []
        self._buffer = bytearray()
        self._unread = 0
        self.dropped = 0
        self.connector = None

    @property
    def connection(self) -> Any:
        """The simulated :class:`~lab.simulator.Connection` (None if the attempt failed early)."""
        return self.connector.conn if self.connector is not None else None

    @property
    def connected(self) -> bool:
        """True while the connection is up."""
        return self.transport is not None and self.closed_reason is None

    def send(self, data: bytes | str) -> None:
        """Send bytes (a str is sent as UTF-8); before the connection is up, they wait for it."""
        if isinstance(data, str):
            data = data.encode("utf-8")
        if not isinstance(data, (bytes, bytearray)):
            raise TypeError(f"send() takes bytes or str, not {type(data).__name__}")
        if self.closed_reason is not None:
            raise ConnectionError(f"the connection is closed ({self.closed_reason}); "
                                  "connect again.")
        if self.transport is None:
            self.sim._input(self.host, None, f"queued until connected: {short(bytes(data))}")
            self._queued.append(bytes(data))
        else:
            self.transport.write(bytes(data))

    def read(self) -> bytes:
        """The bytes that arrived since the last read()."""
        data = bytes(self._buffer[len(self._buffer) - self._unread:]) if self._unread else b""
        self._unread = 0
        return data

    @property
    def received(self) -> bytes:
        """Every byte received so far (the last MiB of it)."""
        return bytes(self._buffer)

    def lines(self) -> list[str]:
        """What was received, split into text lines."""
        return self.received.decode("utf-8", "replace").splitlines()

    def close(self) -> None:
        """Close the connection (after what was sent)."""
        if self.transport is not None:
            self.transport.loseConnection()
        elif self.connector is not None and self.connector.state == "connecting":
            self.connector.stopConnecting()

    def shutdown_write(self) -> None:
        """Half-close: tell the server we send no more, keep reading its replies."""
        if self.transport is None:
            self._queued.append(None)
        else:
            self.transport.loseWriteConnection()

    def _made(self, transport):
        self.transport = transport
        for data in self._queued:
            if data is None:
                transport.loseWriteConnection()
            else:
                transport.write(data)
        self._queued = []

    def _got(self, data):
        self._buffer += data
        self._unread = min(self._unread + len(data), MAX_RECEIVED)
        extra = len(self._buffer) - MAX_RECEIVED
        if extra > 0:
            del self._buffer[:extra]
            self.dropped += extra

    def _lost(self, reason):
        value = getattr(reason, "value", reason)
        self.closed_reason = (str(value).strip() or type(value).__name__).splitlines()[0]

    def __repr__(self):
        state = "connecting" if self.transport is None and self.closed_reason is None else (
            "open" if self.closed_reason is None else f"closed ({self.closed_reason})")
        return f"<lab.simulator.Client on {self.host}: {state}, {len(self._buffer)} bytes in>"


def _plugin(name_or_plugin):
    if isinstance(name_or_plugin, str):
        from lab.plugin import plugins

        return plugins().load(name_or_plugin)
    return name_or_plugin


def _accepts_clock(plugin):
    """True if the plugin's factory takes ``clock=`` (memcached does: its expiry follows it)."""
    try:
        plugin.load()
        target = plugin._loaded.get("factory")
        return target is not None and "clock" in inspect.signature(target).parameters
    except (AttributeError, TypeError, ValueError):
        return False


def listen(sim, what, port, host, udp, interface, options):
    """See :meth:`Simulation.listen`."""
    machine = sim.host(host) if isinstance(host, str) else host
    decoder_factory, name = None, getattr(what, "name", None) or type(what).__name__
    if isinstance(what, str) or hasattr(what, "build_factory"):
        plugin = _plugin(what)
        name = plugin.name
        if udp:
            built = plugin.build_datagram(**options)
        else:
            if _accepts_clock(plugin) and "clock" not in options:
                options = dict(options, clock=machine.seconds)
            built = plugin.build_factory(**options)
        decoder_factory = plugin.build_decoder if plugin.build_decoder() is not None else None
    else:
        if options:
            raise TypeError(f"options {sorted(options)} are for plugins; a factory is used as is.")
        needed = "doStart" if udp else "buildProtocol"
        if not hasattr(what, needed):
            raise TypeError(
                f"sim.listen() serves a plugin name (such as 'echo'), a plugin, or a "
                f"{'DatagramProtocol' if udp else 'Factory'} instance, not {what!r}.")
        built = what
    if udp:
        bound = machine.listenUDP(port, built, interface=interface)
    else:
        bound = machine.listenTCP(port, built, interface=interface)
    listener = Listener(sim, machine, bound, name, decoder_factory, udp)
    if not udp:
        bound.on_connection = listener._accepted
    sim._control(f"listen {name} on {machine.name}:{listener.port}" + ("/udp" if udp else ""))
    return listener


def connect(sim, target, port, host, timeout):
    """See :meth:`Simulation.connect`."""
    machine = sim.host(host) if isinstance(host, str) else host
    if isinstance(target, Listener):
        server, port = target.host, target.port if port is None else port
    elif isinstance(target, tuple) and len(target) == 2:
        server, port = target
    elif isinstance(target, str) and port is not None:
        server = target
    else:
        raise TypeError(f"connect() takes a listener from sim.listen, a (host, port) pair, or a "
                        f"host name and port=, not {short(target)}.")
    client = Client(sim, machine.name)
    sim._control(f"connect {machine.name} to {server}:{port}")
    client.connector = machine.connectTCP(server, port, _ClientFactory(client), timeout=timeout)
    return client
