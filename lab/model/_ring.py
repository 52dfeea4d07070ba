"""The capture's ring of events: appended without a lock, trimmed to its bounds in batches.

Why this shape: recording runs for every chunk of traffic, and on a small
request/response protocol (memcached) dropping the oldest event one by one
in Python, as each new one came, cost as much as recording it.  Here the
recording thread only extends :attr:`Ring.pending` by one event's fields,
with the size of its data.  Every :data:`CHUNK` events (and whenever a
reader looks) the pending events are *sealed* into a chunk, and the ring is
trimmed to its bounds: whole chunks go at once, and within the oldest chunk
a binary search over its cumulative sizes finds where the kept events
start.  Trimming a batch keeps exactly what trimming after each append kept
(the newest events that fit both bounds), and counts the same drops.
Between seals the ring is at most :data:`CHUNK` events over its bounds.

A pending event is :data:`FIELDS` consecutive items, flat: ``channel, time,
data, offset, size``.  ``channel`` is ``(kind, connection, reason)``, made
once per connection and kind (the reason is empty but for a close); its seq
is its position (chunks know the seq of their first event), so none is
stored.  The tuple the recorder builds for ``extend`` dies at once: no
object per event for the garbage collector to count and visit.

A sealed chunk keeps its events in columns: the channels in a tuple, times,
offsets and cumulative sizes packed as machine numbers, and small data
joined into one ``bytes`` (:data:`JOIN_LIMIT`).  Why: kept as they came,
each event held four objects (its data, its time, two ints) plus its
slots, 139 bytes beside its data, and a full ring of a busy server is
tens of megabytes the caches cannot hold.  Every dropped object was a
cold cache line to free, and new objects landed where old ones were
freed, cold too.  In columns an event costs 34 bytes beside its data
(``bench/listeners.py`` prints it), its objects are freed at sealing while
still hot, and dropping a chunk of small reads frees four objects.

Threads: one thread appends (the reactor's); ``list.extend`` by a tuple and
the slice that takes the pending events are atomic under the GIL, so the
pending list always holds whole events, and sealing (any thread) needs only
the caller's lock, which the appending thread never waits for.
"""

from bisect import bisect_left
from collections import deque
from collections.abc import Iterator
from functools import lru_cache
from itertools import accumulate
from struct import Struct
from typing import NamedTuple, cast

__all__ = ["Ring", "Run", "Slice", "CHUNK", "FIELDS", "SEAL_AT", "JOIN_LIMIT"]

# Events appended before they are sealed into the ring: enough to make
# sealing and trimming cheap per event, few enough that the excess over the
# bounds (at most this many reads of 64 KiB) stays small.
CHUNK = 128
FIELDS = 5  # channel, time, data, offset, size
SEAL_AT = CHUNK * FIELDS  # items in Ring.pending at which the recorder seals them
_CHANNEL, _TIME, _DATA, _OFFSET, _SIZE = range(FIELDS)
# A chunk whose data adds up to at most this is joined into one bytes; a
# larger one (bulk transfer: reads of up to 64 KiB) keeps its reads, which
# joining would copy for little gain.  A joined chunk is freed whole, so the
# ring may hold up to this much more than its byte bound.
JOIN_LIMIT = 256 * 1024


class Run(NamedTuple):
    """Kept events of one chunk, as columns: what :meth:`Slice.run` reads out.

    ``data`` is one joined ``bytes`` when ``starts`` is given (event ``i``'s
    data is ``data[starts[i]:starts[i + 1]]``), else a tuple of each event's.
    """

    first_seq: int
    channels: tuple
    times: list[float]
    offsets: list[int]
    data: "bytes | tuple[bytes, ...]"
    starts: "list[int] | None"

    def datas(self, chosen: "list[int] | None" = None) -> list[bytes]:
        """Each event's data in order, or only that of the events at the ``chosen`` indexes."""
        data, starts = self.data, self.starts
        if isinstance(data, tuple):
            return list(data) if chosen is None else [data[i] for i in chosen]
        assert starts is not None  # joined data comes with where each event starts
        if chosen is None:
            return [data[a:b] for a, b in zip(starts, starts[1:])]
        return [data[starts[i]:starts[i + 1]] for i in chosen]


