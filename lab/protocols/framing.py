"""Framers: split each direction of a byte stream into whole protocol messages.

Pure: bytes in, messages (the exact bytes, in order) out.  A framer has

    feed(data) -> list[bytes]    complete messages; the rest waits inside
    pending -> int               bytes waiting for the rest of a message
    describe(message) -> str     one readable line for a message

and raises :class:`FramingError` (a ``ValueError``) on bytes it cannot frame.
Joining every message a framer returned, plus what is pending, gives back
exactly the bytes fed: framing never changes or loses a byte.

A *framing* names a pair of framers, one per direction (``to_server``,
``to_client``), because many protocols frame requests and replies
differently (memcached's commands versus its ``VALUE`` blocks).  The
built-in ones are in :data:`FRAMINGS`: ``"raw"`` (every chunk is a
message), ``"lines"``, ``"netstring"``, ``"length"`` (4-byte big-endian
length prefix), ``"resp"`` (Redis) and ``"memcached"`` (the lab's parser
for commands).  :class:`FramingDecoder` turns a framing into the
conversation decoder the traffic views use.
"""

import struct

from lab.protocols import resp

__all__ = ["FramingError", "Framing", "RawFramer", "LineFramer", "NetstringFramer",
           "LengthPrefixFramer", "MemcachedCommandFramer", "MemcachedReplyFramer",
           "FramingDecoder", "FRAMINGS", "framing", "show_bytes", "DEFAULT_MAX_MESSAGE"]

DEFAULT_MAX_MESSAGE = 16 * 1024 * 1024


class FramingError(ValueError):
    """Bytes a framer cannot split into messages (the message says where and why).

    ``messages`` holds the whole messages found before the garbage, so that
    nothing fed is lost; the framer's ``drain()`` gives the rest.
    """

    def __init__(self, text, messages=()):
        super().__init__(text)
        self.messages = list(messages)


def show_bytes(data, limit=120):
    """Bytes as one readable line: UTF-8 where it decodes, escapes for control bytes."""
    text = data[:limit].decode("utf-8", "backslashreplace")
    text = "".join(ch if ch.isprintable() or ch == " " else repr(ch)[1:-1] for ch in text)
    return text + ("..." if len(data) > limit else "")


class RawFramer:
    """No framing: every chunk as it arrived is one message."""

    name = "raw"
    pending = 0

    def feed(self, data):
        """Each non-empty chunk is a message."""
        return [bytes(data)] if data else []

    def drain(self):
        """Nothing is ever pending."""
        return b""

    def describe(self, message):
        """The bytes as text."""
        return show_bytes(message)


class _Buffered:
    """A buffer with a bound: a message larger than ``max_message`` is garbage."""

    name = "?"

    def __init__(self, max_message=DEFAULT_MAX_MESSAGE):
        self.max_message = max_message
        self._buf = bytearray()

    @property
    def pending(self):
        """Bytes waiting for the rest of their message."""
        return len(self._buf)

    def feed(self, data):
        """Add bytes; return the complete messages."""
        # Why two buffers: most chunks hold whole messages, so they are cut
        # from the bytes as they came; only a leftover is copied to keep.
        if self._buf:
            self._buf += data
            buf = self._buf
        else:
            buf = data
        messages, pos = [], 0
        try:
            while True:
                end = self._end(buf, pos)
                if end is None:
                    break
                messages.append(bytes(buf[pos:end]))
                pos = end
        except FramingError as error:
            error.messages = messages
            raise
        finally:
            self._buf = bytearray(buf[pos:]) if pos < len(buf) else bytearray()
        if len(self._buf) > self.max_message:
            raise FramingError(f"{self.name}: no message end within {self.max_message} bytes",
                               messages)
        return messages

    def drain(self):
        """Take the pending bytes (after an error, to pass them on unframed)."""
        data, self._buf = bytes(self._buf), bytearray()
        return data

    def _end(self, buf, pos):
        raise NotImplementedError

    def describe(self, message):
        """The message as text."""
        return show_bytes(message)


