"""What the memcached parser hands out: one event per :meth:`Parser.next_event` call.

Events are small values with noun names.  A :class:`Command` is a command
line the engine still has to run; :class:`Storage` and :class:`MetaSet` carry
their data block; :class:`Rejected` is an input the parser itself answers
(memcached answers these before touching the cache); :class:`Closed` means
the server must close the connection.  ``NEED_DATA`` says: feed more bytes.
"""

__all__ = ["NEED_DATA", "Command", "Storage", "MetaSet", "Rejected", "Closed", "DropsUnsent"]


class _NeedData:
    """The parser needs more bytes before it can produce another event."""

    __slots__ = ()

    def __repr__(self):
        return "NEED_DATA"


NEED_DATA = _NeedData()


class DropsUnsent(bytes):
    """A reply that makes memcached throw away the replies it has not sent yet.

    memcached answers a multi-get with a too-long key by releasing every
    queued response of the connection before its error (``conn_release_items``);
    :class:`~lab.protocols.memcached.Connection` does the same with the
    replies of the current batch.
    """

    __slots__ = ()


class Command:
    """A command line for the engine: its space-separated tokens, as memcached splits them.

    ``tokens`` holds at most 23 tokens for commands other than the retrieval
    ones (memcached's tokenizer stops there); ``truncated`` says whether more
    followed.
    """

    __slots__ = ("tokens", "truncated")

    def __init__(self, tokens, truncated=False):
        self.tokens, self.truncated = tokens, truncated

    @property
    def name(self):
        """The command name, e.g. ``"get"``."""
        return self.tokens[0].decode("latin-1")

    def __repr__(self):
        return f"Command({b' '.join(self.tokens)!r})"

    def __eq__(self, other):
        return type(other) is Command and other.tokens == self.tokens

    def describe(self):
        """One line for people: the command as it was sent."""
        return b" ".join(self.tokens).decode("latin-1")


class Storage:
    """A text storage command (set, add, replace, append, prepend, cas) with its data block."""

    __slots__ = ("name", "key", "flags", "exptime", "cas", "data", "noreply")

    def __init__(self, name, key, flags, exptime, cas, data, noreply):
        self.name, self.key, self.flags, self.exptime = name, key, flags, exptime
        self.cas, self.data, self.noreply = cas, data, noreply

    def __repr__(self):
        return (f"Storage({self.name!r}, key={self.key!r}, flags={self.flags}, "
                f"exptime={self.exptime}, cas={self.cas}, data={self.data!r}, "
                f"noreply={self.noreply})")

    def __eq__(self, other):
        return type(other) is Storage and all(
            getattr(self, n) == getattr(other, n) for n in self.__slots__)

    def describe(self):
        """One line for people: the command and how much data it carries."""
        cas = f" cas={self.cas}" if self.name == "cas" else ""
        quiet = " noreply" if self.noreply else ""
        size = "waiting for data" if self.data is None else f"{len(self.data)} bytes"
        return (f"{self.name} {self.key.decode('latin-1')} flags={self.flags} "
                f"exptime={self.exptime}{cas} ({size}){quiet}")


class MetaSet:
    """An ``ms`` command with its parsed flags and data block."""

    __slots__ = ("key", "tokens", "meta", "mode", "data")

    def __init__(self, key, tokens, meta, mode, data):
        self.key, self.tokens, self.meta, self.mode, self.data = key, tokens, meta, mode, data

    def __repr__(self):
        return f"MetaSet({b' '.join(self.tokens)!r}, data={self.data!r})"

    def describe(self):
        """One line for people: the ``ms`` line and its data size."""
        line = b" ".join(self.tokens).decode("latin-1")
        size = "waiting for data" if self.data is None else f"{len(self.data)} bytes"
        return f"{line} ({size}, mode {self.mode})"


class Rejected:
    """Input the parser answers itself: ``reply`` is what the server sends (maybe nothing).

    ``unlink`` names a key the engine must delete first (memcached drops the
    old value when a ``set`` is too large); ``swallow`` counts the data bytes
    the parser will skip after this reply; ``counter`` names the statistic a
    refused item counts in (``store_too_large``, ``store_no_memory`` or None).
    """

    __slots__ = ("reason", "reply", "unlink", "swallow", "counter")

    def __init__(self, reason, reply, unlink=None, swallow=0, counter=None):
        self.reason, self.reply, self.unlink, self.swallow = reason, reply, unlink, swallow
        self.counter = counter

    def __repr__(self):
        return f"Rejected({self.reason!r}, reply={self.reply!r}, swallow={self.swallow})"

    def describe(self):
        """One line for people: why, and what is skipped."""
        skip = f" (then skips {self.swallow} data bytes)" if self.swallow else ""
        quiet = " [reply suppressed by noreply]" if not self.reply else ""
        return f"rejected: {self.reason}{quiet}{skip}"


class Closed:
    """The server closes the connection (``quit``, or input it will not buffer)."""

    __slots__ = ("reason",)

    def __init__(self, reason):
        self.reason = reason

    def __repr__(self):
        return f"Closed({self.reason!r})"

    def __eq__(self, other):
        return type(other) is Closed and other.reason == self.reason

    def describe(self):
        """One line for people: why the connection closes."""
        return f"close connection: {self.reason}"
