"""The memcached text and meta protocol parser: bytes in, one event per ``next_event()``.

It frames the stream the way memcached 1.6 does (``try_read_command_ascii``):
a line ends at ``\\n`` (a ``\\r`` before it is dropped), a NUL ends the
command early, storage commands then read exactly ``<bytes> + 2`` bytes, and
after a rejected storage command the data block is skipped ("swallowed").
Decisions that only depend on the bytes are made here; everything that needs
the cache is left to the engine (:mod:`lab.protocols.memcached._engine`).

Bounds: a line without ``\\n`` may grow to 2048 bytes (memcached's limit)
unless it starts like a multi-get, which may grow to ``max_line`` bytes; past
that the parser reports :class:`Closed`, and buffers nothing more.
"""

from lab.protocols.memcached._cnum import strtol, strtoul, strtoull
from lab.protocols.memcached._events import (NEED_DATA, Closed, Command, MetaSet, Rejected,
                                             Storage)
from lab.protocols.memcached._meta import MAX_META_TOKENS, MAX_OPAQUE_LENGTH, preparse
from lab.protocols.memcached._store import DEFAULT_ITEM_SIZE_MAX, item_total_size

__all__ = ["Parser", "KEY_MAX_LENGTH", "MAX_TOKENS", "DEFAULT_MAX_LINE"]

KEY_MAX_LENGTH = 250
MAX_TOKENS = 23  # memcached tokenizes at most 23 tokens (24 with its end marker)
SHORT_LINE_LIMIT = 2048
DEFAULT_MAX_LINE = 256 * 1024  # a multi-get of ~1000 long keys fits
INT_MAX = (1 << 31) - 1
# Bytes a simple get's key may not hold, as ints: ``b" " in key`` first tries
# the needle as an int, and CPython formats and clears a TypeError for every
# bytes needle (about 1,200 instructions; two per get were 6% of the server's work).
_SPACE, _NEWLINE, _NUL = b" \n\0"
_LINE, _DATA, _SWALLOW, _CLOSED = "reading a command line", "reading a data block", \
    "skipping a rejected data block", "closed"
_BINARY = "refusing the binary protocol"

_STORAGE = {b"set": "set", b"add": "add", b"replace": "replace", b"append": "append",
            b"prepend": "prepend", b"cas": "cas"}
_RETRIEVAL = frozenset((b"get", b"gets", b"gat", b"gats", b"bget"))
_BAD_FORMAT = b"CLIENT_ERROR bad command line format\r\n"
_NO_MEMORY = b"SERVER_ERROR out of memory storing object\r\n"


# memcached dispatches on the first letter, then on the whole name: a name with one of these
# first letters (or an m and two letters) answers ERROR when unknown; only other unknown
# names are checked for HTTP (process_command_ascii's last branch).
_ERROR_LETTERS = frozenset(b"gsacidt")
_OTHER_NAMES = frozenset((b"replace", b"prepend", b"bget", b"flush_all", b"version", b"quit",
                          b"lru_crawler", b"watch", b"verbosity", b"lru", b"misbehave",
                          b"extstore"))


def _unknown(name):
    """Whether memcached's dispatch reaches its final branch for this command name."""
    if name[0] in _ERROR_LETTERS or (name[0] == 109 and len(name) == 2):  # m
        return False
    return name not in _OTHER_NAMES


def _line(text):
    return text.encode() + b"\r\n"


