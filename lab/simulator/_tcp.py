"""Simulated TCP: listening ports, connectors, and connections made of two ordered flows.

A connection has two *flows* (client to server, server to client).  Each
write becomes one or more segments (``fragment`` splits them) that arrive
after the link's latency, in order: a segment never arrives before the one
written before it.  The handshake and the closes travel in the same flows,
so a server's greeting cannot overtake the client's ``connectionMade``, and
a FIN cannot overtake the data before it.

The sides are transports as Twisted's are (``ITCPTransport``, push
producer and consumer): ``write``, ``loseConnection`` (closes after what was
written, on the next turn), ``loseWriteConnection`` (half-close),
``abortConnection``, ``pauseProducing`` (stop reading: arriving bytes wait).

The pieces: :mod:`._flow` (flows and the diagram's messages), :mod:`._tcp_side`
(the transports), :mod:`._tcp_ports` (listening ports and connectors); here
the connection that joins two sides by two flows, and the network that makes
connections, accepts or refuses them.
"""

from collections import OrderedDict
from itertools import count
from typing import Any

from twisted.internet import error
from twisted.protocols.policies import TimeoutMixin
from twisted.python.failure import Failure

from lab.simulator._errors import ConnectionGone
from lab.simulator._flow import Flow
from lab.simulator._tcp_ports import Connector, Port
from lab.simulator._tcp_side import Side

__all__ = ["Network", "Connection"]

MAX_CLOSED = 1000  # closed connections remembered (for hold()'s "it is closed" message)


class Connection:
    """A simulated TCP connection: its id, its two sides, its two flows."""

    def __init__(self, sim: Any, cid: int, client_host: Any, server_host: Any, server_port: int,
                 client_port: int) -> None:
        self.sim, self.id = sim, cid
        self.client = Side(self, client_host, client_port, "client")
        self.server = Side(self, server_host, server_port, "server")
        self.to_server = Flow(self, self.client, self.server, f"{client_host.name}\u2192"
                                                              f"{server_host.name}")
        self.to_client = Flow(self, self.server, self.client, f"{server_host.name}\u2192"
                                                              f"{client_host.name}")
        self.client.out = self.server.into = self.to_server
        self.server.out = self.client.into = self.to_client
        self.client.peer, self.server.peer = self.server, self.client
        self.connector = None
        self.decoder = None
        self.fragment = None
        self.listener = None
        self.closed = False

    def flows(self, direction: str) -> tuple[Flow, ...]:
        """The flows ``direction`` names: ``"to_server"``, ``"to_client"`` or ``"both"``."""
        table = {"to_server": (self.to_server,), "to_client": (self.to_client,),
                 "both": (self.to_server, self.to_client)}
        if direction not in table:
            raise ValueError(f"direction must be 'to_server', 'to_client' or 'both', "
                             f"not {direction!r}.")
        return table[direction]

    def side_closed(self) -> None:
        """Forget the connection once both sides are closed (or the client never came)."""
        if self.server.disconnected and (self.client.disconnected or self.client.protocol is None):
            self.mark_closed()

    def mark_closed(self) -> None:
        """Closed for good: the network keeps it only among the last closed ones."""
        if not self.closed:
            self.closed = True
            self.sim._net.forget(self)

    @property
    def state(self) -> str:
        """``connecting``, ``open``, ``closing`` or ``closed``."""
        if self.closed:
            return "closed"
        if not self.client.connected and not self.client.disconnected:
            return "connecting"
        if self.client.disconnected or self.server.disconnected:
            return "closing"
        return "open"

    def __repr__(self):
        return (f"<lab.simulator.Connection #{self.id} {self.to_server.name} "
                f"port {self.server.port}: {self.state}>")