class LineFramer(_Buffered):
    """Messages end with ``delimiter`` (default ``\\n``, so ``\\r\\n`` lines work too)."""

    name = "lines"

    def __init__(self, delimiter=b"\n", max_message=64 * 1024):
        super().__init__(max_message)
        if not delimiter:
            raise ValueError("a line framer needs a non-empty delimiter, e.g. b'\\n'")
        self.delimiter = delimiter

    def _end(self, buf, pos):
        at = buf.find(self.delimiter, pos)
        return None if at < 0 else at + len(self.delimiter)


class NetstringFramer(_Buffered):
    """Netstrings: ``<length>:<bytes>,`` (D. J. Bernstein's format)."""

    name = "netstring"

    def _end(self, buf, pos):
        colon = buf.find(b":", pos, pos + 11)
        if colon < 0:
            if len(buf) - pos > 10 or not bytes(buf[pos:]).isdigit():
                if len(buf) > pos:
                    raise FramingError(f"netstring: {show_bytes(bytes(buf[pos:pos + 12]))!r} "
                                       "does not start with '<length>:'")
            return None
        digits = bytes(buf[pos:colon])
        if not digits.isdigit():
            raise FramingError(f"netstring: length {show_bytes(digits)!r} is not a number")
        end = colon + 1 + int(digits)
        if int(digits) > self.max_message:
            raise FramingError(f"netstring: length {int(digits)} exceeds {self.max_message}")
        if len(buf) <= end:
            return None
        if buf[end:end + 1] != b",":
            raise FramingError(f"netstring: no ',' after the {int(digits)} bytes")
        return end + 1

    def describe(self, message):
        """The payload as text."""
        return show_bytes(message[message.index(b":") + 1:-1])


class LengthPrefixFramer(_Buffered):
    """A ``size``-byte unsigned length (big-endian unless told) before each payload."""

    name = "length"
    _FORMATS = {1: "B", 2: "H", 4: "I", 8: "Q"}

    def __init__(self, size=4, byteorder="big", max_message=DEFAULT_MAX_MESSAGE):
        super().__init__(max_message)
        if size not in self._FORMATS or byteorder not in ("big", "little"):
            raise ValueError("size must be 1, 2, 4 or 8 and byteorder 'big' or 'little'")
        self.size = size
        self._format = (">" if byteorder == "big" else "<") + self._FORMATS[size]

    def _end(self, buf, pos):
        if len(buf) < pos + self.size:
            return None
        (length,) = struct.unpack_from(self._format, buf, pos)
        if length > self.max_message:
            raise FramingError(f"length prefix says {length} bytes, more than {self.max_message}")
        end = pos + self.size + length
        return end if len(buf) >= end else None

    def describe(self, message):
        """``[length] payload``."""
        return f"[{len(message) - self.size}] {show_bytes(message[self.size:])}"


class _RespDirection:
    name = "resp"

    def __init__(self):
        self._framer = resp.RespFramer()

    @property
    def pending(self):
        return self._framer.pending

    def feed(self, data):
        try:
            return self._framer.feed(data)
        except resp.RespError as error:
            raise FramingError(f"resp: {error}", getattr(error, "messages", ())) from None

    def drain(self):
        return self._framer.drain()

    def describe(self, message):
        return resp.describe(message)


class MemcachedCommandFramer:
    """memcached commands, framed by the lab's memcached parser (so exactly as the server frames).

    A storage command and its data block make one message.
    """

    name = "memcached"

    def __init__(self):
        from lab.protocols.memcached import NEED_DATA, Closed, Parser

        self._parser = Parser(item_size_max=DEFAULT_MAX_MESSAGE)
        self._need_data, self._closed = NEED_DATA, Closed
        self._fed = 0
        self._cut = 0  # stream offset where the next message starts
        self._buf = bytearray()

    @property
    def pending(self):
        """Bytes waiting for the rest of their command."""
        return len(self._buf)

    def feed(self, data):
        """Add bytes; return complete commands."""
        if self._fed and not self._buf and self._parser.whole_get(data) is not None:
            # The commonest command, whole in one chunk: the parser's own fast
            # path says it is one ``get <key>\r\n`` and leaves its state as is.
            self._fed += len(data)
            self._cut = self._fed
            return [data]
        self._buf += data
        self._fed += len(data)
        self._parser.receive_data(data)
        messages = []
        while True:
            event = self._parser.next_event()
            if event is self._need_data:
                break
            if type(event) is self._closed:
                raise FramingError(f"memcached: {event.describe()}", messages)
            end = self._fed - self._parser.buffered
            size = end - self._cut
            message = bytes(self._buf[:size])
            del self._buf[:size]
            self._cut = end
            if message:
                messages.append(message)
        return messages

    def drain(self):
        """Take the pending bytes (after an error, to pass them on unframed)."""
        data, self._buf = bytes(self._buf), bytearray()
        self._cut = self._fed
        return data

    def describe(self, message):
        """The parser's own description of the command."""
        return _describe_memcached(message)