class Slice(NamedTuple):
    """A chunk's events from ``start`` on, by reference to its immutable columns.

    Taken under the capture's lock and cheap (no copy); read out with
    :meth:`run` after it, since later trimming replaces a chunk's columns
    and never changes them.
    """

    first_seq: int
    start: int
    events: int  # in the whole chunk, from its first
    channels: tuple
    numbers: bytes
    data: "bytes | tuple[bytes, ...]"

    def run(self) -> Run:
        """The events as lists of Python values."""
        start, count, numbers, data = self.start, self.events, self.numbers, self.data
        starts = None
        if isinstance(data, tuple):
            data = data[start:]
        else:
            starts = [_bytes_before(numbers, count, start), *_ends(numbers, count)[start:].tolist()]
        times: list[float] = cast(list, _times(numbers, count)[start:].tolist())  # typeshed says ints
        return Run(self.first_seq + start, self.channels[start:], times,
                   _offsets(numbers, count)[start:].tolist(), data, starts)


class _Chunk:
    """Sealed events, in columns indexed from the chunk's first event; those before ``start`` are dropped.

    ``numbers`` packs three columns of machine numbers (see :func:`_times`).
    ``kept_bytes`` is the data of the events from ``start`` on.
    """

    __slots__ = ("channels", "numbers", "data", "kept_bytes", "start", "first_seq", "count")

    def __init__(self, flat: list, first_seq: int, limit: int) -> None:
        sizes = flat[_SIZE::FIELDS]  # the recording thread measured them
        ends = list(accumulate(sizes))
        if ends[-1] > limit and max(sizes) > limit:  # rare: data larger than the byte bound
            _cut(flat, sizes, limit)
            ends = list(accumulate(sizes))
        total = ends[-1]
        count = len(sizes)
        self.channels = tuple(flat[_CHANNEL::FIELDS])
        self.numbers = _packer(count)(*flat[_TIME::FIELDS], *flat[_OFFSET::FIELDS], *ends)
        datas = flat[_DATA::FIELDS]
        self.data = b"".join(datas) if total <= JOIN_LIMIT else tuple(datas)
        self.kept_bytes = total
        self.start = 0
        self.first_seq = first_seq
        self.count = count

    def slice_from(self, index: int) -> Slice:
        """The events from ``index`` (at least ``start``) on."""
        return Slice(self.first_seq, index, self.count, self.channels, self.numbers, self.data)

    def first_freeing(self, need: int) -> int:
        """The fewest events from ``start`` on whose dropping frees at least ``need`` bytes."""
        numbers, count, start = self.numbers, self.count, self.start
        target = need + _bytes_before(numbers, count, start)
        return bisect_left(_ends(numbers, count), target, start) + 1 - start

    def drop_before(self, index: int) -> int:
        """Drop the events before ``index``; return how many bytes of data they held."""
        numbers, count = self.numbers, self.count
        gone = _bytes_before(numbers, count, index) - _bytes_before(numbers, count, self.start)
        if isinstance(self.data, tuple):  # release their reads now (a joined chunk goes whole)
            self.data = (b"",) * index + self.data[index:]
        self.start = index
        self.kept_bytes -= gone
        return gone


# A chunk's packed numbers are three columns of ``count`` each: the times
# (doubles), the offsets, and the *ends* (64-bit ints; an event's end is the
# bytes of data up to and including it, from the chunk's first).  ``struct``
# packs them in C (:func:`_packer`); an ``array`` parses each item through
# ``PyArg_Parse``, about twice as slow.

def _times(numbers: bytes, count: int) -> "memoryview[float]":
    """The times column of a chunk's packed numbers."""
    return memoryview(numbers)[:8 * count].cast("d")


def _offsets(numbers: bytes, count: int) -> "memoryview[int]":
    """The offsets column of a chunk's packed numbers."""
    return memoryview(numbers)[8 * count:16 * count].cast("q")


def _ends(numbers: bytes, count: int) -> "memoryview[int]":
    """The ends column of a chunk's packed numbers."""
    return memoryview(numbers)[16 * count:].cast("q")