class Network:
    """The simulation's TCP: ports, connectors and connections of every host."""

    def __init__(self, sim):
        self.sim = sim
        self.connections: dict[int, Connection] = {}   # open (or closing) ones
        self.closed: OrderedDict[int, Connection] = OrderedDict()  # the last closed ones
        self._ids = count(1)

    def connection(self, which, open_only=False):
        """The Connection ``which`` names (a Connection, a client helper, or an id)."""
        conn = getattr(which, "connection", which)
        if isinstance(conn, int) and not isinstance(conn, bool):
            conn = self.connections.get(conn) or self.closed.get(conn)
        if not isinstance(conn, Connection) or conn.sim is not self.sim:
            known = [c.id for c in self.sim.connections()]
            raise ConnectionGone(f"{which!r} is not a connection of this simulation; open ones: "
                                 f"{known} (sim.connections()).")
        if open_only and conn.closed:
            raise ConnectionGone(f"connection #{conn.id} ({conn.to_server.name}) is closed; hold "
                                 "and release work on open connections: see sim.connections().")
        return conn

    def forget(self, conn: Connection) -> None:
        """Move a closed connection to the bounded list of closed ones."""
        if self.connections.pop(conn.id, None) is not None:
            self.closed[conn.id] = conn
            while len(self.closed) > MAX_CLOSED:
                self.closed.popitem(last=False)

    def listen_tcp(self, host, port, factory, interface):
        if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port < 65536:
            raise ValueError(f"port must be an integer from 0 to 65535, not {port!r}.")
        if port == 0:
            port = host.free_port(set(host.tcp_ports))
        listening = Port(host, port, factory, interface or "")
        listening.startListening()
        return listening

    def connect_tcp(self, host, target, port, factory, timeout):
        if isinstance(target, bytes):
            target = target.decode("ascii", "replace")
        if not isinstance(target, str):
            raise TypeError(f"connectTCP's host must be a host name or address, not {target!r}")
        if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
            raise ValueError(f"port must be an integer from 1 to 65535, not {port!r}.")
        connector = Connector(self, host, target, port, factory, timeout)
        connector.connect()
        return connector

    def _attempt(self, connector):
        sim, host = self.sim, connector.host
        server_host = sim._resolve(host, connector.target)
        if server_host is None:
            sim._schedule(sim._now, "failed", host.name,
                          f"connect to {connector.target}:{connector.port}: no such host",
                          lambda event: connector._failed(error.DNSLookupError(
                              f"no simulated host is called {connector.target!r}")))
            return
        used = {c.client.port for c in self.connections.values() if c.client.host is host}
        conn = Connection(sim, next(self._ids), host, server_host, connector.port,
                          host.free_port(used))
        conn.connector, connector.conn = connector, conn
        conn.abandoned = False
        self.connections[conn.id] = conn
        if connector.timeout:
            connector._timeout_call = host.callLater(
                connector.timeout, connector._failed,
                error.TCPTimedOutError(string=f"no answer in {connector.timeout} s"))
        conn.to_server.send("connect", None, lambda event: self._arrive(conn, event), "SYN")

    def _arrive(self, conn, event):
        """The connection attempt reaches the server host: accept, or refuse."""
        server = conn.server
        conn.server.read_closed = False
        port = server.host.tcp_ports.get(server.port)
        if conn.abandoned:
            conn.client._delivered(event, "discarded")
            event.text += " (discarded: the client gave up)"
            return
        server._delivered(event)
        local_only = port is not None and port.interface.startswith("127.")
        if port is None or (local_only and conn.client.host is not server.host):
            why = "nothing listens there" if port is None else "it listens on 127.0.0.1 only"
            event.text += f" (refused: {why})"
            conn.to_client.send("refused", None, lambda e: self._refused(conn, e), "refused")
            return
        protocol = port.factory.buildProtocol(conn.client._address())
        if protocol is None:
            event.text += " (the factory refused it)"
            conn.to_client.send("accept", None, lambda e: self._accepted(conn, e), "SYN-ACK")
            conn.server.connected = True
            conn.server._finish(error.ConnectionDone())
            return
        conn.listener = port
        conn.to_client.send("accept", None, lambda e: self._accepted(conn, e), "SYN-ACK")
        server.protocol, server.connected = protocol, True
        if port.on_connection is not None:
            port.on_connection(conn)
        _make_connection(protocol, server)

    def _refused(self, conn, event):
        conn.client._delivered(event)
        conn.connector._failed(error.ConnectionRefusedError(
            string=f"{conn.server.host.name}:{conn.server.port} refused the connection"))
        conn.mark_closed()

    def _accepted(self, conn, event):
        client, connector = conn.client, conn.connector
        if connector.state != "connecting":
            client._delivered(event, "discarded")
            event.text += " (discarded: the attempt was given up)"
            conn.server.abortConnection()
            return
        client._delivered(event)
        connector._connected()
        protocol = connector.factory.buildProtocol(conn.server._address())
        if protocol is None:
            client.connected = True
            client.abortConnection()
            return
        client.protocol, client.connected = protocol, True
        _make_connection(protocol, client)


def _make_connection(protocol, end):
    """Connect ``protocol`` to the connection's ``end`` on the end's host clock.

    If ``makeConnection`` raises, the end finishes with that failure and the error propagates.
    """
    _own_clock(protocol, end.host)
    try:
        protocol.makeConnection(end)
    except Exception as exc:
        end._finish(Failure(exc))
        raise


def _own_clock(protocol, host):
    """TimeoutMixin asks the global reactor for timers; give such protocols the host's clock."""
    for _ in range(8):  # through wrappers (endpoints wrap the protocol they connect)
        if isinstance(protocol, TimeoutMixin) and "callLater" not in vars(protocol):
            protocol.callLater = host.callLater
        protocol = getattr(protocol, "wrappedProtocol", None) or getattr(
            protocol, "_wrappedProtocol", None)
        if protocol is None:
            return
