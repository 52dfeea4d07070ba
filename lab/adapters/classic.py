"""Twisted's classic small services (RFC 863, 867, 865, 868) as lab server factories.

The protocols come from ``twisted.protocols.wire``.  Two of them need
fixing on Python 3 (Twisted 26.10): ``Daytime`` adds a str to bytes and
raises ``TypeError`` on every connection, and ``Time`` sends seconds since
1970 where RFC 868 counts from 1900.  The subclasses here fix both.
"""

import struct
import time

from twisted.internet.protocol import Factory
from twisted.protocols import wire

__all__ = ["discard_factory", "daytime_factory", "qotd_factory", "time_factory",
           "QuoteOfTheDay", "Daytime", "Time"]

DEFAULT_QUOTE = "An apple a day keeps the doctor away."


def _factory(protocol):
    factory = Factory.forProtocol(protocol)
    factory.noisy = False
    return factory


def discard_factory():
    """RFC 863 discard: reads everything, answers nothing."""
    return _factory(wire.Discard)


class Daytime(wire.Daytime):
    """RFC 867 daytime, encoded as ASCII before it is written."""

    def connectionMade(self):
        """Send the UTC date and time as one line, then close."""
        self.transport.write(time.asctime(time.gmtime()).encode("ascii") + b"\r\n")
        self.transport.loseConnection()


class Time(wire.Time):
    """RFC 868 time, counted from 1900 as the RFC says."""

    SECONDS_1900_TO_1970 = 2_208_988_800

    def connectionMade(self):
        """Send the seconds since 1900 as an unsigned 32-bit number, then close."""
        seconds = (int(time.time()) + self.SECONDS_1900_TO_1970) % 2**32
        self.transport.write(struct.pack("!I", seconds))
        self.transport.loseConnection()


def daytime_factory():
    """RFC 867 daytime: sends the date and time as text, then closes."""
    return _factory(Daytime)


def time_factory():
    """RFC 868 time: sends seconds since 1900 as 4 big-endian bytes, then closes."""
    return _factory(Time)


class QuoteOfTheDay(wire.QOTD):
    """RFC 865 quote of the day, with the quote taken from the factory."""

    def getQuote(self):
        """The factory's quote, as a CRLF-ended line of bytes."""
        return self.factory.quote.encode("utf-8") + b"\r\n"


def qotd_factory(quote=DEFAULT_QUOTE):
    """RFC 865 quote of the day: sends one quote, then closes."""
    factory = _factory(QuoteOfTheDay)
    factory.quote = str(quote)
    return factory
