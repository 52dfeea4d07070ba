"""The capture's ring of events: appended without a lock, trimmed to its bounds in batches.

Why this shape: recording runs for every chunk of traffic, and on a small
request/response protocol (memcached) dropping the oldest event one by one
in Python, as each new one came, cost as much as recording it.  Here the
recording thread only appends a tuple to :attr:`Ring.pending`.  Every
:data:`CHUNK` events (and whenever a reader looks) the pending events are
*sealed* into a chunk whose cumulative sizes are computed in C, and the ring
is trimmed to its bounds: whole chunks go at once, and within the oldest
chunk a binary search over those sizes finds where the kept events start.
Trimming a batch keeps exactly what trimming after each append kept (the
newest events that fit both bounds), and counts the same drops.  Between
seals the ring is at most :data:`CHUNK` events over its bounds.

An event is a plain tuple ``(channel, time, data, offset)``: ``channel`` is
``(kind, connection, reason)``, made once per connection and kind (the
reason is empty but for a close); its seq is its position (chunks know the
seq of their first event), so none is stored.

Threads: one thread appends (the reactor's); ``list.append`` and the slice
that takes the pending events are atomic under the GIL, so sealing (any
thread) needs only the caller's lock, which the appending thread never waits
for.
"""

from bisect import bisect_left
from collections import deque
from collections.abc import Iterator
from itertools import accumulate
from operator import itemgetter

__all__ = ["Ring", "CHUNK"]

# Events appended before they are sealed into the ring: enough to make
# sealing and trimming cheap per event, few enough that the excess over the
# bounds (at most this many reads of 64 KiB) stays small.
CHUNK = 128
_DATA = itemgetter(2)


class _Chunk:
    """Sealed events; those before ``start`` have been dropped (and released)."""

    __slots__ = ("events", "ends", "start", "first_seq")

    def __init__(self, events: list, first_seq: int) -> None:
        self.events = events
        self.ends = list(accumulate(map(len, map(_DATA, events))))  # bytes up to each event
        self.start = 0
        self.first_seq = first_seq

    def kept_bytes(self) -> int:
        return self.ends[-1] - (self.ends[self.start - 1] if self.start else 0)


class Ring:
    """Events of one capture, oldest first, within ``max_events`` and ``max_bytes``.

    The appending side is :attr:`pending` (and :attr:`limit`, the byte bound
    a single chunk of data is cut to); everything else is called with the
    capture's lock held.
    """

    def __init__(self, max_events: int, max_bytes: int) -> None:
        self.max_events = max_events
        self.limit = [max_bytes]  # a list, so the recording closures see a change at once
        self.pending: list[tuple] = []
        self._chunks: deque[_Chunk] = deque()
        self.sealed = 0  # events ever sealed: the seq of the newest
        self.kept = 0
        self.kept_bytes = 0
        self.dropped = 0

    @property
    def max_bytes(self) -> int:
        """The byte bound."""
        return self.limit[0]

    @max_bytes.setter
    def max_bytes(self, value: int) -> None:
        self.limit[0] = value

    def seal(self) -> None:
        """Move the pending events into the ring, then trim it to its bounds."""
        pending = self.pending
        count = len(pending)
        if count:
            batch = pending[:count]
            del pending[:count]  # what was appended meanwhile stays pending
            chunk = _Chunk(batch, self.sealed + 1)
            self._chunks.append(chunk)
            self.sealed += count
            self.kept += count
            self.kept_bytes += chunk.ends[-1]
        self._trim()

    def _trim(self) -> None:
        """Drop the oldest events until both bounds hold."""
        chunks = self._chunks
        while self.kept > self.max_events or self.kept_bytes > self.limit[0]:
            oldest = chunks[0]
            left = len(oldest.events) - oldest.start
            left_bytes = oldest.kept_bytes()
            need_events = self.kept - self.max_events
            need_bytes = self.kept_bytes - self.limit[0]
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
        base = chunk.ends[start - 1] if start else 0
        end = start + max(need_events, 0)  # drop events[start:end]
        if need_bytes > 0:
            end = max(end, bisect_left(chunk.ends, base + need_bytes, start) + 1)
        chunk.events[start:end] = [None] * (end - start)  # release them now
        chunk.start = end
        return end - start, chunk.ends[end - 1] - base

    def clear(self) -> None:
        """Forget every sealed event (not counted as dropped)."""
        self._chunks.clear()
        self.kept = self.kept_bytes = 0

    def since(self, seq: int) -> Iterator[tuple[int, list]]:
        """``(first seq, events)`` runs of the kept events after ``seq``, oldest first."""
        runs = []
        for chunk in reversed(self._chunks):
            last = chunk.first_seq + len(chunk.events) - 1
            if last <= seq:
                break
            start = max(chunk.start, seq - chunk.first_seq + 1)
            runs.append((chunk.first_seq + start, chunk.events[start:]))
            if start > chunk.start:
                break
        return reversed(runs)

    def newest(self) -> Iterator[tuple[int, tuple]]:
        """``(seq, event)`` of the kept events, newest first."""
        for chunk in reversed(self._chunks):
            events = chunk.events
            for index in range(len(events) - 1, chunk.start - 1, -1):
                yield chunk.first_seq + index, events[index]