def _describe_memcached(message):
    from lab.protocols.memcached import NEED_DATA, Parser

    parser = Parser(item_size_max=DEFAULT_MAX_MESSAGE)
    parser.receive_data(message)
    event = parser.next_event()
    return show_bytes(message) if event is NEED_DATA else event.describe()


class MemcachedReplyFramer(_Buffered):
    """memcached replies: one line each, and a ``VALUE``/``VA`` line with its data block."""

    name = "memcached"

    def __init__(self, max_message=DEFAULT_MAX_MESSAGE):
        from lab.protocols.memcached._decoder import reply_data_size

        super().__init__(max_message)
        self._data_size = reply_data_size

    def _end(self, buf, pos):
        at = buf.find(b"\r\n", pos)
        if at < 0:
            return None
        if not (buf.startswith(b"VALUE ", pos) or buf.startswith(b"VA ", pos)):
            return at + 2
        size = self._data_size(bytes(buf[pos:min(at, pos + 600)]).split(b" "))
        if size is None:
            return at + 2
        end = at + 2 + size + 2
        return end if len(buf) >= end else None

    def describe(self, message):
        """The reply line, and a preview of its value."""
        head, _, rest = message.partition(b"\r\n")
        text = show_bytes(head)
        return f"{text} = {show_bytes(rest[:-2], 40)!r}" if rest else text


class Framing:
    """A named pair of framer factories: ``to_server()`` and ``to_client()`` each make a fresh framer."""

    def __init__(self, name, to_server, to_client=None):
        self.name = name
        self._to_server, self._to_client = to_server, to_client or to_server

    def to_server(self):
        """A fresh framer for what clients send."""
        return self._to_server()

    def to_client(self):
        """A fresh framer for what servers send."""
        return self._to_client()

    def __repr__(self):
        return f"<Framing {self.name!r}>"


FRAMINGS = {
    "raw": Framing("raw", RawFramer),
    "lines": Framing("lines", LineFramer),
    "netstring": Framing("netstring", NetstringFramer),
    "length": Framing("length", LengthPrefixFramer),
    "resp": Framing("resp", _RespDirection),
    "redis": Framing("resp", _RespDirection),
    "memcached": Framing("memcached", MemcachedCommandFramer, MemcachedReplyFramer),
}


def framing(name):
    """The built-in :class:`Framing` called ``name`` (``KeyError`` naming the choices)."""
    try:
        return FRAMINGS[name]
    except KeyError:
        raise KeyError(f"no framer {name!r}; built in: {', '.join(FRAMINGS)}") from None


class FramingDecoder:
    """A conversation decoder (``feed(direction, data) -> [str]``) made from a framing.

    ``"in"`` is what the client sent, ``"out"`` what the server sent.  After
    a framing error a direction shows the rest raw, with one line saying why.
    """

    def __init__(self, framing_):
        self.framing = framing_
        self._framers = {"in": framing_.to_server(), "out": framing_.to_client()}

    def feed(self, direction, data):
        """Decode more bytes of one direction; return readable lines."""
        framer = self._framers[direction]
        arrow = "->" if direction == "in" else "<-"
        try:
            messages = framer.feed(data)
        except FramingError as error:
            self._framers[direction] = RawFramer()
            return [f"{arrow} (framing stopped: {error}; the rest shows raw)"]
        return [f"{arrow} {framer.describe(m)}" for m in messages]
