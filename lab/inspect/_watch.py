"""Bytes received per TCP connection, so a snapshot can say how long a connection was silent.

Installed once (by ``track_deferreds(True)`` or the first snapshot): Twisted's
``tcp.Connection._dataReceived`` is wrapped to count bytes and note the time
in the transport's ``__dict__``; one small list per connection, nothing else.
"""

import time

__all__ = ["watch_connections", "watching_since"]


class _ConnectionWatch:
    """Counts bytes received per TCP connection, so a snapshot can say how long one was silent."""

    watching_since = 0.0
    installed = False

    def install(self):
        """Wrap tcp.Connection._dataReceived (once)."""
        if self.installed:
            return
        from twisted.internet import tcp

        plain = tcp.Connection._dataReceived

        def _dataReceived(transport, data):  # noqa: N802 - Twisted's name
            received = transport.__dict__.get("_lab_rx")
            if received is None:
                received = transport.__dict__["_lab_rx"] = [0, 0.0]
            if data:
                received[0] += len(data)
                received[1] = time.monotonic()
            return plain(transport, data)

        tcp.Connection._dataReceived = _dataReceived
        self.watching_since = time.monotonic()
        self.installed = True


_watch = _ConnectionWatch()


def watch_connections():
    """Start counting received bytes per connection (once; in the reactor thread)."""
    _watch.install()




def watching_since():
    """The ``time.monotonic()`` when counting began (0.0 before)."""
    return _watch.watching_since
