"""Captured traffic: a bounded ring buffer of events and a table of connections.

The wiretap (``lab.adapters.wiretap``) writes here from the reactor thread;
views and notebooks read from the kernel thread.  One lock makes the two
safe; it is held only for an append or a copy, never while rendering.
"""

import threading
import time
import traceback
from collections import OrderedDict, deque
from itertools import islice
from typing import NamedTuple

from lab.model._pcap import write_pcap

__all__ = ["Event", "Connection", "ProtocolError", "Capture",
           "DEFAULT_MAX_EVENTS", "DEFAULT_MAX_BYTES"]

_now = time.time
DEFAULT_MAX_EVENTS = 200_000
DEFAULT_MAX_BYTES = 32 * 1024 * 1024
# Closed connections stay listed (for the conversation view) up to this many.
MAX_CLOSED_CONNECTIONS = 10_000
MAX_PROTOCOL_ERRORS = 50


class Event(NamedTuple):
    """One thing that happened on a captured connection.

    ``kind`` is ``"connect"``, ``"in"`` (bytes the server received), ``"out"``
    (bytes the server sent) or ``"close"``; ``connection`` is the connection's
    id; ``time`` is a Unix timestamp; ``data`` the bytes (empty for connect and
    close); ``reason`` why a connection closed; ``offset`` where ``data``
    starts in its direction's byte stream; ``seq`` counts events from 1.
    """

    seq: int
    kind: str
    connection: int
    time: float
    data: bytes
    reason: str = ""
    offset: int = 0


class ProtocolError(NamedTuple):
    """An exception the served protocol raised on a connection, with its traceback."""

    connection: int
    where: str
    message: str
    traceback: str


class Connection:
    """One captured connection: who, when, how many bytes each way, open or closed."""

    __slots__ = ("id", "transport", "peer", "local", "opened", "closed", "reason",
                 "bytes_in", "bytes_out", "_tap")

    def __init__(self, cid, transport, peer, local, tap):
        self.id, self.transport, self.peer, self.local = cid, transport, peer, local
        self.opened, self.closed, self.reason = time.time(), None, None
        self.bytes_in = self.bytes_out = 0
        self._tap = tap

    @property
    def is_open(self):
        """True until the connection closes."""
        return self.closed is None

    def copy(self):
        """A snapshot that later traffic does not change."""
        twin = Connection(self.id, self.transport, self.peer, self.local, None)
        for name in ("opened", "closed", "reason", "bytes_in", "bytes_out"):
            setattr(twin, name, getattr(self, name))
        return twin

    def __repr__(self):
        state = "open" if self.is_open else f"closed ({self.reason})"
        return (f"<Connection #{self.id} {self.transport} {_where(self.peer)} "
                f"in={self.bytes_in} out={self.bytes_out} {state}>")


def _where(address):
    host, port = address
    return f"[{host}]:{port}" if ":" in str(host) else f"{host}:{port}"


