"""The proxy's legs: TCP client and server legs and their factory, and the UDP proxy."""

from collections import OrderedDict

from twisted.internet.interfaces import IHalfCloseableProtocol
from twisted.internet.protocol import DatagramProtocol, Factory, Protocol
from zope.interface import implementer

from lab.adapters._proxy_pipeline import Pipeline
from lab.adapters._proxy_values import TO_CLIENT, TO_SERVER
from lab.adapters._send import send_now
from lab.adapters.wiretap import address_of, reason_text
from lab.protocols.framing import RawFramer

MAX_DATAGRAM_CLIENTS = 256


class _StreamTap:
    """What a pipeline needs of a TCP leg: send, pause, resume, half-close, close, abort."""

    close_reason = None

    def send(self, data):
        """Write now if the socket is idle, else queue."""
        send_now(self.transport, data)

    def pause(self):
        """Stop reading from this side."""
        self.transport.pauseProducing()

    def resume(self):
        """Read from this side again."""
        if self.transport is not None and self.connected:
            self.transport.resumeProducing()

    def half_close(self):
        """Close our sending side (the peer reads EOF)."""
        lose = getattr(self.transport, "loseWriteConnection", None)
        (lose or self.transport.loseConnection)()

    def close(self):
        """Close after pending writes."""
        if self.transport is not None:
            self.transport.loseConnection()

    def abort(self):
        """Drop the connection now (an RST where the platform sends one)."""
        if self.transport is not None:
            abort = getattr(self.transport, "abortConnection", None)
            (abort or self.transport.loseConnection)()


@implementer(IHalfCloseableProtocol)
class ClientLeg(Protocol, _StreamTap):
    """A client's connection to the proxy; makes its own connection to the target."""

    def __init__(self, pipeline):
        self.pipeline = pipeline

    def connectionMade(self):
        """Record the client, pause it, and connect to the target."""
        pipeline = self.pipeline
        pipeline.client_tap = self
        transport = self.transport
        pipeline.id = pipeline.hub.capture.opened(
            "tcp", address_of(transport.getPeer()), address_of(transport.getHost()), self)
        transport.pauseProducing()  # until the server leg is up
        self.factory.connect(ServerLeg(pipeline)).addErrback(pipeline.connect_failed)

    def dataReceived(self, data):
        """Bytes from the client."""
        self.pipeline.received(TO_SERVER, data)

    def readConnectionLost(self):
        """The client half-closed: pass it on after what it sent."""
        self.pipeline.eof(TO_SERVER)

    def writeConnectionLost(self):
        """Our side towards the client closed."""

    def connectionLost(self, reason):
        """Record why, and let the server leg finish."""
        pipeline = self.pipeline
        pipeline.client_tap = None
        pipeline.hub.capture.closed(pipeline.id, self.close_reason or reason_text(reason))
        pipeline.lost("client", reason_text(reason))


@implementer(IHalfCloseableProtocol)
class ServerLeg(Protocol, _StreamTap):
    """The proxy's connection to the target for one client."""

    def __init__(self, pipeline):
        self.pipeline = pipeline

    def connectionMade(self):
        """Record the server leg and let the client's bytes flow."""
        transport = self.transport
        self.pipeline.connected(self, address_of(transport.getHost()),
                                address_of(transport.getPeer()))

    def dataReceived(self, data):
        """Bytes from the server."""
        self.pipeline.received(TO_CLIENT, data)

    def readConnectionLost(self):
        """The server half-closed."""
        self.pipeline.eof(TO_CLIENT)

    def writeConnectionLost(self):
        """Our side towards the server closed."""

    def connectionLost(self, reason):
        """Record why, and close the client leg after what is left."""
        pipeline = self.pipeline
        pipeline.server_tap = None
        pipeline.hub.capture.closed(pipeline.server_id, self.close_reason
                                    or reason_text(reason))
        pipeline.lost("server", reason_text(reason))


