"""Redis's protocol (RESP2 and RESP3): split a byte stream into messages and decode them.

Pure: bytes in, values out, no I/O.  :func:`parse` reads one message from a
buffer and says where it ended (or that more bytes are needed);
:class:`RespFramer` keeps a buffer and returns each complete message as the
exact bytes it arrived as, so a proxy can forward, hold or edit whole
messages; :func:`describe` renders a message the way ``redis-cli`` would.

Types: simple strings ``+``, errors ``-``, integers ``:``, bulk strings
``$`` (and the null ``$-1``), arrays ``*`` (and ``*-1``), and RESP3's null
``_``, booleans ``#``, doubles ``,``, big numbers ``(``, bulk errors ``!``,
verbatim strings ``=``, maps ``%``, sets ``~``, attributes ``|`` and pushes
``>``.  A line that starts with none of those is an *inline command*
(``PING\\r\\n`` typed into telnet), split on spaces.

    framer = RespFramer()
    framer.feed(b"*2\\r\\n$3\\r\\nGET\\r\\n$1\\r\\nk\\r\\n+O")   # -> [b"*2\\r\\n$3..."]
    decode(b"*2\\r\\n$3\\r\\nGET\\r\\n$1\\r\\nk\\r\\n")     # -> [b"GET", b"k"]
"""

from typing import NamedTuple

__all__ = ["RespError", "Push", "Error", "Verbatim", "Attribute", "Inline",
           "parse", "decode", "describe", "encode_command", "RespFramer",
           "MAX_NESTING", "MAX_BULK", "MAX_LINE"]

MAX_NESTING = 64  # like hiredis's reader; deeper arrays are refused as garbage
MAX_BULK = 512 * 1024 * 1024  # Redis's proto-max-bulk-len default
MAX_LINE = 64 * 1024  # Redis's inline-command limit (PROTO_INLINE_MAX_SIZE)
MAX_ELEMENTS = 1 << 20  # elements of one aggregate; more is refused as garbage
_NEED = object()  # "more bytes needed" (None is a RESP value: the null)


class RespError(ValueError):
    """Bytes that are not RESP (the message says which byte and why)."""


class Error(str):
    """A RESP error reply (``-ERR ...`` or a bulk error ``!``)."""


class Push(list):
    """A RESP3 out-of-band push (``>``), e.g. a pub/sub message."""


class Attribute(dict):
    """RESP3 attributes (``|``) that precede a reply."""


class Verbatim(NamedTuple):
    """A RESP3 verbatim string: a three-letter format (``txt``, ``mkd``) and its text."""

    format: str
    text: bytes


class Inline(list):
    """An inline command: a line of words without RESP framing (``PING``)."""


def _line(buf, pos):
    end = buf.find(b"\r\n", pos)
    if end < 0:
        if len(buf) - pos > MAX_LINE:
            raise RespError(f"no CRLF within {MAX_LINE} bytes at offset {pos}")
        return _NEED, pos
    return buf[pos:end], end + 2


def _int(text, pos):
    try:
        return int(text)
    except ValueError:
        raise RespError(f"expected an integer at offset {pos}, got {bytes(text)[:40]!r}") from None


def _bulk(buf, pos, start):
    text, pos = _line(buf, pos)
    if text is _NEED:
        return _NEED, pos
    size = _int(text, start)
    if size == -1:
        return None, pos
    if not 0 <= size <= MAX_BULK:
        raise RespError(f"bulk length {size} at offset {start} is out of range")
    if len(buf) < pos + size + 2:
        return _NEED, pos
    if buf[pos + size:pos + size + 2] != b"\r\n":
        raise RespError(f"bulk string at offset {start} is not followed by CRLF")
    return bytes(buf[pos:pos + size]), pos + size + 2


def _aggregate(buf, pos, start, depth, pairs):
    text, pos = _line(buf, pos)
    if text is _NEED:
        return _NEED, pos
    count = _int(text, start)
    if count == -1:
        return None, pos
    if not 0 <= count <= MAX_ELEMENTS:
        raise RespError(f"aggregate length {count} at offset {start} is out of range")
    items = []
    for _ in range(count * (2 if pairs else 1)):
        value, pos = _parse(buf, pos, depth + 1)
        if value is _NEED:
            return _NEED, pos
        items.append(value)
    return items, pos


def _parse(buf, pos, depth=0):
    """One value from ``buf[pos:]``: ``(value, end)`` or ``(_NEED, pos)``."""
    if depth > MAX_NESTING:
        raise RespError(f"nesting deeper than {MAX_NESTING} at offset {pos}")
    if pos >= len(buf):
        return _NEED, pos
    kind, start = buf[pos:pos + 1], pos
    pos += 1
    if kind in (b"+", b"-", b":", b"_", b"#", b",", b"("):
        text, end = _line(buf, pos)
        if text is _NEED:
            return _NEED, start
        return _simple(kind, bytes(text), start), end
    if kind in (b"$", b"!", b"="):
        value, end = _bulk(buf, pos, start)
        if value is _NEED:
            return _NEED, start
        if kind == b"!" and value is not None:
            value = Error(value.decode("utf-8", "replace"))
        elif kind == b"=" and value is not None:
            value = Verbatim(value[:3].decode("ascii", "replace"), value[4:])
        return value, end
    if kind in (b"*", b"~", b">", b"%", b"|"):
        items, end = _aggregate(buf, pos, start, depth, kind in (b"%", b"|"))
        if items is _NEED:
            return _NEED, start
        if items is None:
            return None, end
        if kind in (b"%", b"|"):
            pairs = zip(items[0::2], items[1::2])
            made = {_hashable(k): v for k, v in pairs}
            if kind == b"|":  # attributes come before the reply they describe
                reply, end = _parse(buf, end, depth + 1)
                if reply is _NEED:
                    return _NEED, start
                return (Attribute(made), reply), end
            return made, end
        if kind == b">":
            return Push(items), end
        if kind == b"~":
            return set(map(_hashable, items)), end
        return items, end
    if depth:
        raise RespError(f"unknown RESP type byte {bytes(kind)!r} at offset {start}")
    text, end = _line(buf, start)  # an inline command
    if text is _NEED:
        return _NEED, start
    return Inline(bytes(text).split()), end


