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

An event is :data:`FIELDS` consecutive items, flat: ``channel, time, data,
offset, size``.  ``channel`` is ``(kind, connection, reason)``, made once
per connection and kind (the reason is empty but for a close); its seq is
its position (chunks know the seq of their first event), so none is stored.
Flat, because a tuple per kept event is an object the garbage collector
counts and visits: each surviving tuple brought the next collection closer,
and on a busy server the collections cost about as much as the recording
(counted with callgrind: ``bench/memcached.py --instructions``).  A sealed
chunk is a tuple of atoms, which the collector stops visiting after one
look.

Threads: one thread appends (the reactor's); ``list.extend`` by a tuple and
the slice that takes the pending events are atomic under the GIL, so the
pending list always holds whole events, and sealing (any thread) needs only
the caller's lock, which the appending thread never waits for.
"""

from bisect import bisect_left
from collections import deque
from collections.abc import Iterator
from itertools import accumulate

__all__ = ["Ring", "CHUNK", "FIELDS"]

# Events appended before they are sealed into the ring: enough to make
# sealing and trimming cheap per event, few enough that the excess over the
# bounds (at most this many reads of 64 KiB) stays small.
CHUNK = 128
FIELDS = 5  # channel, time, data, offset, size
_DATA, _SIZE = 2, 4


class _Chunk:
    """Sealed events: the fields of those from ``start`` on, flat.

    ``sizes`` are the bytes of each event's data and ``kept_bytes`` their
    sum from ``start`` on.  Dropping the events before ``start`` makes a
    shorter tuple, which releases them at once.
    """

    __slots__ = ("flat", "sizes", "kept_bytes", "start", "first_seq", "count")

    def __init__(self, flat: list, first_seq: int, limit: int) -> None:
        sizes = flat[_SIZE::FIELDS]  # the recording thread measured them
        total = sum(sizes)
        if total > limit and max(sizes) > limit:  # rare: data larger than the byte bound
            _cut(flat, sizes, limit)
            total = sum(sizes)
        # Tuples of atoms (and channel tuples, themselves untracked): the
        # collector stops visiting them after one look, however long they are kept.
        self.flat = tuple(flat)
        self.sizes = tuple(sizes)
        self.kept_bytes = total
        self.start = 0
        self.first_seq = first_seq
        self.count = len(sizes)

    def fields_from(self, index: int) -> tuple:
        """The flat fields of the events from ``index`` (at least ``start``) on."""
        return self.flat[(index - self.start) * FIELDS:]

    def event(self, index: int) -> tuple:
        """One event's fields."""
        at = (index - self.start) * FIELDS
        return self.flat[at:at + FIELDS]

    def drop_before(self, index: int) -> int:
        """Release the events before ``index``; return how many bytes they held."""
        gone = sum(self.sizes[self.start:index])
        self.flat = self.fields_from(index)
        self.start = index
        self.kept_bytes -= gone
        return gone


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
            freed = accumulate(chunk.sizes[start:])  # bytes freed by dropping up to each event
            end = max(end, start + bisect_left(list(freed), need_bytes) + 1)
        return end - start, chunk.drop_before(end)

    def clear(self) -> None:
        """Forget every sealed event (not counted as dropped)."""
        self._chunks.clear()
        self.kept = self.kept_bytes = 0

    def since(self, seq: int) -> Iterator[tuple[int, tuple]]:
        """``(first seq, flat fields)`` runs of the kept events after ``seq``, oldest first."""
        runs = []
        for chunk in reversed(self._chunks):
            last = chunk.first_seq + chunk.count - 1
            if last <= seq:
                break
            start = max(chunk.start, seq - chunk.first_seq + 1)
            runs.append((chunk.first_seq + start, chunk.fields_from(start)))
            if start > chunk.start:
                break
        return reversed(runs)

    def newest(self) -> Iterator[tuple[int, tuple]]:
        """``(seq, fields)`` of the kept events, newest first."""
        for chunk in reversed(self._chunks):
            for index in range(chunk.count - 1, chunk.start - 1, -1):
                yield chunk.first_seq + index, chunk.event(index)
