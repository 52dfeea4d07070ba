"""One client connection: a parser feeding an engine, stepped or run to the end."""

from lab.protocols.memcached._engine import Engine
from lab.protocols.memcached._events import NEED_DATA, Closed, Command, DropsUnsent
from lab.protocols.memcached._parser import DEFAULT_MAX_LINE, Parser

__all__ = ["Connection", "Step", "DEFAULT_REPLY_LIMIT"]

# Commands whose complete answer memcached writes out immediately (conn_mwrite).
_SENT_AT_ONCE = frozenset((b"get", b"gets", b"gat", b"gats", b"bget", b"mn"))
# Bytes of replies one ``run`` produces before it stops and lets the transport drain.
DEFAULT_REPLY_LIMIT = 256 * 1024


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
        self.parser = Parser(item_size_max=self.engine.store.item_size_max, max_line=max_line,
                             budget=self.engine.store)
        self.closed = None  # the Closed event, once there is one
        self.more = False  # the last run() stopped at its limit with input left
        self._resume = False  # the next run starts in memcached's conn_new_cmd

    def close(self):
        """The connection is gone: give back what its unfinished request held."""
        self.parser.release()

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

        The same as calling :meth:`run_event` until no input is left: what a
        server does over as many turns of its event loop as it takes.
        """
        out = [self.run_event()]
        while self.more:
            out.append(self.run_event())
        return b"".join(out)

    def run_event(self, limit=None):
        """Run the complete events buffered, as memcached runs one read event; return the replies.

        This follows memcached's ``drive_machine``: each command spends one of
        ``engine.reqs_per_event`` turns; queued replies are sent when a get
        completes, when input runs out and when the turns are used up; with
        no turn left and nothing to send the connection *yields*
        (``conn_yields``) and the rest waits for the next :meth:`run`.
        Replies queued but not sent are lost when the server closes on junk
        or refuses a multi-get's long key, as in memcached.

        ``limit`` bounds the reply bytes one call produces: past it the call
        stops at the next point where everything is sent, like memcached
        waiting for its socket to drain.  ``more`` then says whether buffered
        input is left for another call.
        """
        parser, engine = self.parser, self.engine
        next_event, execute, get_one = parser.next_event, engine.execute, engine.get_one
        out, unsent, size = [], [], 0
        turns = engine.reqs_per_event
        resume = self._resume
        self._resume = self.more = False
        while True:
            if resume:  # memcached's conn_new_cmd
                resume = False
                if limit is not None and size >= limit and not unsent:
                    self._resume = True  # as memcached, go on once the replies are sent
                    self.more = parser.buffered > 0
                    break
                turns -= 1
                if turns < 0:
                    if unsent:
                        out += unsent
                        unsent = []
                        resume = True
                        continue
                    engine.counters["conn_yields"] += 1
                    self._resume = True
                    self.more = parser.buffered > 0
                    break
            key = parser.simple_get()
            if key is not None:
                reply = get_one(key)
                size += len(reply)
                out += unsent
                out.append(reply)
                unsent = []
                resume = True
                continue
            event = next_event()
            if event is NEED_DATA:
                if unsent:  # flush, then one more turn is spent before waiting
                    out += unsent
                    unsent = []
                    turns -= 1
                    if turns < 0:
                        engine.counters["conn_yields"] += 1
                        self._resume = True
                break
            if type(event) is Closed:
                self.closed = event
                if event.reason == "quit":  # closing on junk loses the unsent replies
                    out += unsent
                break
            if type(event) is Command and event.tokens[0] == b"lru_crawler":
                engine.pipelined = bool(unsent)  # metadump refuses to follow queued replies
            reply = execute(event)
            size += len(reply)
            if type(reply) is DropsUnsent:
                unsent = []
            unsent.append(reply)
            if type(event) is Command and event.tokens[0] in _SENT_AT_ONCE \
                    and (reply[-5:] == b"END\r\n" or reply == b"MN\r\n"):  # a complete answer
                out += unsent
                unsent = []
            resume = True
        data = b"".join(out)
        engine.traffic["written"] += len(data)
        return data

    def feed(self, data):
        """``receive_data(data)`` then ``run()``: the reply bytes for this input."""
        return self.feed_event(data) + (self.run() if self.more else b"")

    def feed_event(self, data, limit=None):
        """``receive_data(data)`` then ``run_event(limit)``: what one read of ``data`` answers."""
        key = None if self._resume else self.parser.whole_get(data)
        if key is not None:  # the commonest request, alone in its segment
            reply = self.engine.get_one(key)
            traffic = self.engine.traffic
            traffic["read"] += len(data)
            traffic["written"] += len(reply)
            return reply
        self.receive_data(data)
        return self.run_event(limit)
