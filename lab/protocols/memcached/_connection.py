"""One client connection: a parser feeding an engine, stepped or run to the end."""

from lab.protocols.memcached._engine import Engine
from lab.protocols.memcached._events import NEED_DATA, Closed
from lab.protocols.memcached._parser import DEFAULT_MAX_LINE, Parser

__all__ = ["Connection", "Step"]


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
        parser, replies = self.parser, []
        next_event, execute, get_one = parser.next_event, self.engine.execute, self.engine.get_one
        while True:
            key = parser.simple_get()
            if key is not None:
                replies.append(get_one(key))
                continue
            event = next_event()
            if event is NEED_DATA:
                break
            if type(event) is Closed:
                self.closed = event
                if event.reason != "quit":
                    # memcached drops the unsent replies of the read that brought the junk
                    replies.clear()
                break
            replies.append(execute(event))
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