class ProxyFactory(Factory):
    """Builds a :class:`ClientLeg` and a :class:`Pipeline` per accepted connection.

    ``connect(protocol)`` connects a server leg to the target and returns a Deferred.
    """

    noisy = False

    def __init__(self, hub, connect, clock):
        self.hub, self.connect, self.clock = hub, connect, clock

    def buildProtocol(self, addr):
        """A fresh pipeline for this client."""
        pipeline = Pipeline(self.hub, self.clock)
        self.hub.pipeline_started(pipeline)
        leg = ClientLeg(pipeline)
        leg.factory = self
        return leg


class _DatagramTap:
    """A UDP leg as a pipeline sees it: send a datagram; the rest is a no-op or forgets the leg."""

    close_reason = None

    def __init__(self, write, forget):
        self._write, self._forget = write, forget

    def send(self, data):
        """Send one datagram."""
        self._write(data)

    def pause(self):
        """UDP has no back-pressure: datagrams beyond the bounds are the network's to drop."""

    def resume(self):
        """See :meth:`pause`."""

    def half_close(self):
        """UDP has no half-close: forget the leg."""
        self._forget()

    def close(self):
        """Forget this client's legs."""
        self._forget()

    abort = close


class _ServerDatagram(DatagramProtocol):
    noisy = False

    def __init__(self, pipeline):
        self.pipeline = pipeline

    def datagramReceived(self, data, addr):
        self.pipeline.received(TO_CLIENT, data)

    def connectionRefused(self):
        self.pipeline.hub.note(self.pipeline.id, "target refused a datagram (ICMP port "
                                                 "unreachable)")


class ProxyDatagram(DatagramProtocol):
    """A UDP proxy: one pipeline and one connected server port per client address."""

    noisy = False

    def __init__(self, hub, target, reactor):
        self.hub, self.target, self.reactor = hub, target, reactor
        self.pipelines = OrderedDict()  # (host, port) -> (pipeline, server port)

    def datagramReceived(self, data, addr):
        """A datagram from a client: through its pipeline, to the target."""
        addr = (addr[0], addr[1])
        entry = self.pipelines.get(addr)
        if entry is None:
            entry = self._open(addr)
        else:
            self.pipelines.move_to_end(addr)
        entry[0].received(TO_SERVER, data)

    def _open(self, addr):
        if len(self.pipelines) >= MAX_DATAGRAM_CLIENTS:
            self._forget(next(iter(self.pipelines)), "forgotten: too many UDP clients")
        pipeline = Pipeline(self.hub, self.reactor, transport="udp")
        pipeline.framers = {TO_SERVER: RawFramer(), TO_CLIENT: RawFramer()}
        self.hub.pipeline_started(pipeline)
        local = address_of(self.transport.getHost())
        pipeline.id = self.hub.capture.opened("udp", addr, local, None)
        host, port = self.target
        interface = "::1" if ":" in host else "127.0.0.1"
        server_port = self.reactor.listenUDP(0, _ServerDatagram(pipeline), interface=interface)
        server_port.connect(host, port)
        pipeline.client_tap = _DatagramTap(lambda data: self.transport.write(data, addr),
                                           lambda: self._forget(addr, "closed by a fault"))
        self.pipelines[addr] = (pipeline, server_port)
        pipeline.connected(_DatagramTap(server_port.write,
                                        lambda: self._forget(addr, "closed by a fault")),
                           address_of(server_port.getHost()), (host, port))
        return self.pipelines[addr]

    def _forget(self, addr, reason):
        entry = self.pipelines.pop(addr, None)
        if entry is None:
            return
        pipeline, server_port = entry
        pipeline.closed = True
        self.hub.capture.closed(pipeline.id, reason)
        self.hub.capture.closed(pipeline.server_id, reason)
        server_port.stopListening()

    def doStop(self):
        """Forget every client when the proxy stops."""
        for addr in list(self.pipelines):
            self._forget(addr, "proxy stopped")
        DatagramProtocol.doStop(self)
