"""Read a bare TCP connection straight into the capture, with one Python call per read.

Twisted's ``doRead`` receives a chunk and calls ``_dataReceived``, which
calls the protocol's ``dataReceived``: two Python calls before the protocol
sees a byte, and a wiretap's recorder would be a third.  On a small
request/response protocol (memcached) each call is about a percent of the
server's time.  So for a bare TCP transport the wiretap replaces the
transport's ``doRead`` (``IReadDescriptor``'s, what the reactor calls; Twisted's
own ``abortConnection`` replaces it the same way) with the capture's reader
(``Capture.reader``): it receives, records and delivers in one call, doing
what Twisted's ``doRead`` does with the socket.  Recording a read then costs
less in calls than not recording it.  Every other transport (TLS, a test's)
keeps Twisted's path, where the recorder is the protocol's ``dataReceived``;
each chunk is recorded once either way.
"""

from errno import EWOULDBLOCK
from functools import partial

from twisted.internet.main import CONNECTION_DONE, CONNECTION_LOST

from lab.adapters._send import PLAIN_TCP

__all__ = ["install_direct_read", "remove_direct_read"]


def install_direct_read(transport, recorder, cid, deliver, failed):
    """Make the recorder's reader ``transport``'s ``doRead``, when it is bare TCP; say whether it did.

    ``recorder.reader`` (see ``Capture.reader``) gets the socket's ``recv``
    of Twisted's buffer size, ``deliver`` and ``failed``.  Undo with
    :func:`remove_direct_read`: before TLS starts, and when the connection
    is lost.
    """
    make_reader = getattr(recorder, "reader", None)
    if make_reader is None or type(transport) not in PLAIN_TCP or transport.TLS:
        return False
    receive = partial(transport.socket.recv, transport.bufferSize)  # a C call, no frame
    transport.doRead = make_reader(cid, receive, deliver, failed, CONNECTION_DONE, _refused)
    return True


def remove_direct_read(transport):
    """Give ``transport`` back Twisted's own ``doRead`` (nothing if it has it)."""
    vars(transport).pop("doRead", None)


def _refused(error):
    """What Twisted's ``doRead`` returns for a ``recv`` that raised ``error``."""
    return None if error.args[0] == EWOULDBLOCK else CONNECTION_LOST
