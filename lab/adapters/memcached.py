"""The memcached server on Twisted: a thin Protocol over the pure core.

All the protocol lives in :mod:`lab.protocols.memcached`; this module only
moves bytes.  Each ``dataReceived`` runs every complete command buffered and
answers with one ``write``, which is what keeps it fast (one system call per
batch of pipelined commands, no per-command Deferreds).

The protocol supports half-close: when a client shuts down its sending side
the server still answers what it received, then closes, as memcached does.
"""

import time

from twisted.internet.interfaces import IHalfCloseableProtocol, IPushProducer
from twisted.internet.protocol import Factory, Protocol
from zope.interface import implementer

from lab.adapters._send import send_now
from lab.protocols.memcached import (DEFAULT_ITEM_SIZE_MAX, DEFAULT_MAX_LINE,
                                     DEFAULT_MEMORY_LIMIT, MEMCACHED_VERSION, Connection,
                                     Engine, Store)

__all__ = ["MemcachedProtocol", "MemcachedFactory"]

_TOO_MANY = b"ERROR Too many open connections\r\n"


@implementer(IHalfCloseableProtocol, IPushProducer)
class MemcachedProtocol(Protocol):
    """One client connection: bytes to the core's :class:`Connection`, replies back.

    It is also the transport's producer: when replies pile up because the
    client does not read them (more than the transport's buffer size), the
    transport pauses it and it stops reading requests, so a client that only
    sends cannot make the server buffer replies without bound.  memcached
    does the same by not reading while it cannot write.
    """

    connection = None

    def connectionMade(self):
        """Refuse the connection past ``max_connections``, as memcached's maxconns_fast does."""
        counts = self.factory.engine.connections
        if counts["curr"] >= self.factory.engine.max_connections:
            counts["rejected"] += 1
            self.transport.write(_TOO_MANY)
            self.transport.loseConnection()
            return
        counts["curr"] += 1
        counts["total"] += 1
        self.connection = Connection(self.factory.engine, max_line=self.factory.max_line)
        self.transport.registerProducer(self, True)

    def pauseProducing(self):
        """The client is not reading replies: stop reading its requests."""
        self.transport.pauseProducing()

    def resumeProducing(self):
        """Replies drained: read requests again."""
        self.transport.resumeProducing()

    def stopProducing(self):
        """The connection is going away; nothing to stop."""

    def dataReceived(self, data):
        """Run every complete command; write all replies at once; close if the core says so."""
        connection = self.connection
        if connection is None:
            return
        reply = connection.feed(data)
        if reply:
            send_now(self.transport, reply)  # now, not a reactor turn later
        if connection.closed is not None:
            self.connection = None
            self.factory.engine.connections["curr"] -= 1
            self.transport.loseConnection()

    def readConnectionLost(self):
        """The client will send nothing more: answer what came, then close."""
        self.transport.loseConnection()

    def writeConnectionLost(self):
        """The client stopped reading: nothing more can be sent, so close."""
        self.transport.loseConnection()

    def connectionLost(self, reason):
        """Forget the connection in the server's counts."""
        if self.connection is not None:
            self.connection = None
            self.factory.engine.connections["curr"] -= 1


class MemcachedFactory(Factory):
    """A memcached server: one cache (engine and store) shared by all its connections."""

    protocol = MemcachedProtocol
    noisy = False

    def __init__(self, memory_limit=DEFAULT_MEMORY_LIMIT, item_size_max=DEFAULT_ITEM_SIZE_MAX,
                 max_connections=1024, max_line=DEFAULT_MAX_LINE, version=MEMCACHED_VERSION,
                 clock=time.time):
        for name, value in (("memory_limit", memory_limit), ("item_size_max", item_size_max),
                            ("max_connections", max_connections), ("max_line", max_line)):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"memcached option {name} must be a positive integer of "
                                 f"bytes/connections, not {value!r}.")
        store = Store(clock=clock, memory_limit=memory_limit, item_size_max=item_size_max)
        self.engine = Engine(store, version=str(version), max_connections=max_connections)
        self.max_line = max_line

    @property
    def store(self):
        """The cache shared by every connection."""
        return self.engine.store