class Capture:
    """The traffic of one listener: events in a ring buffer, and its connections.

    The buffer keeps at most ``max_events`` events and ``max_bytes`` bytes of
    data; older events are dropped first and counted in :attr:`dropped`.
    With ``enabled`` False, only the connection table and byte counts are
    kept (cheaper, and nothing to look at afterwards).
    """

    def __init__(self, max_events=DEFAULT_MAX_EVENTS, max_bytes=DEFAULT_MAX_BYTES,
                 enabled=True):
        if max_events < 1 or max_bytes < 1:
            raise ValueError("max_events and max_bytes must be at least 1")
        self.max_events, self.max_bytes, self.enabled = max_events, max_bytes, enabled
        self.dropped = 0
        self.bytes_in = self.bytes_out = 0  # every byte seen, kept or not
        self.errors = deque(maxlen=MAX_PROTOCOL_ERRORS)  # exceptions the protocol raised
        self._events = deque()
        self._bytes = 0
        self._seq = 0
        self._lock = threading.Lock()
        self._connections = OrderedDict()
        self._open = {}
        self._closed_order = deque()  # ids of closed connections, oldest first
        self._next_id = 1

    # -- recorder side (reactor thread) ---------------------------------------

    def opened(self, transport, peer, local, tap):
        """Note a new connection; return its id."""
        with self._lock:
            cid = self._next_id
            self._next_id += 1
            conn = Connection(cid, transport, peer, local, tap)
            self._connections[cid] = conn
            self._open[cid] = conn
        self._append("connect", cid, b"", "", 0)
        return cid

    def record(self, kind, cid, data):
        """Note bytes in (``"in"``) or out (``"out"``) on a connection.

        This runs for every chunk of traffic, so it is written flat: one dict
        lookup, counters, and (when enabled) one locked append of a plain tuple.
        """
        conn = self._open.get(cid)
        if conn is None:
            return
        size = len(data)
        if kind == "in":
            offset = conn.bytes_in
            conn.bytes_in = offset + size
            self.bytes_in += size
        else:
            offset = conn.bytes_out
            conn.bytes_out = offset + size
            self.bytes_out += size
        if not self.enabled:
            return
        if size > self.max_bytes or type(data) is not bytes:
            data = bytes(data[:self.max_bytes])
            size = len(data)
        events = self._events
        with self._lock:
            seq = self._seq = self._seq + 1
            events.append((seq, kind, cid, _now(), data, "", offset))
            self._bytes += size
            if len(events) > self.max_events or self._bytes > self.max_bytes:
                self._evict()

    def protocol_error(self, cid, where, error):
        """Note an exception the served protocol raised (Twisted only logs it)."""
        text = "".join(traceback.format_exception(error)).rstrip()
        with self._lock:
            self.errors.append(ProtocolError(cid, where, f"{type(error).__name__}: {error}", text))

    def closed(self, cid, reason):
        """Note that a connection closed, and why."""
        with self._lock:
            conn = self._open.pop(cid, None)
            if conn is not None:
                self._closed_order.append(cid)
                self._forget_old_closed()
        if conn is None:
            return
        conn.closed, conn.reason, conn._tap = time.time(), reason, None
        self._append("close", cid, b"", reason, 0)

    def _append(self, kind, cid, data, reason, offset):
        if not self.enabled:
            return
        # Plain tuples here (an Event is made only when read): a NamedTuple
        # costs a Python-level __new__ on every chunk of traffic.
        with self._lock:
            self._seq += 1
            self._events.append((self._seq, kind, cid, _now(), data, reason, offset))
            self._bytes += len(data)
            self._evict()

    def _evict(self):
        """Drop the oldest events until both bounds hold (caller holds the lock)."""
        events = self._events
        while len(events) > self.max_events or self._bytes > self.max_bytes:
            self._bytes -= len(events.popleft()[4])
            self.dropped += 1

    def _forget_old_closed(self):
        while len(self._closed_order) > MAX_CLOSED_CONNECTIONS:
            self._connections.pop(self._closed_order.popleft(), None)

    # -- reader side (any thread) ---------------------------------------------

    @property
    def seq(self):
        """The number of events recorded so far (kept or dropped)."""
        return self._seq

    def __len__(self):
        return len(self._events)

    @property
    def size(self):
        """Bytes of data held in the buffer now."""
        return self._bytes

    def events(self, connection=None, since=0, kinds=None):
        """A list of the kept events, optionally of one connection, after ``since`` (a seq)."""
        with self._lock:
            first = self._seq - len(self._events) + 1
            skip = max(0, since + 1 - first)
            chosen = list(islice(self._events, skip, None))
        if connection is not None:
            chosen = [e for e in chosen if e[2] == connection]
        if kinds is not None:
            chosen = [e for e in chosen if e[1] in kinds]
        return list(map(Event._make, chosen))

    def tail(self, count, connection=None):
        """The last ``count`` events (of one connection if given), oldest first."""
        with self._lock:
            if connection is None:
                found = list(islice(reversed(self._events), count))
            else:
                found = []
                for event in reversed(self._events):
                    if event[2] == connection:
                        found.append(event)
                        if len(found) >= count:
                            break
        return list(map(Event._make, reversed(found)))

    def connections(self, open_only=False):
        """Snapshots of the known connections (open and recently closed), oldest first."""
        with self._lock:
            table = self._open if open_only else self._connections
            return [c.copy() for c in list(table.values())]

    def connection(self, cid):
        """A snapshot of one connection; ``KeyError`` with a hint if unknown."""
        with self._lock:
            conn = self._connections.get(cid)
        if conn is None:
            raise KeyError(f"no captured connection #{cid}; see capture.connections()")
        return conn.copy()

    def stream(self, connection, direction="in"):
        """The kept bytes of one direction of a connection, joined."""
        return b"".join(e.data for e in self.events(connection, kinds=(direction,)))

    def wait_for(self, predicate, timeout=5.0):
        """Wait (kernel thread) until ``predicate(capture)`` holds; return whether it did.

        Useful after a client closes: the server sees the close a moment later.
        """
        deadline = time.monotonic() + timeout
        while not predicate(self):
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.01)
        return True

    def clear(self):
        """Forget every kept event (connections and counts stay)."""
        with self._lock:
            self._events.clear()
            self._bytes = 0

    def open_taps(self):
        """The wiretap protocols of open stream connections (reactor thread only)."""
        with self._lock:
            return [c._tap for c in self._open.values() if c._tap is not None]

    @property
    def connection_count(self):
        """How many connections were ever opened."""
        return self._next_id - 1

    @property
    def open_count(self):
        """How many connections are open now."""
        return len(self._open)

    def write_pcap(self, path, connection=None):
        """Write the kept events as a ``.pcap`` file Wireshark and tshark open; return the path."""
        return write_pcap(self, path, connection)

    def __repr__(self):
        state = "on" if self.enabled else "off"
        return (f"<Capture {state}: {len(self._events)} events, {self._bytes} bytes kept, "
                f"{self.dropped} dropped, {self._next_id - 1} connections>")
