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
"""

from collections import OrderedDict
from itertools import count
from typing import Any

from twisted.internet import error
from twisted.internet.address import IPv4Address
from twisted.internet.defer import succeed
from twisted.internet.interfaces import (IConnector, IConsumer, IHalfCloseableProtocol,
                                         IListeningPort, IPushProducer, ITCPTransport)
from twisted.protocols.policies import TimeoutMixin
from twisted.python.failure import Failure
from zope.interface import implementer

from lab.simulator._errors import ConnectionGone
from lab.simulator._values import short
from lab.simulator._queue import Event

__all__ = ["Network", "Connection", "Message"]

MAX_CLOSED = 1000  # closed connections remembered (for hold()'s "it is closed" message)
SEND_BUFFER = 64 * 1024  # bytes in flight from one side before its producer is paused
MAX_LABEL = 60


class Message:
    """One arrow of the sequence diagram: who sent what when, and when (or whether) it arrived."""

    __slots__ = ("sent_at", "arrived_at", "src", "dst", "kind", "label", "connection", "status",
                 "decoded", "due", "sent_row", "arrived_row")

    def __init__(self, sent_at, src, dst, kind, label, connection, row):
        self.sent_at, self.src, self.dst, self.kind = sent_at, src, dst, kind
        self.label, self.connection, self.sent_row = label, connection, row
        self.arrived_at, self.status, self.decoded, self.due = None, "in flight", [], None
        self.arrived_row = None

    def arrived(self, time, row, status):
        """Note the arrival (or loss) at ``time``, in the step numbered ``row``."""
        self.arrived_at, self.arrived_row, self.status = time, row, status

    def __repr__(self):
        return (f"<Message {self.kind} {self.src}->{self.dst} {self.label!r} "
                f"{self.sent_at:.6f}->{self.arrived_at} {self.status}>")


class Flow:
    """One direction of a connection: its order, its holds, its bytes in flight."""

    def __init__(self, conn, sender, receiver, name):
        self.conn, self.sender, self.receiver, self.name = conn, sender, receiver, name
        self.held = False
        self.stalled = []
        self.last_arrival = 0.0
        self.in_flight = 0

    def blocked(self):
        """Why this flow's next segment cannot arrive now ('' if it can)."""
        if self.held:
            return "held"
        sim = self.conn.sim
        if sim._cuts and sim._cut(self.sender.host.name, self.receiver.host.name):
            return "partitioned"
        if self.receiver.reading_paused:
            return "paused by the receiver"
        return ""

    def send(self, kind, data, run, label):
        """Queue one segment (``data`` bytes, or None for a control segment) for arrival."""
        sim = self.conn.sim
        src, dst = self.sender.host.name, self.receiver.host.name
        link = sim._settings(src, dst) if sim._links else sim._defaults
        now = sim._now
        if link.bandwidth:  # the link sends one segment after another
            start = max(now, sim._link_free.get((src, dst), 0.0))
            busy = (len(data) if data else 0) / link.bandwidth
            sim._link_free[(src, dst)] = start + busy
            arrival = start + busy + link.latency
        else:
            arrival = now + link.latency
        if link.jitter:
            arrival += sim._rng.random() * link.jitter
        if arrival < self.last_arrival:
            arrival = self.last_arrival
        self.last_arrival = arrival
        message = Message(now, src, dst, kind, label, self.conn.id, sim._row())
        message.due = arrival
        sim.messages.append(message)
        if data:
            self.in_flight += len(data)
        event = Event(arrival if arrival > now else now, kind, dst, f"{self.name} {label}", run)
        event.created = event.sent_at = now
        event.connection, event.direction, event.data = self.conn.id, self.name, data
        event.flow, event.message = self, message
        return sim._push(event)


def _label(data):
    """A bounded repr of bytes (no memory addresses can appear in one, so no cleaning)."""
    if len(data) <= MAX_LABEL - 4:
        return repr(data)
    return repr(data[:MAX_LABEL - 8]) + "\u2026"


