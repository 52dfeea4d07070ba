"""The closures that record a connection's traffic into a capture's ring: the hot path.

They run for every chunk a wiretapped connection reads or writes, so each
is written out whole rather than built from shared helpers: on a small
request/response protocol (memcached) each Python call more per chunk cost
about a percent of the server's time.  That is why the same few recording
lines (measure the chunk, advance the connection's count, add one event's
fields to the ring's pending list, seal when it is full) appear in each
form below, each with the call around it that its caller needs:

- :func:`recorders`: ``(record_in, record_out)``, called with each chunk
  (the protocol path; ``record_in`` may also deliver it);
- :func:`reader`: a transport's ``doRead`` that receives, records and
  delivers in one call;
- :func:`sender`: a write that records and sends in one call.

Each takes the connection (its counts), the ring's ``pending`` list and
``seal`` (the capture's, which seals unless a reader holds the lock), and
``enabled``: with recording off, the same forms only count bytes.  The
tuple each builds for ``extend`` is not kept (see :mod:`lab.model._ring`),
and ``try`` costs nothing until it catches.
"""

import threading
import time
from collections.abc import Callable
from typing import Any

from lab.model._ring import SEAL_AT

__all__ = ["recorders", "reader", "sender", "ignore"]


def ignore(_: object) -> None:
    """Take one value and do nothing (the default ``deliver`` and ``failed``)."""


def recorders(conn: Any, pending: list, seal: Callable[[], None], enabled: bool,
              deliver: Callable[[bytes], object] | None = None,
              failed: Callable[[Exception], object] | None = None,
              ) -> tuple[Callable[[bytes], None], Callable[[bytes], None]]:
    """``(record_in, record_out)`` of ``conn``; ``record_in`` then passes each chunk to ``deliver``."""
    keep, now, full = pending.extend, time.time, SEAL_AT
    into, out_of = ("in", conn.id, ""), ("out", conn.id, "")
    deliver, failed = deliver or ignore, failed or ignore
    # Two copies of each rather than one closure with getattr/setattr on
    # a name: the count is read and written on every chunk.  The tuple is
    # not kept (see lab.model._ring: why columns).  ``try`` costs nothing
    # until it catches.
    if not enabled:
        def count_in(data: bytes) -> None:
            conn.bytes_in += len(data)
            try:
                deliver(data)
            except Exception as error:
                failed(error)
                raise

        def count_out(data: bytes) -> None:
            conn.bytes_out += len(data)

        return count_in, count_out

    def record_in(data: bytes) -> None:
        size = len(data)
        offset = conn.bytes_in
        conn.bytes_in = offset + size
        keep((into, now(), data, offset, size))
        if len(pending) >= full:
            seal()
        try:
            deliver(data)
        except Exception as error:
            failed(error)
            raise

    def record_out(data: bytes) -> None:
        size = len(data)
        offset = conn.bytes_out
        conn.bytes_out = offset + size
        keep((out_of, now(), data, offset, size))
        if len(pending) >= full:
            seal()

    return record_in, record_out


def reader(conn: Any, pending: list, seal: Callable[[], None], enabled: bool,
           receive: Callable[[], bytes], deliver: Callable[[bytes], object],
           failed: Callable[[Exception], object], at_end: object,
           refused: Callable[[OSError], object]) -> Callable[[], object]:
    """``read()``: receive a chunk, record it, deliver it (see ``Capture.reader``)."""
    if not enabled:
        def read_and_count() -> object:
            try:
                data = receive()
            except OSError as error:
                return refused(error)
            if not data:
                return at_end
            conn.bytes_in += len(data)
            try:
                deliver(data)
            except Exception as error:
                failed(error)
                raise
            return None

        return read_and_count
    keep, now, full = pending.extend, time.time, SEAL_AT
    into = ("in", conn.id, "")

    def read_and_record() -> object:
        try:
            data = receive()
        except OSError as error:
            return refused(error)
        size = len(data)
        if not size:
            return at_end
        offset = conn.bytes_in
        conn.bytes_in = offset + size
        keep((into, now(), data, offset, size))
        if len(pending) >= full:
            seal()
        try:
            deliver(data)
        except Exception as error:
            failed(error)
            raise
        return None

    return read_and_record


def sender(conn: Any, pending: list, seal: Callable[[], None], enabled: bool,
           send: Callable[[bytes], int], gate: Any, otherwise: Callable[[Any], object],
           rest: Callable[[bytes], object]) -> Callable[[Any], object]:
    """``write(data)``: record the bytes out, then send them (see ``Capture.sender``)."""
    thread, get_ident = threading.get_ident(), threading.get_ident
    if not enabled:
        def count_and_send(data):
            if not gate.plain or type(data) is not bytes or get_ident() != thread:
                return otherwise(data)
            size = len(data)
            conn.bytes_out += size
            try:
                sent = send(data)
            except OSError:
                sent = 0
            if sent != size:
                rest(data[sent:])

        return count_and_send
    keep, now, full = pending.extend, time.time, SEAL_AT
    out_of = ("out", conn.id, "")

    def record_and_send(data):
        if not gate.plain or type(data) is not bytes or get_ident() != thread:
            return otherwise(data)
        size = len(data)
        offset = conn.bytes_out
        conn.bytes_out = offset + size
        keep((out_of, now(), data, offset, size))
        if len(pending) >= full:
            seal()
        # After recording: a direct send can reach the peer before we return.
        try:
            sent = send(data)
        except OSError:  # would block, or broken: the transport's own write knows what to do
            sent = 0
        if sent != size:
            rest(data[sent:])

    return record_and_send
