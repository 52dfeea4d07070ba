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
from twisted.internet.task import LoopingCall
from zope.interface import implementer

from lab.adapters._send import send_now, sender
from lab.protocols.memcached import (DEFAULT_ITEM_SIZE_MAX, DEFAULT_MAX_LINE,
                                     DEFAULT_MEMORY_LIMIT, DEFAULT_REPLY_LIMIT,
                                     MEMCACHED_VERSION, Connection, Engine, Store)

__all__ = ["MemcachedProtocol", "MemcachedFactory"]


def _reactor_of(transport):
    """The reactor behind a transport (through wrappers such as the wiretap), or None.

    None for a transport with no reactor behind it (a test's StringTransport).
    """
    while transport is not None and not hasattr(transport, "callLater"):
        found = getattr(transport, "reactor", None)
        transport = found if found is not None else getattr(transport, "transport", None)
    return transport

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
    _send = None  # the transport's own write when it sends at once (lab.adapters._send.sender)
    _blocked = False  # the transport's buffer is full: replies are not being read
    _later = None  # the delayed call that goes on with buffered requests
    _held = False  # reading stopped until the requests already buffered have run
    _eof = False  # the client half-closed while requests were still buffered
    _draining = _again = False  # going on without a reactor (a test's StringTransport)

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
        self._send = sender(self.transport)
        self.factory.start_crawls(_reactor_of(self.transport))
        self.transport.registerProducer(self, True)

    def pauseProducing(self):
        """The client is not reading replies: stop reading its requests and running them."""
        self._blocked = True
        self.transport.pauseProducing()

    def resumeProducing(self):
        """Replies drained: go on with buffered requests, then read again."""
        self._blocked = False
        if self._held:
            self._schedule()
        else:
            self.transport.resumeProducing()

    def stopProducing(self):
        """The connection is going away; nothing to stop."""

    def dataReceived(self, data):
        """Run the complete commands (up to the reply limit); write their replies at once."""
        connection = self.connection
        if connection is None:
            return
        self._answer(connection, connection.feed_event(data, self.factory.reply_limit))

    def _answer(self, connection, reply):
        if reply:
            if self._send is None:
                send_now(self.transport, reply)  # now, not a reactor turn later
            else:
                self._send(reply)  # the wiretap's write, which sends now
        if connection.closed is not None:
            self.connection = None
            self.factory.engine.connections["curr"] -= 1
            self.transport.loseConnection()
        elif connection.more:
            # Requests are left (a yield, or the reply limit): read nothing more until they
            # have run, on a later reactor turn, so other connections get their turn.
            if not self._held:
                self._held = True
                self.transport.pauseProducing()
            if not self._blocked:
                self._schedule()
        elif self._held:
            self._held = False
            if self._eof:
                self.transport.loseConnection()
            elif not self._blocked:
                self.transport.resumeProducing()

    def _schedule(self):
        if self._later is None or not self._later.active():
            reactor = _reactor_of(self.transport)
            if reactor is None:  # no event loop to come back from: go on now, in a loop
                self._again = True
                if not self._draining:
                    self._draining = True
                    try:
                        while self._again:
                            self._again = False
                            self._continue()
                    finally:
                        self._draining = False
                return
            self._later = reactor.callLater(0, self._continue)

    def _continue(self):
        self._later = None
        connection = self.connection
        if connection is None or self._blocked:
            return
        self._answer(connection, connection.run_event(self.factory.reply_limit))

    def readConnectionLost(self):
        """The client will send nothing more: answer what came, then close."""
        if self._held:
            self._eof = True  # close once the buffered requests have run
        else:
            self.transport.loseConnection()

    def writeConnectionLost(self):
        """The client stopped reading: nothing more can be sent, so close."""
        self.transport.loseConnection()

    def connectionLost(self, reason):
        """Forget the connection in the server's counts."""
        if self._later is not None and self._later.active():
            self._later.cancel()
        if self.connection is not None:
            self.connection.close()
            self.connection = None
            self.factory.engine.connections["curr"] -= 1


class MemcachedFactory(Factory):
    """A memcached server: one cache (engine and store) shared by all its connections.

    The options are the plugin's (``lab/plugins/memcached.py`` describes
    each); the integer ones must be positive.
    """

    protocol = MemcachedProtocol
    noisy = False

    def __init__(self, memory_limit=DEFAULT_MEMORY_LIMIT, item_size_max=DEFAULT_ITEM_SIZE_MAX,
                 max_connections=1024, max_line=DEFAULT_MAX_LINE, version=MEMCACHED_VERSION,
                 clock=time.time, reqs_per_event=20, evictions=1,
                 reply_limit=DEFAULT_REPLY_LIMIT, pending_limit=None, lru_crawler=1,
                 crawl_interval=60):
        if pending_limit is None:
            pending_limit = memory_limit
        for name, value in (("memory_limit", memory_limit), ("item_size_max", item_size_max),
                            ("max_connections", max_connections), ("max_line", max_line),
                            ("reqs_per_event", reqs_per_event), ("reply_limit", reply_limit),
                            ("pending_limit", pending_limit)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"memcached option {name} must be a positive integer, "
                                 f"not {value!r}.")
        if lru_crawler not in (0, 1):
            raise ValueError(f"memcached option lru_crawler must be 1 (crawler on, like "
                             f"memcached's default) or 0 (like -o no_lru_crawler), "
                             f"not {lru_crawler!r}.")
        if isinstance(crawl_interval, bool) or not isinstance(crawl_interval, (int, float)) \
                or not 0 <= crawl_interval < 1e9:
            raise ValueError(f"memcached option crawl_interval must be seconds between "
                             f"background crawls (0: none), not {crawl_interval!r}.")
        if evictions not in (0, 1):  # True and False are 1 and 0
            raise ValueError(f"memcached option evictions must be 1 (evict least recently used "
                             f"items) or 0 (answer out of memory, like memcached -M), "
                             f"not {evictions!r}.")
        store = Store(clock=clock, memory_limit=memory_limit, item_size_max=item_size_max,
                      evictions=bool(evictions), pending_limit=pending_limit)
        self.engine = Engine(store, version=str(version), max_connections=max_connections,
                             reqs_per_event=reqs_per_event)
        self.engine.crawler.enabled = bool(lru_crawler)
        self.max_line = max_line
        self.reply_limit = reply_limit
        self.crawl_interval = crawl_interval
        self._crawls = None

    def start_crawls(self, reactor):
        """Start the background crawl that reclaims expired items (every ``crawl_interval`` s).

        Called with the connections' reactor when the first client connects.
        """
        if self.crawl_interval and self._crawls is None and reactor is not None:
            self._crawls = LoopingCall(self.engine.crawler.background)
            self._crawls.clock = reactor
            self._crawls.start(self.crawl_interval, now=False)

    def stopFactory(self):
        """Stop the background crawl."""
        if self._crawls is not None and self._crawls.running:
            self._crawls.stop()
        self._crawls = None


    @property
    def store(self):
        """The cache shared by every connection."""
        return self.engine.store