class Parser:
    """A memcached connection's input side, as a state machine a person can step.

    ``receive_data(bytes)`` appends input; ``next_event()`` returns the next
    event or ``NEED_DATA``.  ``state`` names what the parser is doing and
    ``buffered`` how many bytes wait in it.
    """

    def __init__(self, *, item_size_max=DEFAULT_ITEM_SIZE_MAX, max_line=DEFAULT_MAX_LINE,
                 budget=None):
        self.item_size_max = item_size_max
        # Memory for data blocks still arriving: budget.reserve(n) -> bool when a storage
        # command line arrives (memcached allocates the item then), budget.release(n) once
        # the block is complete or the connection closes.  None holds blocks without a bound.
        self.budget = budget
        self._reserved = 0
        self.max_line = max_line
        self._buf = b""
        self._pos = 0
        self.state = _LINE
        self._pending = None  # the Storage/MetaSet waiting for its data block
        self._need = 0  # data bytes (with \r\n) still expected or to swallow
        self._fresh = True  # no byte seen yet: memcached picks the protocol from the first

    # -- input --------------------------------------------------------------

    def receive_data(self, data):
        """Add bytes from the peer (after close they are ignored)."""
        if self.state is _CLOSED:
            return
        if self._fresh and data:
            self._fresh = False
            if data[0] == 0x80:  # memcached's binary protocol magic byte
                self.state = _BINARY
                return
        if self.state is _SWALLOW:
            data = self._swallow_now(data)
        if self._pos:
            self._buf = self._buf[self._pos:] + data
            self._pos = 0
        else:
            self._buf += data

    def _swallow_now(self, data):
        """Skip rejected data bytes on arrival, so a huge rejected block is never buffered."""
        if len(self._buf) != self._pos:  # bytes before these must be skipped first
            return data
        skip = min(self._need, len(data))
        self._need -= skip
        if not self._need:
            self.state = _LINE
        return data[skip:]

    @property
    def buffered(self):
        """Bytes received and not yet parsed."""
        return len(self._buf) - self._pos

    def peek(self, limit=80):
        """The first ``limit`` bytes received and not yet parsed (for display)."""
        return self._buf[self._pos:self._pos + limit]

    @property
    def pending(self):
        """The command waiting for its data block, or None."""
        return self._pending

    @property
    def expected(self):
        """Data bytes (counting the final ``\\r\\n``) the parser still reads or skips."""
        return self._need

    # -- events -------------------------------------------------------------

    def next_event(self):
        """The next :mod:`event <lab.protocols.memcached._events>`, or ``NEED_DATA``."""
        state = self.state
        if state is _LINE:
            return self._next_line()
        if state is _DATA:
            return self._next_data()
        if state is _SWALLOW:
            return self._next_swallow()
        if state is _BINARY:
            return self.close("binary protocol (first byte 0x80) is not supported")
        return NEED_DATA

    def simple_get(self):
        """The key of a complete ``get <key>\\r\\n`` line next in the buffer, consumed; else None.

        The commonest command, recognised without building an event: the
        adapter's fast path.  Anything unusual (several keys, odd spacing,
        a long key, a NUL) returns None and goes through :meth:`next_event`.
        """
        if self.state is not _LINE:
            return None
        buf, pos = self._buf, self._pos
        if buf[pos:pos + 4] != b"get ":
            return None
        end = buf.find(b"\r\n", pos)
        key = buf[pos + 4:end]
        if end < 0 or not 0 < len(key) <= KEY_MAX_LENGTH or _SPACE in key or _NEWLINE in key \
                or _NUL in key:
            return None
        self._pos = end + 2
        return key

    def whole_get(self, data):
        """The key if ``data`` is exactly one simple ``get <key>\\r\\n`` and nothing is buffered.

        Then the line needs no buffering at all; the caller answers it and
        the parser's state does not change.  Otherwise None.
        """
        if len(self._buf) != self._pos or self.state is not _LINE or data[:4] != b"get " \
                or data[-2:] != b"\r\n":
            return None
        key = data[4:-2]
        if not 0 < len(key) <= KEY_MAX_LENGTH or _SPACE in key or _NEWLINE in key or _NUL in key:
            return None
        return key

    def _next_line(self):
        buf, pos = self._buf, self._pos
        end = buf.find(b"\n", pos)
        if end < 0:
            return self._incomplete_line()
        self._pos = end + 1
        if end - pos > 1 and buf[end - 1] == 13:
            end -= 1
        line = buf[pos:end]
        if 0 in line:  # memcached handles the line as a C string
            line = line[:line.index(0)]
        return self.parse_line(line)

    def _incomplete_line(self):
        pending = len(self._buf) - self._pos
        if not pending:  # all consumed: let go of the old buffer (it may hold a big value)
            self._buf, self._pos = b"", 0
            return NEED_DATA
        if pending <= SHORT_LINE_LIMIT:
            return NEED_DATA
        head = self._buf[self._pos:self._pos + 200]
        stripped = head.lstrip(b" ")
        is_multiget = len(head) - len(stripped) <= 100 and (
            stripped.startswith(b"get ") or stripped.startswith(b"gets "))
        if is_multiget and pending <= self.max_line:
            return NEED_DATA
        limit = self.max_line if is_multiget else SHORT_LINE_LIMIT
        return self.close(f"no end of line within {limit} bytes")

    def close(self, reason):
        """Stop parsing: drop the buffer and return the :class:`Closed` event."""
        self.state, self._buf, self._pos, self._pending = _CLOSED, b"", 0, None
        self.release()
        return Closed(reason)

    def _next_data(self):
        need = self._need
        if len(self._buf) - self._pos < need:
            return NEED_DATA
        start = self._pos
        block = self._buf[start:start + need]
        self._pos = start + need
        event, self._pending, self._need, self.state = self._pending, None, 0, _LINE
        if self._reserved:
            self.release()
        if block[-2:] != b"\r\n":
            # memcached: the text commands honour noreply here, ms does not.
            quiet = type(event) is Storage and event.noreply
            return Rejected("data block does not end with \\r\\n",
                            b"" if quiet else b"CLIENT_ERROR bad data chunk\r\n")
        event.data = block[:-2]
        return event

    def _next_swallow(self):
        available = len(self._buf) - self._pos
        skip = min(available, self._need)
        self._pos += skip
        self._need -= skip
        if self._need:
            return NEED_DATA
        self.state = _LINE
        return self._next_line()

    # -- command lines ------------------------------------------------------

    def parse_line(self, line):
        """The event for one command line (without its line end), as memcached dispatches it."""
        tokens = line.split(b" ")
        if b"" in tokens:
            tokens = [t for t in tokens if t]
        if not tokens or len(tokens[0]) < 2:
            return Rejected("no such command", b"ERROR\r\n")
        name = tokens[0]
        if name in _RETRIEVAL:
            return Command(tokens)
        truncated = len(tokens) > MAX_TOKENS
        if truncated:
            tokens = tokens[:MAX_TOKENS]
        ntokens = len(tokens) + 1  # memcached counts its end-of-line token
        storage = _STORAGE.get(name)
        if storage is not None:
            return self._storage(storage, tokens, ntokens)
        if name == b"ms":
            return self._meta_set(tokens, ntokens)
        if name == b"quit":
            return self.close("quit")
        if tokens[-1][:5] == b"HTTP/" and _unknown(name):
            return self.close("a request that looks like HTTP")
        return Command(tokens, truncated)

    def _storage(self, name, tokens, ntokens):
        """memcached's ``process_update_command``, up to reading the data block."""
        wanted = (7, 8) if name == "cas" else (6, 7)
        if ntokens not in wanted:
            return Rejected("wrong number of tokens", b"ERROR\r\n")
        noreply = tokens[ntokens - 2] == b"noreply"
        key = tokens[1]
        if len(key) > KEY_MAX_LENGTH:
            return self._rejected("key longer than 250 bytes", _BAD_FORMAT, noreply)
        flags, exptime, vlen = strtoul(tokens[2]), strtol(tokens[3]), strtol(tokens[4])
        if flags is None or exptime is None or vlen is None:
            return self._rejected("flags, exptime or bytes is not a number", _BAD_FORMAT, noreply)
        cas = 0
        if name == "cas":
            cas = strtoull(tokens[5])
            if cas is None:
                return self._rejected("cas unique is not a number", _BAD_FORMAT, noreply)
        if vlen < 0 or vlen > INT_MAX - 2:
            return self._rejected("negative or huge byte count", _BAD_FORMAT, noreply)
        if item_total_size(len(key), vlen, flags) > self.item_size_max:
            reply = b"" if noreply else b"SERVER_ERROR object too large for cache\r\n"
            return self._reject_block("item larger than item_size_max", reply, vlen + 2,
                                      key if name == "set" else None, "store_too_large")
        if len(self._buf) - self._pos < vlen + 2 \
                and not self._reserve(item_total_size(len(key), vlen, flags)):
            reply = b"" if noreply else _NO_MEMORY
            return self._reject_block("no memory for the item", reply, vlen + 2,
                                      key if name == "set" else None, "store_no_memory")
        return self._await_block(Storage(name, key, flags, exptime, cas, None, noreply),
                                 vlen + 2)

    def _meta_set(self, tokens, ntokens):
        """memcached's ``process_mset_command``, up to reading the data block."""
        if ntokens < 3:
            return Rejected("ms without a key", b"ERROR\r\n")
        key = tokens[1]
        if len(key) > KEY_MAX_LENGTH or ntokens == 3:
            return Rejected("bad ms command line", _BAD_FORMAT)
        if ntokens > MAX_META_TOKENS:
            return Rejected("too many flags", b"CLIENT_ERROR options flags too long\r\n")
        vlen = strtol(tokens[2])
        if vlen is None or vlen < 0 or vlen > INT_MAX - 2:
            return Rejected("bad data length", _BAD_FORMAT)
        vlen += 2
        meta, error = preparse(tokens, 3, key)
        if error is None:
            error = self._meta_set_error(tokens, meta)
        if error is not None:
            return self._reject_block(error, _line(error), vlen)
        if not self.item_size_ok(meta.key, vlen - 2, meta.client_flags):
            return self._reject_block("item larger than item_size_max",
                                      b"SERVER_ERROR object too large for cache\r\n",
                                      vlen, meta.key, "store_too_large")
        if len(self._buf) - self._pos < vlen \
                and not self._reserve(item_total_size(len(meta.key), vlen - 2, meta.client_flags)):
            return self._reject_block("no memory for the item", _NO_MEMORY, vlen, meta.key,
                                      "store_no_memory")
        return self._await_block(MetaSet(meta.key, tokens, meta, _MODES[meta.mode], None), vlen)

    @staticmethod
    def _meta_set_error(tokens, meta):
        error = None
        for token in tokens[3:]:
            if token[0] == 79 and len(token) > MAX_OPAQUE_LENGTH:  # O
                error = "CLIENT_ERROR opaque token too long"
        if meta.mode not in _MODES:
            return "CLIENT_ERROR invalid mode for ms M token"
        return error

    def item_size_ok(self, key, nvalue, flags):
        """Whether a value of ``nvalue`` bytes under ``key`` fits ``item_size_max``."""
        return item_total_size(len(key), nvalue, flags) <= self.item_size_max

    def _rejected(self, reason, reply, noreply):
        return Rejected(reason, b"" if noreply else reply)

    def _reserve(self, size):
        """Hold memory for a data block that has not fully arrived; False if there is none."""
        if self.budget is None:
            return True
        if not self.budget.reserve(size):
            return False
        self._reserved = size
        return True

    def release(self):
        """Give back the memory reserved for a data block still arriving (if any)."""
        if self._reserved:
            self.budget.release(self._reserved)
            self._reserved = 0

    def _reject_block(self, reason, reply, swallow, unlink=None, counter=None):
        self.state, self._need = _SWALLOW, swallow
        return Rejected(reason, reply, unlink, swallow, counter)

    def _await_block(self, event, need):
        self.state, self._pending, self._need = _DATA, event, need
        return self._next_data()

    def __repr__(self):
        return f"<memcached Parser: {self.state}, {self.buffered} bytes buffered>"


# ms M<mode> -> text storage command it behaves as.
_MODES = {None: "set", "S": "set", "E": "add", "A": "append", "P": "prepend", "R": "replace"}
