"""One client connection: a parser feeding an engine, stepped or run to the end."""

from lab.protocols.memcached._engine import Engine
from lab.protocols.memcached._events import NEED_DATA, Closed, Command, DropsUnsent
from lab.protocols.memcached._parser import DEFAULT_MAX_LINE, Parser

__all__ = ["Connection", "Step"]

# memcached sends queued replies after the 21st command of a read, then after every 20
# more (its reqs_per_event), and at once after a retrieval or mn; replies it has not
# sent yet are lost when it closes on junk or refuses a multi-get's long key.
_FIRST_FLUSH, _FLUSH_EVERY = 21, 20
# Commands whose complete answer memcached writes out immediately (conn_mwrite).
_SENT_AT_ONCE = frozenset((b"get", b"gets", b"gat", b"gats", b"bget", b"mn"))


class Step:
    """What one :meth:`Connection.step` did: the event parsed and the bytes it answered."""

    __slots__ = ("event", "reply")

    def __init__(self, event, reply):
        self.event, self.reply = event, reply

    def __repr__(self):
        return f"Step({self.event!r}, reply={self.reply!r})"

    def describe(self):
        """The event in words, for a stepper view."""
        if self.event is NEED_DATA:
            return "needs more data"
        return self.event.describe()


class Connection:
    """A memcached connection without I/O: ``receive_data``, then ``step()`` or ``run()``.

    ``closed`` turns true once the server would close the connection (after
    ``quit`` or input it refuses to buffer); its replies up to then still
    count.
    """

    def __init__(self, engine=None, *, max_line=DEFAULT_MAX_LINE):
        self.engine = engine if engine is not None else Engine()
        self.parser = Parser(item_size_max=self.engine.store.item_size_max, max_line=max_line)
        self.closed = None  # the Closed event, once there is one

    def receive_data(self, data):
        """Bytes from the client."""
        self.engine.traffic["read"] += len(data)
        self.parser.receive_data(data)

    def step(self):
        """Parse and run one event; a :class:`Step` (its event is ``NEED_DATA`` when idle)."""
        event = self.parser.next_event()
        if event is NEED_DATA:
            return Step(event, b"")
        if type(event) is Closed:
            self.closed = event
            return Step(event, b"")
        reply = self.engine.execute(event)
        self.engine.traffic["written"] += len(reply)
        return Step(event, reply)

    def run(self):
        """Run every complete event buffered; return all reply bytes, joined.

        This is the adapter's fast path: the same events as :meth:`step`,
        without building a :class:`Step` for each.
        """
        parser, replies, sent, count = self.parser, [], 0, 0
        next_event, execute, get_one = parser.next_event, self.engine.execute, self.engine.get_one
        while True:
            key = parser.simple_get()
            if key is not None:
                replies.append(get_one(key))
                sent = len(replies)  # a get's reply is sent at once
            else:
                event = next_event()
                if event is NEED_DATA:
                    break
                if type(event) is Closed:
                    self.closed = event
                    if event.reason != "quit":  # closing on junk loses the unsent replies
                        del replies[sent:]
                    break
                reply = execute(event)
                if type(reply) is DropsUnsent:
                    del replies[sent:]
                replies.append(reply)
                if type(event) is Command and event.tokens[0] in _SENT_AT_ONCE \
                        and reply.endswith(b"N\r\n"):  # END or MN: a complete answer
                    sent = len(replies)
            count += 1
            if count >= _FIRST_FLUSH and (count - _FIRST_FLUSH) % _FLUSH_EVERY == 0:
                sent = len(replies)
        out = b"".join(replies)
        self.engine.traffic["written"] += len(out)
        return out

    def feed(self, data):
        """``receive_data(data)`` then ``run()``: the reply bytes for this input."""
        key = self.parser.whole_get(data)
        if key is not None:  # the commonest request, alone in its segment
            reply = self.engine.get_one(key)
            traffic = self.engine.traffic
            traffic["read"] += len(data)
            traffic["written"] += len(reply)
            return reply
        self.receive_data(data)
        return self.run()