def _hashable(value):
    if isinstance(value, list):
        return tuple(_hashable(v) for v in value)
    if isinstance(value, (set, dict)):
        return repr(value)
    return value


def _simple(kind, text, start):
    if kind == b"+":
        return text.decode("utf-8", "replace")
    if kind == b"-":
        return Error(text.decode("utf-8", "replace"))
    if kind in (b":", b"("):
        return _int(text, start)
    if kind == b"_":
        return None
    if kind == b"#":
        if text not in (b"t", b"f"):
            raise RespError(f"boolean at offset {start} is {text!r}, not t or f")
        return text == b"t"
    try:
        return float(text)
    except ValueError:
        raise RespError(f"double at offset {start} is {text[:40]!r}") from None


def parse(buf, pos=0):
    """Read one message at ``buf[pos:]``: ``(value, end)``, or ``(None, None)`` if incomplete.

    Raises :class:`RespError` on bytes that are not RESP.
    """
    value, end = _parse(buf, pos)
    if value is _NEED:
        return None, None
    return value, end


def decode(message):
    """The value of one whole message (``RespError`` if it is not exactly one)."""
    value, end = parse(message)
    if end is None:
        raise RespError(f"incomplete RESP message ({len(message)} bytes)")
    if end != len(message):
        raise RespError(f"{len(message) - end} bytes after the end of the message")
    return value


def _show(value):
    if isinstance(value, bytes):
        text = value.decode("utf-8", "backslashreplace")
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\r", "\\r")\
            .replace("\n", "\\n") + '"'
    if value is None:
        return "(nil)"
    if isinstance(value, Error):
        return f"(error) {value}"
    if isinstance(value, bool):
        return "(true)" if value else "(false)"
    if isinstance(value, int):
        return f"(integer) {value}"
    if isinstance(value, float):
        return f"(double) {value!r}"
    if isinstance(value, str):
        return value
    if isinstance(value, Verbatim):
        return f"({value.format}) {_show(value.text)}"
    if isinstance(value, Inline):
        return "inline: " + " ".join(_show(v) for v in value)
    if isinstance(value, Push):
        return "push: [" + ", ".join(_show(v) for v in value) + "]"
    if isinstance(value, tuple) and len(value) == 2 and isinstance(value[0], Attribute):
        return f"|{_show(dict(value[0]))}| {_show(value[1])}"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_show(k)}: {_show(v)}" for k, v in value.items()) + "}"
    if isinstance(value, (set, frozenset)):
        return "set: {" + ", ".join(sorted(_show(v) for v in value)) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_show(v) for v in value) + "]"
    return repr(value)


def describe(message, limit=200):
    """One message as one readable line: a command as words, a reply like ``redis-cli``."""
    try:
        value = decode(message)
    except RespError as error:
        return f"(not RESP: {error})"
    if type(value) is list and value and all(isinstance(v, bytes) for v in value):
        text = " ".join(_show(v) if not v.isalnum() else v.decode() for v in value)
    else:
        text = _show(value)
    return text if len(text) <= limit else text[:limit] + "..."


def encode_command(*words):
    """A command as a RESP array of bulk strings (str words are UTF-8 encoded)."""
    parts = [f"*{len(words)}\r\n".encode()]
    for word in words:
        data = word.encode() if isinstance(word, str) else bytes(word)
        parts.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(parts)


class RespFramer:
    """Splits one direction of a RESP stream into whole messages, byte for byte."""

    name = "resp"

    def __init__(self):
        self._buf = bytearray()

    @property
    def pending(self):
        """Bytes received that do not yet make a whole message."""
        return len(self._buf)

    def feed(self, data):
        """Add bytes; return the complete messages (``RespError`` on garbage)."""
        self._buf += data
        messages = []
        pos = 0
        buf = self._buf
        try:
            while pos < len(buf):
                value, end = _parse(buf, pos)
                if value is _NEED:
                    break
                messages.append(bytes(buf[pos:end]))
                pos = end
        except RespError as error:
            error.messages = messages  # whole messages before the garbage are not lost
            raise
        finally:
            if pos:
                del buf[:pos]
        return messages

    def drain(self):
        """Take the pending bytes (after an error, to pass them on unframed)."""
        data, self._buf = bytes(self._buf), bytearray()
        return data

    def describe(self, message):
        """A message as one readable line."""
        return describe(message)