def _bytes_before(numbers: bytes, count: int, index: int) -> int:
    """The bytes of data of a chunk's events before ``index``."""
    return _ends(numbers, count)[index - 1] if index else 0


@lru_cache(maxsize=64)
def _packer(count):
    """``pack(*times, *offsets, *ends)`` for a chunk of ``count`` events.

    Compiled once per count (a chunk the recorder seals has :data:`CHUNK`):
    ``struct.pack`` with a new format string each time took nearly twice as long.
    """
    return Struct(f"{count}d{count * 2}q").pack


def _cut(flat, sizes, limit):
    """Keep the first ``limit`` bytes of each larger chunk of data."""
    for index, size in enumerate(sizes):
        if size > limit:
            at = index * FIELDS
            flat[at + _DATA] = flat[at + _DATA][:limit]
            flat[at + _SIZE] = sizes[index] = limit


class Ring:
    """Events of one capture, oldest first, within ``max_events`` and ``max_bytes``.

    The appending side is :attr:`pending` (extended by one event's
    :data:`FIELDS` at a time); everything else is called with the capture's
    lock held.  A chunk of data larger than ``max_bytes`` keeps its first
    ``max_bytes`` bytes.
    """

    def __init__(self, max_events: int, max_bytes: int) -> None:
        self.max_events = max_events
        self.max_bytes = max_bytes
        self.pending: list = []
        self._chunks: deque[_Chunk] = deque()
        self.sealed = 0  # events ever sealed: the seq of the newest
        self.kept = 0
        self.kept_bytes = 0
        self.dropped = 0

    def seal(self) -> None:
        """Move the pending events into the ring, then trim it to its bounds."""
        pending = self.pending
        taken = len(pending)  # fields of whole events: each was added by one extend
        if taken:
            batch = pending[:taken]
            del pending[:taken]  # what was appended meanwhile stays pending
            chunk = _Chunk(batch, self.sealed + 1, self.max_bytes)
            self._chunks.append(chunk)
            self.sealed += chunk.count
            self.kept += chunk.count
            self.kept_bytes += chunk.kept_bytes
        self._trim()

    def _trim(self) -> None:
        """Drop the oldest events until both bounds hold."""
        chunks = self._chunks
        while self.kept > self.max_events or self.kept_bytes > self.max_bytes:
            oldest = chunks[0]
            left = oldest.count - oldest.start
            left_bytes = oldest.kept_bytes
            need_events = self.kept - self.max_events
            need_bytes = self.kept_bytes - self.max_bytes
            if need_events >= left or need_bytes >= left_bytes:
                chunks.popleft()
                gone, gone_bytes = left, left_bytes
            else:
                gone, gone_bytes = self._trim_within(oldest, need_events, need_bytes)
            self.kept -= gone
            self.kept_bytes -= gone_bytes
            self.dropped += gone

    @staticmethod
    def _trim_within(chunk, need_events, need_bytes):
        """Drop the fewest oldest events of ``chunk`` that free enough; ``(events, bytes)``."""
        start = chunk.start
        end = start + max(need_events, 0)  # drop events start..end-1
        if need_bytes > 0:
            end = max(end, start + chunk.first_freeing(need_bytes))
        return end - start, chunk.drop_before(end)

    def clear(self) -> None:
        """Forget every sealed event (not counted as dropped)."""
        self._chunks.clear()
        self.kept = self.kept_bytes = 0

    def since(self, seq: int) -> list[Slice]:
        """Slices of the kept events after ``seq``, oldest first."""
        slices = []
        for chunk in reversed(self._chunks):
            if chunk.first_seq + chunk.count - 1 <= seq:
                break
            start = max(chunk.start, seq - chunk.first_seq + 1)
            slices.append(chunk.slice_from(start))
            if start > chunk.start:
                break
        slices.reverse()
        return slices

    def newest(self) -> Iterator[Slice]:
        """Slices of the kept events, newest chunk first (each slice oldest first)."""
        for chunk in reversed(self._chunks):
            yield chunk.slice_from(chunk.start)
