"""Write to a TCP transport now, when nothing is queued, instead of on the next reactor turn.

``transport.write`` on an idle TCP connection only buffers the bytes and
registers the socket for writing; they leave on the next reactor turn.  That
is two ``epoll_ctl`` calls and a loop iteration per reply, most of the cost
of a small request/response exchange (measured by ``bench/memcached.py``
and ``bench/listeners.py``).  A direct ``send`` skips all three; whatever it
could not send, and every transport that is not a bare TCP connection
(TLS, a wrapper), goes through ``transport.write`` as usual, so ordering and
back-pressure are Twisted's.
"""

from twisted.internet.tcp import Client, Server

__all__ = ["send_now", "sender", "direct_send", "idle", "PLAIN_TCP"]

# Twisted's bare TCP transports, whose socket the lab may use directly (before TLS starts).
PLAIN_TCP = frozenset((Server, Client))


def send_now(transport, data):
    """Send ``data`` on ``transport``: directly when it is an idle bare TCP socket, else queued."""
    if (type(transport) in PLAIN_TCP and transport.connected and not transport.disconnecting
            and not transport.dataBuffer and not transport._tempDataBuffer and not transport.TLS):
        try:
            sent = transport.socket.send(data)
        except OSError:  # would block, or broken: Twisted's write knows what to do
            sent = 0
        if sent == len(data):
            return
        data = data[sent:]
    transport.write(data)


def sender(transport):
    """The transport's own ``write`` when it already sends at once, else None: take it once per connection.

    The lab's wiretap says so with ``sends_now``: going through
    :func:`send_now` first would only find it is not a bare socket.  For
    anything else call :func:`send_now` itself (a ``partial`` of it would
    cost a C call more on every write).
    """
    if getattr(transport, "sends_now", False) is True:
        return transport.write
    return None


def direct_send(transport):
    """``send(data) -> bytes sent`` for ``transport``: its socket's own ``send`` when it is bare TCP.

    For a wiretap's fast write (``Capture.sender``), which checks the rest
    of :func:`send_now`'s conditions through its gate (see :func:`idle`)
    and hands what was not sent to the transport's ``write``.  Any other
    transport writes everything (its ``write`` is its send).
    """
    if type(transport) in PLAIN_TCP and not transport.TLS:
        return transport.socket.send
    write = transport.write

    def send(data):
        write(data)
        return len(data)

    return send


def idle(transport):
    """Whether ``transport`` holds no bytes of ours yet to send (so a direct send keeps the order)."""
    # send_now tests the same three attributes inline: it runs for every
    # reply of an unwrapped server, where a call to this would cost a percent.
    if type(transport) in PLAIN_TCP:
        return not transport.dataBuffer and not transport._tempDataBuffer and not transport.TLS
    return True
