"""A memcached server core: the text and meta protocols of memcached 1.6, without I/O.

Three pieces, each usable alone:

* :class:`Parser`: bytes in, one event per :meth:`Parser.next_event` (a
  command, a rejected input, a close), so a person can step through parsing;
* :class:`Engine`: runs an event against a :class:`Store`, bytes out;
* :class:`Store`: the items, LRU-evicted under a memory limit, with an
  injected clock.

:class:`Connection` wires a parser to an engine for one client, and
:class:`ConversationDecoder` turns captured traffic back into readable lines.

    store = Store(clock=lambda: 1000.0)
    connection = Connection(Engine(store))
    connection.receive_data(b"set k 0 0 2\\r\\nhi\\r\\nget k\\r\\n")
    connection.run()   # -> b"STORED\\r\\nVALUE k 0 2\\r\\nhi\\r\\nEND\\r\\n"
"""

from lab.protocols.memcached._connection import DEFAULT_REPLY_LIMIT, Connection, Step
from lab.protocols.memcached._decoder import ConversationDecoder
from lab.protocols.memcached._engine import MEMCACHED_VERSION, Engine
from lab.protocols.memcached._events import (NEED_DATA, Closed, Command, MetaSet, Rejected,
                                             Storage)
from lab.protocols.memcached._parser import DEFAULT_MAX_LINE, KEY_MAX_LENGTH, Parser
from lab.protocols.memcached._store import (DEFAULT_ITEM_SIZE_MAX, DEFAULT_MEMORY_LIMIT, Item,
                                            Store)

__all__ = [
    "Parser", "Engine", "Store", "Item", "Connection", "Step", "ConversationDecoder",
    "NEED_DATA", "Command", "Storage", "MetaSet", "Rejected", "Closed",
    "KEY_MAX_LENGTH", "MEMCACHED_VERSION", "DEFAULT_MEMORY_LIMIT", "DEFAULT_ITEM_SIZE_MAX",
    "DEFAULT_MAX_LINE", "DEFAULT_REPLY_LIMIT",
]