@implementer(ITCPTransport, IConsumer, IPushProducer)
class Side:
    """One end of a simulated TCP connection: the transport its protocol writes to."""

    def __init__(self, conn, host, port, role):
        self.conn, self.host, self.port, self.role = conn, host, port, role
        self.protocol = None
        self.connected = False
        self.disconnecting = False
        self.disconnected = False
        self.write_closed = False
        self.read_closed = False
        self.reading_paused = False
        self.producer = None
        self.streaming = False
        self._producer_paused = False
        self.out = self.into = None  # flows, set by the connection
        self.peer = None             # the other side, set by the connection

    # -- ITransport --------------------------------------------------------------

    def write(self, data):
        """Send ``data`` (bytes) to the peer."""
        if not isinstance(data, bytes):
            raise TypeError(f"Data must be bytes, not {type(data).__name__} {short(data)}")
        if not self.connected or self.write_closed or self.disconnected or not data:
            return
        conn = self.conn
        sim = conn.sim
        size = conn.fragment or (sim._settings(self.host.name, self.peer.host.name).fragment
                                 if sim._links else sim._defaults.fragment)
        if sim._stepping is None:
            sim._input(self.host.name, conn.id, f"{self.out.name} writes {_label(data)}")
        out, arrived = self.out, self.peer._data_arrived
        if not size or len(data) <= size:
            out.send("data", data, arrived, _label(data))
        else:
            for i in range(0, len(data), size):
                piece = data[i:i + size]
                out.send("data", piece, arrived, _label(piece))
        if self.producer is not None and self.streaming and self.out.in_flight > SEND_BUFFER \
                and not self._producer_paused:
            self._producer_paused = True
            self.producer.pauseProducing()

    def writeSequence(self, data):  # noqa: N802
        """Send the concatenation of ``data``."""
        self.write(b"".join(data))

    def loseConnection(self):  # noqa: N802
        """Close after what was written (on the next turn); the peer sees a clean close."""
        if self.disconnecting or self.disconnected or not self.connected:
            return
        self.disconnecting = True
        self.conn.sim._schedule(self.conn.sim._now, "close", self.host.name,
                                f"#{self.conn.id} {self.role} closes",
                                lambda event: self._finish(error.ConnectionDone()),
                                connection=self.conn.id)

    def abortConnection(self):  # noqa: N802
        """Close now, discarding what is not yet sent; the peer sees a reset."""
        if self.disconnected or not self.connected:
            return
        self.disconnecting = True
        self.conn.sim._schedule(self.conn.sim._now, "close", self.host.name,
                                f"#{self.conn.id} {self.role} aborts",
                                lambda event: self._finish(error.ConnectionAborted(), rst=True),
                                connection=self.conn.id)

    def loseWriteConnection(self):  # noqa: N802
        """Half-close: send no more (the peer reads end-of-stream), keep reading."""
        if self.write_closed or self.disconnected or not self.connected:
            return
        self.write_closed = True
        self.out.send("fin", None, self.peer._fin_arrived, "FIN")

    def getPeer(self):  # noqa: N802
        """The other end's address."""
        return self.peer._address()

    def getHost(self):  # noqa: N802
        """This end's address."""
        return self._address()

    def _address(self):
        return IPv4Address("TCP", self.host.address, self.port)

    def getTcpNoDelay(self):  # noqa: N802
        """Always True: the simulation never delays small writes."""
        return True

    def setTcpNoDelay(self, enabled):  # noqa: N802
        """Accepted; writes are never delayed anyway."""

    def getTcpKeepAlive(self):  # noqa: N802
        """Always False: the simulation sends no keep-alives."""
        return False

    def setTcpKeepAlive(self, enabled):  # noqa: N802
        """Accepted; no keep-alives are simulated."""

    def logPrefix(self):  # noqa: N802
        """How Twisted's log would name this connection."""
        return f"sim #{self.conn.id} {self.role}"

    # -- producer and consumer ------------------------------------------------------

    def registerProducer(self, producer, streaming):  # noqa: N802
        """Pause ``producer`` when more than 64 KiB are in flight, resume when they drain."""
        if self.producer is not None:
            raise RuntimeError(f"Cannot register producer {producer}, because producer "
                               f"{self.producer} was never unregistered.")
        if not streaming:
            raise NotImplementedError("the simulation supports streaming (push) producers only")
        self.producer, self.streaming = producer, streaming
        if self.disconnected:
            producer.stopProducing()

    def unregisterProducer(self):  # noqa: N802
        """Forget the producer."""
        self.producer = None

    def pauseProducing(self):  # noqa: N802
        """Stop reading: arriving bytes wait (shown as paused) until :meth:`resumeProducing`."""
        self.reading_paused = True

    def resumeProducing(self):  # noqa: N802
        """Read again: waiting bytes arrive, in order."""
        if self.reading_paused:
            self.reading_paused = False
            self.conn.sim._release_stalled()

    def stopProducing(self):  # noqa: N802
        """Close the connection."""
        self.loseConnection()

    # -- arrivals (run as events) -----------------------------------------------------


    def _delivered(self, event, status="delivered"):
        message = event.message
        if message is not None:
            message.arrived(event.time, self.conn.sim._row(), status)

    def _data_arrived(self, event):
        data = event.data
        self.into.in_flight -= len(data)
        sender = self.peer
        if sender._producer_paused and self.into.in_flight <= SEND_BUFFER // 2:
            sender._producer_paused = False
            if sender.producer is not None:
                sender.producer.resumeProducing()
        if self.disconnected or self.read_closed or not self.connected:
            self._delivered(event, "discarded")
            event.text += " (discarded: this side is closed)"
            return
        message = event.message
        message.arrived(event.time, self.conn.sim._row(), "delivered")
        decoder = self.conn.decoder
        if decoder is not None and event.message is not None:
            try:
                event.message.decoded = decoder.feed("in" if self.role == "server" else "out",
                                                     data)
            except Exception as exc:  # a decoder must never break the run
                event.message.decoded = [f"(decoder failed: {type(exc).__name__})"]
        try:
            self.protocol.dataReceived(data)
        except Exception as exc:
            self._finish(Failure(exc), rst=False)
            raise

    def _fin_arrived(self, event):
        if self.disconnected:
            self._delivered(event, "discarded")
            event.text += " (this side is closed already)"
            return
        self._delivered(event)
        self.read_closed = True
        if self.write_closed:
            self._finish(error.ConnectionDone())
        elif IHalfCloseableProtocol.providedBy(self.protocol):
            self.protocol.readConnectionLost()
        else:
            self._finish(error.ConnectionDone())

    def _reset_arrived(self, event):
        if self.disconnected:
            self._delivered(event, "discarded")
            return
        self._delivered(event)
        self.write_closed = True
        self._finish(error.ConnectionLost("Connection to the other side was lost in a "
                                          "non-clean fashion: reset by the peer."))

    def _finish(self, reason, rst=False):
        """This side is closed: tell the peer (FIN or RST), then the protocol."""
        if self.disconnected:
            return
        if not self.write_closed:
            self.write_closed = True
            if rst:
                self.out.send("reset", None, self.peer._reset_arrived, "RST")
            else:
                self.out.send("fin", None, self.peer._fin_arrived, "FIN")
        self.disconnected, self.connected, self.disconnecting = True, False, False
        reason = reason if isinstance(reason, Failure) else Failure(reason)
        producer, self.producer = self.producer, None
        if producer is not None:
            producer.stopProducing()
        try:
            if self.protocol is not None:
                self.protocol.connectionLost(reason)
        finally:
            if self.role == "client" and self.conn.connector is not None:
                self.conn.connector._lost(reason)
            self.conn.side_closed()


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


