"""Captured traffic: a bounded ring buffer of events and a table of connections.

The wiretap (``lab.adapters.wiretap``) writes here from the reactor thread;
views and notebooks read from the kernel thread.

Why recording takes no lock: it runs for every chunk of traffic, and a lock
costs more than the rest of it.  One thread records (the reactor's); it
appends an event before it publishes its ``seq``, so a reader that saw a seq
finds its event.  Readers copy the deque in one C-level call (atomic under
the GIL), never iterate it in Python.  ``clear()`` from another thread swaps
in a new deque, and the recording thread notices and recounts.  The lock
guards only what happens once per connection (the tables) or rarely
(errors, limits).
"""

import os
import pathlib
import threading
import time
import traceback
from collections import OrderedDict, deque
from itertools import islice
from collections.abc import Callable, Collection, Iterator
from typing import Any, NamedTuple

from lab._checks import checked_bool, checked_count, checked_timeout
from lab.model._pcap import write_pcap

__all__ = ["Event", "Connection", "ProtocolError", "LimitReached", "Capture",
           "check_connection", "DEFAULT_MAX_EVENTS", "DEFAULT_MAX_BYTES"]

_now = time.time
DEFAULT_MAX_EVENTS = 200_000
DEFAULT_MAX_BYTES = 32 * 1024 * 1024
# Closed connections stay listed (for the conversation view) up to this many.
MAX_CLOSED_CONNECTIONS = 10_000
MAX_PROTOCOL_ERRORS = 50
MAX_LIMIT_NOTES = 200
# The largest ring buffer a listener may ask for: bounded memory means a bound.
MAX_CAPTURE_EVENTS = 10_000_000
MAX_CAPTURE_BYTES = 1024 * 1024 * 1024
_KINDS = ("connect", "in", "out", "close")


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


class LimitReached(NamedTuple):
    """A bound a connection reached (reading paused, bytes held, a line too long...)."""

    connection: int
    time: float
    what: str


class Connection:
    """One captured connection: who, when, how many bytes each way, open or closed.

    ``limits`` counts the bounds it reached (see :attr:`Capture.limits`).
    """

    __slots__ = ("id", "transport", "peer", "local", "opened", "closed", "reason",
                 "bytes_in", "bytes_out", "limits", "_tap")

    def __init__(self, cid: int, transport: str, peer: tuple, local: tuple, tap: Any) -> None:
        self.id, self.transport, self.peer, self.local = cid, transport, peer, local
        self.opened = time.time()
        self.closed: float | None = None
        self.reason: str | None = None
        self.bytes_in = self.bytes_out = self.limits = 0
        self._tap = tap

    @property
    def is_open(self) -> bool:
        """True until the connection closes."""
        return self.closed is None

    def copy(self) -> "Connection":
        """A snapshot that later traffic does not change."""
        twin = Connection(self.id, self.transport, self.peer, self.local, None)
        for name in ("opened", "closed", "reason", "bytes_in", "bytes_out", "limits"):
            setattr(twin, name, getattr(self, name))
        return twin

    def __repr__(self):
        state = "open" if self.is_open else f"closed ({self.reason})"
        return (f"<Connection #{self.id} {self.transport} {_where(self.peer)} "
                f"in={self.bytes_in} out={self.bytes_out} {state}>")


def check_connection(cid, optional=False):
    if optional and cid is None:
        return
    if isinstance(cid, bool) or not isinstance(cid, int):
        raise TypeError(f"a connection is its id number (see capture.connections()), "
                        f"not {type(cid).__name__} {cid!r}")


def _check_kinds(kinds):
    if kinds is None:
        return
    if isinstance(kinds, (str, bytes)) or not all(k in _KINDS for k in _iterable(kinds)):
        raise ValueError(f"kinds is a tuple of {', '.join(map(repr, _KINDS))}, such as "
                         f"kinds=('in',), not {kinds!r}")


