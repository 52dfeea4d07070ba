"""Proxy legs: a client connection, its own connection to the target, and the messages between.

Each accepted client connection (:class:`ClientLeg`) gets a server leg
(:class:`ServerLeg`) and one :class:`Pipeline`, which owns everything that
happens to the bytes in between, per direction (``"to_server"``,
``"to_client"``):

1. the bytes are recorded in the capture, as they arrived;
2. a framer splits them into whole messages (on a framing error that
   direction passes the rest through unframed, and says so);
3. each message joins the direction's queue; the *hub* (the model's
   ``Proxy``) decides whether to hold it for the user.  A held message
   blocks the messages behind it, so order is kept;
4. released messages are sent, shaped by the faults in force: delay and
   jitter, a throughput limit, fragmentation into N-byte pieces (each
   sent on its own reactor turn), close or reset after N bytes or
   messages, half-close.

The hub is duck-typed, called in the reactor thread::

    capture                          a lab.model Capture (opened/record/closed)
    framing                          .to_server() / .to_client() make framers
    should_hold(pipeline, direction, message) -> bool
    held_changed()                   the held list changed
    note(connection, text)           something worth telling the user
    faults_for(pipeline) -> Faults

UDP (:class:`ProxyDatagram`) has one pipeline per client address, whose
server leg is a connected UDP port of its own; every datagram is a message.

One module per concern: ``_proxy_values`` (directions, messages, faults),
``_proxy_pipeline`` (receive, frame, queue, hold), ``_proxy_sending`` (send
shaped by faults, back-pressure), ``_proxy_legs`` (the TCP legs and factory,
the UDP proxy).  This module is their public face.
"""

from lab.adapters._proxy_legs import (MAX_DATAGRAM_CLIENTS, ClientLeg, ProxyDatagram, ProxyFactory,
                                      ServerLeg)
from lab.adapters._proxy_pipeline import Pipeline
from lab.adapters._proxy_sending import MAX_OUTBOX_BYTES
from lab.adapters._proxy_values import DIRECTIONS, TO_CLIENT, TO_SERVER, Faults, Message

__all__ = ["Faults", "Message", "Pipeline", "ClientLeg", "ServerLeg", "ProxyFactory",
           "ProxyDatagram", "TO_SERVER", "TO_CLIENT", "DIRECTIONS", "MAX_OUTBOX_BYTES",
           "MAX_DATAGRAM_CLIENTS"]
