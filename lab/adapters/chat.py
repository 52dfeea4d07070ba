"""The chat room on Twisted: a LineReceiver per member, one ChatRoom per listener."""

from itertools import count

from twisted.internet.interfaces import IPushProducer
from twisted.internet.protocol import Factory
from twisted.protocols.basic import LineReceiver
from zope.interface import implementer

from lab._checks import checked_count
from lab.protocols.chat import ChatDecoder, ChatRoom

__all__ = ["ChatProtocol", "ChatFactory", "ChatDecoder", "DEFAULT_MAX_LINE"]

DEFAULT_MAX_LINE = 512
MAX_LINE_LIMIT = 1024 * 1024
MAX_MEMBERS_LIMIT = 100_000


@implementer(IPushProducer)
class ChatProtocol(LineReceiver):
    """One member's connection: lines in go to the room, the room's lines come out.

    A member that does not read would make the room's lines to it pile up in
    memory.  The member is its connection's producer: when the lines waiting
    for it pass the transport's buffer size, Twisted pauses it; while paused
    the room stops reading its lines and drops the lines *to* it (counted),
    and when it catches up it is told how many it missed.  Only that member
    loses anything.
    """

    delimiter = b"\n"  # also accepts "\r\n": the room strips the "\r"
    missed = 0

    def connectionMade(self):
        """Join the room, as the producer of this connection's lines."""
        self.member = next(self.factory.ids)
        self.factory.members[self.member] = self
        self.transport.registerProducer(self, True)
        self.factory.send(self.factory.room.join(self.member))

    def pauseProducing(self):
        """Lines to this member are not being read: stop reading and start dropping."""
        LineReceiver.pauseProducing(self)  # sets ``paused`` and stops reading

    def resumeProducing(self):
        """The member caught up: say what it missed, and read (buffered lines first) again."""
        missed, self.missed = self.missed, 0
        if missed:
            self.sendLine(f"* {missed} lines to you were dropped while you were not "
                          "reading".encode())
        LineReceiver.resumeProducing(self)

    def stopProducing(self):
        """The connection is closing; nothing to do."""

    def sendLine(self, line):
        """Send one line ending in CRLF, as telnet and nc -C expect."""
        return self.transport.write(line + b"\r\n")

    def lineReceived(self, line):
        """Hand the line to the room and send what it says."""
        self.factory.send(self.factory.room.line(self.member, line.decode("utf-8", "replace")))

    def lineLengthExceeded(self, line):
        """A line past the bound: say so and hang up, so a flood cannot grow memory."""
        self.factory.send(self.factory.room.too_long(self.member, self.MAX_LENGTH))

    def connectionLost(self, reason):
        """Leave the room."""
        if self.factory.members.pop(self.member, None) is not None:
            self.factory.send(self.factory.room.leave(self.member))


class ChatFactory(Factory):
    """Builds chat members for one room; ``max_line`` bounds a line, ``max_members`` the room."""

    protocol = ChatProtocol
    noisy = False

    def __init__(self, max_line=DEFAULT_MAX_LINE, max_members=1000):
        self.max_line = checked_count(max_line, "max_line", 1, MAX_LINE_LIMIT, DEFAULT_MAX_LINE)
        max_members = checked_count(max_members, "max_members", 1, MAX_MEMBERS_LIMIT, 1000)
        self.room = ChatRoom(max_members=max_members)
        self.members = {}
        self.ids = count(1)

    def buildProtocol(self, addr):
        """A member whose LineReceiver refuses lines longer than ``max_line``."""
        member = Factory.buildProtocol(self, addr)
        member.MAX_LENGTH = self.max_line
        return member

    def send(self, deliveries):
        """Write each delivery to its members, hanging up where asked."""
        for delivery in deliveries:
            line = delivery.text.encode("utf-8")
            for member in delivery.to:
                target = self.members.get(member)
                if target is not None and target.paused and not delivery.close:
                    target.missed += 1
                elif target is not None:
                    target.sendLine(line)
                    if delivery.close:
                        target.transport.loseConnection()
