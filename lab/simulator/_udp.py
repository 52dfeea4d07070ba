"""Simulated UDP: datagrams that may be lost, duplicated or overtaken, as the seed decides."""

from twisted.internet import error
from twisted.internet.address import IPv4Address
from twisted.internet.defer import succeed
from twisted.internet.interfaces import IListeningPort, IUDPTransport
from zope.interface import implementer

from lab.simulator._flow import Message
from lab.simulator._values import short

__all__ = ["Datagrams", "UDPPort"]

MAX_DATAGRAM = 65507


@implementer(IUDPTransport, IListeningPort)
class UDPPort:
    """A bound UDP port of a simulated host: the transport its DatagramProtocol writes to."""

    def __init__(self, datagrams, host, number, protocol, interface, max_packet):
        self.datagrams, self.host, self.number = datagrams, host, number
        self.protocol, self.interface, self.max_packet = protocol, interface, max_packet
        self.connected_to = None
        self.listening = False
        self._broadcast = False

    def write(self, datagram, addr=None):
        """Send one datagram to ``addr`` (``(host, port)``), or to the connected peer."""
        if not isinstance(datagram, bytes):
            raise TypeError(f"Data must be bytes, not {type(datagram).__name__}")
        if len(datagram) > MAX_DATAGRAM:
            raise error.MessageLengthError(f"a datagram holds at most {MAX_DATAGRAM} bytes, "
                                           f"not {len(datagram)}")
        if addr is None:
            if self.connected_to is None:
                raise ValueError("write() needs an address (host, port): this port is not "
                                 "connected.")
            addr = self.connected_to
        elif self.connected_to is not None and tuple(addr) != self.connected_to:
            raise ValueError(f"this port is connected to {self.connected_to}; write without an "
                             "address.")
        if not self.listening:
            return
        self.datagrams.send(self, tuple(addr), datagram)

    def writeSequence(self, seq, addr=None):  # noqa: N802
        """Send the concatenation of ``seq`` as one datagram."""
        self.write(b"".join(seq), addr)

    def connect(self, host, port):
        """Send to and receive from only ``(host, port)``."""
        if self.connected_to is not None:
            raise RuntimeError("already connected; reconnecting is not supported")
        self.connected_to = (host, port)

    def getHost(self):  # noqa: N802
        """The address this port is bound to."""
        return IPv4Address("UDP", self.host.address, self.number)

    def stopListening(self):  # noqa: N802
        """Unbind the port and stop the protocol."""
        if self.listening:
            self.listening = False
            del self.host.udp_ports[self.number]
            self.protocol.doStop()
        return succeed(None)

    loseConnection = stopListening

    def setBroadcastAllowed(self, enabled):  # noqa: N802
        """Remember the flag (broadcast is not simulated)."""
        self._broadcast = bool(enabled)

    def getBroadcastAllowed(self):  # noqa: N802
        """The flag given to :meth:`setBroadcastAllowed`."""
        return self._broadcast

    def logPrefix(self):  # noqa: N802
        """How Twisted's log would name this port."""
        return f"sim udp {self.host.name}:{self.number}"

    def __repr__(self):
        return f"<lab.simulator.UDPPort {self.host.name}:{self.number}>"


class Datagrams:
    """The simulation's UDP: ports of every host, and the fate of each datagram."""

    def __init__(self, sim):
        self.sim = sim

    def listen_udp(self, host, port, protocol, interface, max_packet):
        if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port < 65536:
            raise ValueError(f"port must be an integer from 0 to 65535, not {port!r}.")
        if port == 0:
            port = host.free_port(set(host.udp_ports))
        if port in host.udp_ports:
            raise error.CannotListenError(interface, port, f"UDP port {port} of {host.name} "
                                                           "is taken")
        bound = UDPPort(self, host, port, protocol, interface or "", max_packet)
        host.udp_ports[port] = bound
        bound.listening = True
        protocol.makeConnection(bound)
        return bound

    def send(self, port, addr, data):
        """Decide the datagram's fate (from the seed) and queue its arrival (or its loss)."""
        sim, src = self.sim, port.host
        dst = sim._resolve(src, addr[0])
        label = short(data, 60)
        if dst is None:
            sim._input(src.name, None, f"datagram to unknown {addr[0]}: lost")
            return
        link = sim._settings(src.name, dst.name)
        rng, now = sim._rng, sim._now
        lost = None
        if sim._cut(src.name, dst.name):
            lost = "partitioned"
        elif link.drop and rng.random() < link.drop:
            lost = "dropped by the network"
        copies = 2 if link.duplicate and rng.random() < link.duplicate else 1
        sim._input(src.name, None, f"datagram {src.name}:{port.number}\u2192{dst.name}:{addr[1]} "
                                   f"{label}")
        for copy in range(copies):
            start = now
            if link.bandwidth:  # the link sends one datagram after another
                start = max(now, sim._link_free.get((src.name, dst.name), 0.0))
                sim._link_free[(src.name, dst.name)] = start + len(data) / link.bandwidth
                start += len(data) / link.bandwidth
            arrival = start + link.latency
            if link.jitter:
                arrival += rng.random() * link.jitter
            if copy:
                arrival += rng.random() * max(link.latency, 0.001)
            if link.reorder and rng.random() < link.reorder:
                arrival += rng.uniform(1, 5) * max(link.latency, 0.001)
            message = Message(now, src.name, dst.name, "datagram", label, None, sim._row())
            message.due = arrival
            sim.messages.append(message)
            text = (f"{src.name}:{port.number}\u2192{dst.name}:{addr[1]} {label}"
                    + (" (duplicate)" if copy else ""))
            sim._schedule(arrival, "datagram", dst.name, text,
                          lambda event, n=addr[1]: self._arrive(event, src, port.number, dst, n),
                          data=data, message=message, sent_at=now, lost=lost)

    def _arrive(self, event, src, src_port, dst, dst_port):
        message, row = event.message, self.sim._row()
        if event.lost:
            message.arrived(event.time, row, "lost")
            event.text += f" (lost: {event.lost})"
            return
        target = dst.udp_ports.get(dst_port)
        if target is None or (target.interface.startswith("127.") and src is not dst):
            message.arrived(event.time, row, "discarded")
            event.text += " (nothing listens there: discarded)"
            return
        message.arrived(event.time, row, "delivered")
        data = event.data[:target.max_packet]
        target.protocol.datagramReceived(data, (src.address, src_port))
