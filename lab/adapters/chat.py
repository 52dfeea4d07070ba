"""The chat room on Twisted: a LineReceiver per member, one ChatRoom per listener."""

from itertools import count

from twisted.internet.protocol import Factory
from twisted.protocols.basic import LineReceiver

from lab.protocols.chat import ChatDecoder, ChatRoom

__all__ = ["ChatProtocol", "ChatFactory", "ChatDecoder", "DEFAULT_MAX_LINE"]

DEFAULT_MAX_LINE = 512


class ChatProtocol(LineReceiver):
    """One member's connection: lines in go to the room, the room's lines come out."""

    delimiter = b"\n"  # also accepts "\r\n": the room strips the "\r"

    def connectionMade(self):
        """Join the room."""
        self.member = next(self.factory.ids)
        self.factory.members[self.member] = self
        self.factory.send(self.factory.room.join(self.member))

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
        self.max_line = int(max_line)
        self.room = ChatRoom(max_members=int(max_members))
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
                if target is not None:
                    target.sendLine(line)
                    if delivery.close:
                        target.transport.loseConnection()
