"""Simulated TCP's listening ports and outgoing connection attempts (``listenTCP``,
``connectTCP``); the network (:class:`lab.simulator._tcp.Network`) does the rest.
"""

from twisted.internet import error
from twisted.internet.address import IPv4Address
from twisted.internet.defer import succeed
from twisted.internet.interfaces import IConnector, IListeningPort
from twisted.python.failure import Failure
from zope.interface import implementer


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
