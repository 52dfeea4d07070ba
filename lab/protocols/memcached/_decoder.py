"""Decode captured memcached traffic into commands and replies a person can read.

The traffic view makes one decoder per connection and calls
``feed(direction, data)`` with ``"in"`` (client to server) or ``"out"``
bytes as they were captured; each call returns the lines it could complete.
Client bytes go through the real :class:`Parser` (so framing is exactly the
server's); server bytes are framed with the lengths their own lines carry.
"""

from lab.protocols.memcached._events import NEED_DATA, Closed
from lab.protocols.memcached._parser import Parser

__all__ = ["ConversationDecoder"]

_MAX_PREVIEW = 40
_MAX_REPLY_BUFFER = 2 * 1024 * 1024  # a reply line or value larger than this is shown as raw


def reply_data_size(words: list[bytes]) -> int | None:
    """The size of the data block a reply line announces (``VALUE``, ``VA``), split in ``words``.

    None when the line announces none.  The conversation decoder and the proxy's reply framer
    both cut a reply's value with it.
    """
    if words[0] == b"VALUE" and len(words) >= 4 and words[3].isdigit():
        return int(words[3])
    if words[0] == b"VA" and len(words) >= 2 and words[1].isdigit():
        return int(words[1])
    return None


def _preview(data):
    text = data[:_MAX_PREVIEW].decode("utf-8", "backslashreplace")
    return repr(text + ("..." if len(data) > _MAX_PREVIEW else ""))


class ConversationDecoder:
    """Turns one connection's bytes into lines like ``-> set k flags=0 ... (2 bytes)``."""

    def __init__(self, item_size_max=64 * 1024 * 1024):
        # A generous item size: the decoder shows what was sent, it does not enforce limits.
        self._parser = Parser(item_size_max=item_size_max)
        self._out = b""
        self._value = None  # (header text, bytes still expected) while reading a VALUE/VA block

    def feed(self, direction, data):
        """Decode more bytes in ``direction`` ("in" or "out"); return readable lines."""
        if direction == "in":
            return self._feed_in(data)
        if direction == "out":
            return self._feed_out(data)
        raise ValueError(f"direction must be 'in' or 'out', not {direction!r}")

    def _feed_in(self, data):
        self._parser.receive_data(data)
        lines = []
        while True:
            event = self._parser.next_event()
            if event is NEED_DATA:
                return lines
            lines.append("-> " + event.describe())
            if type(event) is Closed:
                return lines

    def _feed_out(self, data):
        self._out += data
        lines = []
        while True:
            line = self._next_reply()
            if line is None:
                break
            lines.append("<- " + line)
        if len(self._out) > _MAX_REPLY_BUFFER:
            lines.append(f"<- ({len(self._out)} bytes not decoded)")
            self._out, self._value = b"", None
        return lines

    def _next_reply(self):
        if self._value is not None:
            header, size = self._value
            if len(self._out) < size + 2:
                return None
            block, self._out = self._out[:size], self._out[size + 2:]
            self._value = None
            return f"{header} = {_preview(block)}"
        end = self._out.find(b"\r\n")
        if end < 0:
            return None
        line, self._out = self._out[:end], self._out[end + 2:]
        return self._reply_line(line)

    def _reply_line(self, line):
        text = line.decode("utf-8", "backslashreplace")
        size = reply_data_size(line.split(b" "))
        if size is not None:
            self._value = (text, size)
            return self._next_reply()
        return text
