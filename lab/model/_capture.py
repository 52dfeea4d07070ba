"""Captured traffic: a bounded ring buffer of events and a table of connections.

The wiretap (``lab.adapters.wiretap``) writes here from the reactor thread;
views and notebooks read from the kernel thread.

Why recording is cheap: it runs for every chunk of traffic, and on a small
request/response protocol (memcached) it cost a fifth of the server's time.
Each connection gets two closures (:meth:`Capture.recorders`, built in
:mod:`lab.model._recording`) that note a
chunk with the least work: its offset in the stream, its size and the
connection's count, one event's fields added to the ring's pending list, no
lock.  Sealed, an event costs the ring about 34 bytes beyond its data (no
object of its own: see :mod:`lab.model._ring`).  The reading closure also
passes the chunk on to the wiretap's protocol, so a read costs one call; on
a bare TCP connection the wiretap goes further and makes
:meth:`Capture.reader` the transport's ``doRead`` (receive, record, deliver:
one call where Twisted's own read takes two), and :meth:`Capture.sender`'s
write sends with the socket's own ``send``.  Recording then adds no Python
call to a read or a write, only its own lines.  The ring
(:mod:`lab.model._ring`) seals and trims in batches, exactly as trimming
after each chunk would.  The lock guards sealing and the tables; recording
never waits for it.
"""

import os
import pathlib
import threading
import time
import traceback
from collections import OrderedDict, deque
from collections.abc import Callable, Collection, Iterator
from itertools import count, repeat
from operator import itemgetter
from typing import Any, NamedTuple

from lab._checks import checked_bool, checked_count, checked_timeout
from lab.model._pcap import write_pcap
from lab.model import _recording
from lab.model._ring import SEAL_AT, Ring

__all__ = ["Event", "Connection", "ProtocolError", "LimitReached", "Capture",
           "check_connection", "DEFAULT_MAX_EVENTS", "DEFAULT_MAX_BYTES"]