@implementer(IListeningPort)
class Port:
    """A listening TCP port of a simulated host."""

    def __init__(self, host, number, factory, interface):
        self.host, self.number, self.factory, self.interface = host, number, factory, interface
        self.listening = False
        self.on_connection = None   # set by sim.listen: called with each Connection

    def startListening(self):  # noqa: N802
        """Start accepting connections (listenTCP has done it already)."""
        if not self.listening:
            if self.number in self.host.tcp_ports:
                raise error.CannotListenError(self.interface, self.number,
                                              f"port {self.number} of {self.host.name} is taken")
            self.host.tcp_ports[self.number] = self
            self.listening = True
            self.factory.doStart()

    def stopListening(self):  # noqa: N802
        """Stop accepting connections (open ones stay); returns a fired Deferred."""
        if self.listening:
            self.listening = False
            del self.host.tcp_ports[self.number]
            self.factory.doStop()
        return succeed(None)

    loseConnection = stopListening

    def getHost(self):  # noqa: N802
        """The address this port listens on."""
        return IPv4Address("TCP", self.host.address, self.number)

    def __repr__(self):
        return f"<lab.simulator.Port {self.host.name}:{self.number}>"


@implementer(IConnector)
class Connector:
    """An outgoing connection attempt, as ``connectTCP`` returns it."""

    def __init__(self, network, host, target, port, factory, timeout):
        self.network, self.host, self.target, self.port = network, host, target, port
        self.factory, self.timeout = factory, timeout
        self.state = "disconnected"
        self.conn = None
        self._timeout_call = None

    def connect(self):
        """Start (or restart) the attempt."""
        self.state = "connecting"
        self.factory.doStart()
        self.factory.startedConnecting(self)
        if self.state == "connecting":
            self.network._attempt(self)

    def stopConnecting(self):  # noqa: N802
        """Give up an attempt still under way."""
        if self.state != "connecting":
            raise error.NotConnectingError("not connecting")
        self._failed(error.UserError(string="Connection was cancelled"))

    def disconnect(self):
        """Close the connection, or give up the attempt."""
        if self.state == "connecting":
            self.stopConnecting()
        elif self.state == "connected" and self.conn is not None:
            self.conn.client.loseConnection()

    def getDestination(self):  # noqa: N802
        """Where this connector connects to."""
        target = self.network.sim._resolve(self.host, self.target)
        address = target.address if target is not None else str(self.target)
        return IPv4Address("TCP", address, self.port)

    def _failed(self, reason):
        if self.state != "connecting":
            return
        self.state = "disconnected"
        self._cancel_timeout()
        if self.conn is not None:
            self.conn.abandoned = True
            self.conn.mark_closed()
        self.factory.clientConnectionFailed(self, Failure(reason))
        self.factory.doStop()

    def _connected(self):
        self.state = "connected"
        self._cancel_timeout()

    def _lost(self, reason):
        if self.state == "connected":
            self.state = "disconnected"
            self.factory.clientConnectionLost(self, reason)
            self.factory.doStop()

    def _cancel_timeout(self):
        if self._timeout_call is not None and self._timeout_call.active():
            self._timeout_call.cancel()
        self._timeout_call = None


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
