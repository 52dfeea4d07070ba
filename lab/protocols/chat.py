"""A line chat room as a pure core: lines in, deliveries out; no sockets.

Members are opaque ids chosen by the caller (the Twisted adapter uses one
per connection).  Each call returns a list of :class:`Delivery` values
saying which members get which line, so the adapter only writes them and
tests need no network::

    room = ChatRoom()
    room.join(1)          # [Delivery((1,), '* welcome, guest1. ...')]
    room.line(1, "/nick ada")  # ... Delivery((2, 3), '* ada joined')
    room.line(1, "hello") # [Delivery((2, 3), '<ada> hello')]

Commands: ``/nick NAME``, ``/who``, ``/me ACTION``, ``/help``, ``/quit``.
"""

import re
from typing import NamedTuple

__all__ = ["Delivery", "ChatRoom", "ChatDecoder", "NICK_PATTERN", "HELP"]

NICK_PATTERN = re.compile(r"[A-Za-z][A-Za-z0-9_\-]{0,15}\Z")
HELP = "* commands: /nick NAME, /who, /me ACTION, /help, /quit; anything else is said to the room"


class Delivery(NamedTuple):
    """One line to send to some members; ``close`` asks to hang up on them afterwards."""

    to: tuple
    text: str
    close: bool = False


class ChatRoom:
    """Who is in the room, under which nickname, and what each line means."""

    def __init__(self, max_members=1000):
        self.max_members = max_members
        self.nicks = {}  # member -> nickname, in join order
        self.named = set()  # members who chose a nickname; only they are announced
        self._guests = 0

    def _others(self, member):
        return tuple(m for m in self.nicks if m != member)

    def join(self, member):
        """A member arrives: greet them (or turn them away when the room is full)."""
        if len(self.nicks) >= self.max_members:
            return [Delivery((member,), "* the room is full; try again later", close=True)]
        self._guests += 1
        nick = f"guest{self._guests}"
        self.nicks[member] = nick
        # Why no "joined" broadcast yet: announcing every guest costs a write per
        # member, and connections that never say anything would flood the room.
        welcome = f"* welcome, {nick}. /nick NAME to choose a name, /help for more"
        return [Delivery((member,), welcome)]

    def leave(self, member):
        """A member is gone: tell the others, if they ever chose a name."""
        nick = self.nicks.pop(member, None)
        if member not in self.named:
            return []
        self.named.discard(member)
        return [Delivery(self._others(member), f"* {nick} left")]

    def line(self, member, text):
        """A member sent one line: run the command, or say it to everyone else."""
        if member not in self.nicks:
            return []
        text = text.rstrip("\r")
        if text.startswith("/"):
            command, _, rest = text[1:].partition(" ")
            handler = getattr(self, f"_cmd_{command.lower()}", None)
            if handler is None:
                return [Delivery((member,), f"* unknown command /{command}; /help lists them")]
            return handler(member, rest.strip())
        if not text.strip():
            return []
        return [Delivery(self._others(member), f"<{self.nicks[member]}> {text}")]

    def too_long(self, member, limit):
        """A member sent a line longer than ``limit``: say why, and hang up."""
        return [Delivery((member,), f"* line longer than {limit} bytes; goodbye", close=True)]

    def _cmd_nick(self, member, name):
        if not NICK_PATTERN.match(name):
            return [Delivery((member,), "* a nickname is a letter then up to 15 letters, "
                                        "digits, '_' or '-'")]
        if name.lower() in (n.lower() for m, n in self.nicks.items() if m != member):
            return [Delivery((member,), f"* {name} is taken; choose another")]
        old, self.nicks[member] = self.nicks[member], name
        news = f"* {old} is now {name}" if member in self.named else f"* {name} joined"
        self.named.add(member)
        return [Delivery((member,), f"* you are now {name}"), Delivery(self._others(member), news)]

    def _cmd_who(self, member, _):
        return [Delivery((member,), "* here: " + ", ".join(self.nicks.values()))]

    def _cmd_me(self, member, action):
        return [Delivery(self._others(member), f"* {self.nicks[member]} {action}")]

    def _cmd_help(self, member, _):
        return [Delivery((member,), HELP)]

    def _cmd_quit(self, member, _):
        return [Delivery((member,), "* bye", close=True)]


class ChatDecoder:
    """Turns captured chat bytes into readable lines for the conversation view.

    ``feed(direction, data)`` returns one string per complete line;
    a partial line waits (at most ``max_pending`` bytes, then it is shown cut).
    """

    def __init__(self, max_pending=4096):
        self.max_pending = max_pending
        self._pending = {"in": b"", "out": b""}

    def feed(self, direction, data):
        """Lines completed by ``data`` in ``direction`` (``"in"`` or ``"out"``)."""
        buffered = self._pending.get(direction, b"") + data
        *lines, rest = buffered.split(b"\n")
        if len(rest) > self.max_pending:
            lines.append(rest[:self.max_pending] + b"...")
            rest = b""
        self._pending[direction] = rest
        return [self._describe(direction, line.rstrip(b"\r")) for line in lines]

    @staticmethod
    def _describe(direction, line):
        text = line.decode("utf-8", "replace")
        if direction == "in" and text.startswith("/"):
            return f"command {text}"
        return f"says {text}" if direction == "in" else f"room {text}"