_now = time.time
_new = tuple.__new__  # an Event from a tuple, without NamedTuple's Python-level __new__
_KIND, _CONNECTION, _REASON = itemgetter(0), itemgetter(1), itemgetter(2)  # of a ring channel
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
                 "bytes_in", "bytes_out", "limits", "_tap", "_recorders")

    def __init__(self, cid: int, transport: str, peer: tuple, local: tuple, tap: Any) -> None:
        self.id, self.transport, self.peer, self.local = cid, transport, peer, local
        self.opened = time.time()
        self.closed: float | None = None
        self.reason: str | None = None
        self.bytes_in = self.bytes_out = self.limits = 0
        self._tap = tap
        self._recorders: Any = None  # (record_in, record_out), set by the capture

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
        self._ring = Ring(max_events, max_bytes)
        self.enabled = enabled
        # exceptions the protocol raised
        self.errors: deque[ProtocolError] = deque(maxlen=MAX_PROTOCOL_ERRORS)
        # bounds connections reached, newest last, and how many times (kept or not)
        self.limits: deque[LimitReached] = deque(maxlen=MAX_LIMIT_NOTES)
        self.limited = 0
        self._lock = threading.Lock()  # sealing the ring, and the tables
        self._connections: OrderedDict[int, Connection] = OrderedDict()
        self._open: dict[int, Connection] = {}
        self._closed_order: deque[int] = deque()  # ids of closed connections, oldest first
        self._forgotten_in = self._forgotten_out = 0  # bytes of connections no longer listed
        self._next_id = 1

    @property
    def max_events(self) -> int:
        """The most events the buffer keeps."""
        return self._ring.max_events

    @max_events.setter
    def max_events(self, value: int) -> None:
        with self._lock:
            self._ring.max_events = checked_count(value, "max_events", 1, MAX_CAPTURE_EVENTS,
                                                  DEFAULT_MAX_EVENTS)

    @property
    def max_bytes(self) -> int:
        """The most bytes of data the buffer keeps."""
        return self._ring.max_bytes

    @max_bytes.setter
    def max_bytes(self, value: int) -> None:
        with self._lock:
            self._ring.max_bytes = checked_count(value, "max_bytes", 1, MAX_CAPTURE_BYTES,
                                                 DEFAULT_MAX_BYTES)

    # -- recorder side (reactor thread) ---------------------------------------

    def opened(self, transport: str, peer: tuple, local: tuple, tap: Any) -> int:
        """Note a new connection; return its id."""
        with self._lock:
            cid = self._next_id
            self._next_id += 1
            conn = Connection(cid, transport, peer, local, tap)
            self._connections[cid] = conn
            self._open[cid] = conn
        conn._recorders = self._recorders_of(conn)
        self._append(("connect", cid, ""))
        return cid

    def record(self, kind: str, cid: int, data: bytes) -> None:
        """Note bytes in (``"in"``) or out (``"out"``) on an open connection.

        A wiretap that records a connection's every chunk uses the cheaper
        :meth:`recorders` instead.
        """
        conn = self._open.get(cid)
        if conn is None:
            return
        if type(data) is not bytes:
            data = bytes(data)
        conn._recorders[0 if kind == "in" else 1](data)

    def recorders(self, cid: int, deliver: Callable[[bytes], object] | None = None,
                  failed: Callable[[Exception], object] | None = None,
                  ) -> tuple[Callable[[bytes], None], Callable[[bytes], None]]:
        """``(record_in, record_out)`` of an open connection: each notes one chunk of ``bytes``.

        The hot path of the wiretap (see the module's docstring).  With
        ``deliver``, ``record_in`` then passes the chunk on to it, so that a
        wiretap's read path is one call (``failed`` hears of an exception
        ``deliver`` raised, before it goes on up).  The data must be
        ``bytes``, and neither may be called after :meth:`closed` (the
        wiretap stops calling them when its connection is lost).
        """
        conn = self._open[cid]
        if deliver is None:
            return conn._recorders
        return self._recorders_of(conn, deliver, failed)

    def _recorders_of(self, conn, deliver=None, failed=None):
        """The two closures that record one connection's chunks (see :meth:`recorders`)."""
        return _recording.recorders(conn, self._ring.pending, self._seal_soon, self.enabled,
                                    deliver, failed)

    def reader(self, cid: int, receive: Callable[[], bytes], deliver: Callable[[bytes], object],
               failed: Callable[[Exception], object], at_end: object,
               refused: Callable[[OSError], object]) -> Callable[[], object]:
        """``read()`` for a connection whose bytes the wiretap pulls itself: receive, record, deliver.

        ``receive()`` returns the next chunk, empty at the end of the stream
        (``read`` then returns ``at_end``), or raises ``OSError`` (``read``
        returns ``refused(error)``).  A chunk is recorded as by
        :meth:`recorders`, then passed to ``deliver`` (``failed`` hears of
        an exception it raised, before it goes on up).  Why a third form:
        on a bare TCP connection the wiretap makes this the transport's
        ``doRead`` (see ``lab.adapters._read``), so a recorded read costs
        one Python call where Twisted's own takes two.
        """
        return _recording.reader(self._open[cid], self._ring.pending, self._seal_soon,
                                 self.enabled, receive, deliver, failed, at_end, refused)

    def sender(self, cid: int, send: Callable[[bytes], int], gate: Any,
               otherwise: Callable[[Any], object], rest: Callable[[bytes], object],
               ) -> Callable[[Any], object]:
        """``write(data)`` for a wiretap: note the bytes out, then ``send(data)`` them.

        Only while ``gate.plain`` is true, for ``bytes``, from the thread that
        asks for it here (the reactor's); anything else goes to
        ``otherwise(data)`` unrecorded (the wiretap's checked path).
        ``send`` returns how many bytes it sent, or raises ``OSError`` (none);
        the bytes it did not send go to ``rest``.  Why here and not a
        wiretap closure calling ``record_out``, and why ``send`` may be a
        socket's own: on a small request/response protocol each call more
        per write cost a percent of the server's time.
        """
        return _recording.sender(self._open[cid], self._ring.pending, self._seal_soon,
                                 self.enabled, send, gate, otherwise, rest)

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
        self._append(("close", cid, reason))

    def _append(self, channel):
        """Append a connect or close event (recording thread)."""
        if self.enabled:
            pending = self._ring.pending
            pending.extend((channel, _now(), b"", 0, 0))
            if len(pending) >= SEAL_AT:
                self._seal_soon()

    def _seal_soon(self) -> None:
        """Seal the pending events unless a reader holds the lock (it seals; recording never waits)."""
        if self._lock.acquire(False):
            try:
                self._ring.seal()
            finally:
                self._lock.release()

    def _forget_old_closed(self):
        while len(self._closed_order) > MAX_CLOSED_CONNECTIONS:
            conn = self._connections.pop(self._closed_order.popleft(), None)
            if conn is not None:
                self._forgotten_in += conn.bytes_in
                self._forgotten_out += conn.bytes_out

    # -- reader side (any thread) ---------------------------------------------

    def _sealed(self) -> Ring:
        """The ring with every pending event sealed in (lock held by the caller)."""
        self._ring.seal()
        return self._ring

    @property
    def seq(self) -> int:
        """The number of events recorded so far (kept or dropped)."""
        with self._lock:
            return self._sealed().sealed

    @property
    def dropped(self) -> int:
        """How many events the bounds dropped, oldest first."""
        with self._lock:
            return self._sealed().dropped

    @property
    def bytes_in(self) -> int:
        """Every byte the server received on its connections, kept or not."""
        with self._lock:
            return self._forgotten_in + sum(c.bytes_in for c in list(self._connections.values()))

    @property
    def bytes_out(self) -> int:
        """Every byte the server sent on its connections, kept or not."""
        with self._lock:
            return self._forgotten_out + sum(c.bytes_out for c in list(self._connections.values()))

    def __len__(self):
        with self._lock:
            return self._sealed().kept

    def __iter__(self) -> Iterator[Event]:
        """The kept events, oldest first (a snapshot: ``list(listener.capture)``)."""
        return iter(self.events())

    @property
    def size(self) -> int:
        """Bytes of data held in the buffer now."""
        with self._lock:
            return self._sealed().kept_bytes

    def events(self, connection: int | None = None, since: int = 0,
               kinds: Collection[str] | None = None, limit: int | None = None) -> list[Event]:
        """A list of the kept events, optionally of one connection, after ``since`` (a seq).

        With ``limit``, at most that many (the oldest of those that match):
        a reader that goes through the capture in steps copies only a step.
        """
        check_connection(connection, optional=True)
        checked_count(since, "since", 0, example=0)
        _check_kinds(kinds)
        if limit is not None:
            checked_count(limit, "limit", 0, example=1000)
        with self._lock:
            slices = self._sealed().since(since)
        found: list[Event] = []
        for part in slices:  # read out after the lock, and only as far as the limit needs
            found.extend(_events(part.run(), connection, kinds))
            if limit is not None and len(found) >= limit:
                del found[limit:]
                break
        return found

    def tail(self, count: int, connection: int | None = None) -> list[Event]:
        """The last ``count`` events (of one connection if given), oldest first."""
        checked_count(count, "count", 0, example=20)
        check_connection(connection, optional=True)
        found: list[Event] = []
        with self._lock:
            for part in self._sealed().newest():  # newest chunk first
                if len(found) >= count:
                    break
                found.extend(reversed(_events(part.run(), connection, None)))
        del found[count:]
        found.reverse()
        return found

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
        """Forget every kept event (connections, counts and the seq stay)."""
        with self._lock:
            self._sealed().clear()

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
        with self._lock:
            ring = self._sealed()
            return (f"<Capture {state}: {ring.kept} events, {ring.kept_bytes} bytes kept, "
                    f"{ring.dropped} dropped, {self._next_id - 1} connections>")




def _events(run, connection, kinds):
    """The events of a :class:`~lab.model._ring.Run`, optionally of one connection and kinds.

    Built by ``map`` and ``zip`` over its columns, with no Python step per
    event: a view decoding a large capture reads many.  Filtered, only the
    chosen events' data is sliced out.
    """
    channels, times, offsets, seqs = run.channels, run.times, run.offsets, count(run.first_seq)
    chosen = None
    if connection is not None or kinds is not None:
        chosen = [index for index, ch in enumerate(channels)
                  if (connection is None or ch[1] == connection) and (kinds is None or ch[0] in kinds)]
        seqs = [run.first_seq + index for index in chosen]
        channels = [channels[index] for index in chosen]
        times = [times[index] for index in chosen]
        offsets = [offsets[index] for index in chosen]
    fields = zip(seqs, map(_KIND, channels), map(_CONNECTION, channels), times, run.datas(chosen),
                 map(_REASON, channels), offsets)
    return list(map(_new, repeat(Event), fields))