def _iterable(value):
    try:
        return list(value)
    except TypeError:
        return [object()]


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

    def __init__(self, max_events: int = DEFAULT_MAX_EVENTS, max_bytes: int = DEFAULT_MAX_BYTES,
                 enabled: bool = True) -> None:
        checked_count(max_events, "max_events", 1, MAX_CAPTURE_EVENTS, DEFAULT_MAX_EVENTS)
        checked_count(max_bytes, "max_bytes", 1, MAX_CAPTURE_BYTES, DEFAULT_MAX_BYTES)
        checked_bool(enabled, "enabled")
        self.max_events, self.max_bytes, self.enabled = max_events, max_bytes, enabled
        self.dropped = 0
        self.bytes_in = self.bytes_out = 0  # every byte seen, kept or not
        # exceptions the protocol raised
        self.errors: deque[ProtocolError] = deque(maxlen=MAX_PROTOCOL_ERRORS)
        # bounds connections reached, newest last, and how many times (kept or not)
        self.limits: deque[LimitReached] = deque(maxlen=MAX_LIMIT_NOTES)
        self.limited = 0
        self._events: deque[tuple] = deque()
        self._writing = self._events  # the deque the recording thread counted
        self._bytes = 0
        self._seq = 0
        self._lock = threading.Lock()
        self._connections: OrderedDict[int, Connection] = OrderedDict()
        self._open: dict[int, Connection] = {}
        self._closed_order: deque[int] = deque()  # ids of closed connections, oldest first
        self._next_id = 1

    # -- recorder side (reactor thread) ---------------------------------------

    def opened(self, transport: str, peer: tuple, local: tuple, tap: Any) -> int:
        """Note a new connection; return its id."""
        with self._lock:
            cid = self._next_id
            self._next_id += 1
            conn = Connection(cid, transport, peer, local, tap)
            self._connections[cid] = conn
            self._open[cid] = conn
        self._append("connect", cid, b"", "", 0)
        return cid

    def record(self, kind: str, cid: int, data: bytes) -> None:
        """Note bytes in (``"in"``) or out (``"out"``) on a connection.

        This runs for every chunk of traffic, so it is written flat: one dict
        lookup, counters, and (when enabled) one append of a plain tuple that
        refers to ``data`` (bytes are immutable: no copy), no lock.
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
        if events is not self._writing:
            self._recount(events)
        seq = self._seq + 1
        events.append((seq, kind, cid, _now(), data, "", offset))
        self._seq = seq  # published after the append: see the module's docstring
        self._bytes += size
        if len(events) > self.max_events or self._bytes > self.max_bytes:
            self._evict(events)

    def protocol_error(self, cid: int, where: str, error: BaseException) -> None:
        """Note an exception the served protocol raised (Twisted only logs it)."""
        text = "".join(traceback.format_exception(error)).rstrip()
        with self._lock:
            self.errors.append(ProtocolError(cid, where, f"{type(error).__name__}: {error}", text))

    def limit_reached(self, cid: int, what: str) -> None:
        """Note that a connection reached a bound (it alone pays for it)."""
        with self._lock:
            conn = self._connections.get(cid)
            if conn is not None:
                conn.limits += 1
            self.limited += 1
            self.limits.append(LimitReached(cid, _now(), what))

    def closed(self, cid: int, reason: str) -> None:
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
        events = self._events
        if events is not self._writing:
            self._recount(events)
        seq = self._seq + 1
        events.append((seq, kind, cid, _now(), data, reason, offset))
        self._seq = seq
        self._bytes += len(data)
        self._evict(events)

    def _recount(self, events):
        """A clear() swapped the buffer: count what the new one holds (recording thread)."""
        self._writing = events
        self._bytes = sum(len(event[4]) for event in list(events))

    def _evict(self, events):
        """Drop the oldest events until both bounds hold (recording thread)."""
        while len(events) > self.max_events or self._bytes > self.max_bytes:
            if not events:
                self._bytes = 0
                break
            self._bytes -= len(events.popleft()[4])
            self.dropped += 1

    def _forget_old_closed(self):
        while len(self._closed_order) > MAX_CLOSED_CONNECTIONS:
            self._connections.pop(self._closed_order.popleft(), None)

    # -- reader side (any thread) ---------------------------------------------

    @property
    def seq(self) -> int:
        """The number of events recorded so far (kept or dropped)."""
        return self._seq

    def __len__(self):
        return len(self._events)

    def __iter__(self) -> Iterator[Event]:
        """The kept events, oldest first (a snapshot: ``list(listener.capture)``)."""
        return iter(self.events())

    @property
    def size(self) -> int:
        """Bytes of data held in the buffer now."""
        events = self._events
        if events is not self._writing:  # cleared; the recording thread has not noticed yet
            return sum(len(event[4]) for event in list(events))
        return self._bytes

    def events(self, connection: int | None = None, since: int = 0,
               kinds: Collection[str] | None = None) -> list[Event]:
        """A list of the kept events, optionally of one connection, after ``since`` (a seq)."""
        check_connection(connection, optional=True)
        checked_count(since, "since", 0, example=0)
        _check_kinds(kinds)
        chosen = self._since(since)
        if connection is not None:
            chosen = [e for e in chosen if e[2] == connection]
        if kinds is not None:
            chosen = [e for e in chosen if e[1] in kinds]
        return list(map(Event._make, chosen))

    def _since(self, since):
        """The kept events after seq ``since``, oldest first, without a lock.

        Copies from the newest end (one C-level call, atomic under the GIL)
        about as many as are new, and more if events arrived meanwhile, so a
        view that asks often copies little.
        """
        events = self._events
        want = max(1, self._seq - since + 1)
        while True:
            chunk = list(islice(reversed(events), want))
            if len(chunk) < want or chunk[-1][0] <= since + 1:
                break
            want *= 2
        chunk.reverse()
        skip = 0
        while skip < len(chunk) and chunk[skip][0] <= since:
            skip += 1
        return chunk[skip:] if skip else chunk

    def tail(self, count: int, connection: int | None = None) -> list[Event]:
        """The last ``count`` events (of one connection if given), oldest first."""
        checked_count(count, "count", 0, example=20)
        check_connection(connection, optional=True)
        if connection is None:
            found = list(islice(reversed(self._events), count))
        else:
            found = []
            for event in reversed(self._events.copy()):
                if event[2] == connection:
                    found.append(event)
                    if len(found) >= count:
                        break
        return list(map(Event._make, reversed(found)))

    def connections(self, open_only: bool = False) -> list[Connection]:
        """Snapshots of the known connections (open and recently closed), oldest first."""
        with self._lock:
            table = self._open if open_only else self._connections
            return [c.copy() for c in list(table.values())]

    def connection(self, cid: int) -> Connection:
        """A snapshot of one connection; ``KeyError`` with a hint if unknown."""
        check_connection(cid)
        with self._lock:
            conn = self._connections.get(cid)
        if conn is None:
            raise KeyError(f"no captured connection #{cid}; see capture.connections()")
        return conn.copy()

    def stream(self, connection: int, direction: str = "in") -> bytes:
        """The kept bytes of one direction of a connection (``"in"`` or ``"out"``), joined."""
        if direction not in ("in", "out"):
            raise ValueError(f"direction is 'in' (what the client sent) or 'out' (what the "
                             f"server sent), not {direction!r}")
        return b"".join(e.data for e in self.events(connection, kinds=(direction,)))

    def wait_for(self, predicate: Callable[["Capture"], object], timeout: float = 5.0) -> bool:
        """Wait (kernel thread) until ``predicate(capture)`` holds; return whether it did.

        Useful after a client closes: the server sees the close a moment later.
        """
        if not callable(predicate):
            raise TypeError(f"wait_for() needs a function of the capture, such as "
                            f"lambda c: c.open_count == 0, not {predicate!r}")
        timeout = checked_timeout(timeout)
        deadline = time.monotonic() + timeout
        while not predicate(self):
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.01)
        return True

    def clear(self) -> None:
        """Forget every kept event (connections and counts stay).

        A new, empty buffer replaces the old one (the recording thread may be
        appending to the old one right now; it notices and recounts).
        """
        self._events = deque()

    def open_taps(self) -> list[Any]:
        """The wiretap protocols of open stream connections (reactor thread only)."""
        with self._lock:
            return [c._tap for c in self._open.values() if c._tap is not None]

    @property
    def connection_count(self) -> int:
        """How many connections were ever opened."""
        return self._next_id - 1

    @property
    def open_count(self) -> int:
        """How many connections are open now."""
        return len(self._open)

    def write_pcap(self, path: "str | os.PathLike[str]", connection: int | None = None,
                   overwrite: bool = False) -> pathlib.Path:
        """Write the kept events as a ``.pcap`` file Wireshark and tshark open; return the path.

        An existing file (or a link) at ``path`` is an error unless ``overwrite=True``.
        """
        return write_pcap(self, path, connection, overwrite)

    def __repr__(self):
        state = "on" if self.enabled else "off"
        return (f"<Capture {state}: {len(self._events)} events, {self._bytes} bytes kept, "
                f"{self.dropped} dropped, {self._next_id - 1} connections>")
