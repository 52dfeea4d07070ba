"""Twisted's classic services (discard, daytime, qotd, time) as lab plugins."""

import struct
import time

import pytest

import lab

pytestmark = pytest.mark.reactor


@pytest.fixture
def cleanup(lab_reactor):
    """Stop every listener a test started."""
    yield
    lab.model.stop_all()


def everything(listener):
    """Connect, read until the server closes, and return all it sent."""
    client = lab.connect(listener)
    with pytest.raises(lab.model.ConnectionClosed):
        client.read_until(b"\x00never\x00", timeout=5)
    return client.read()


def test_qotd_sends_the_chosen_quote_and_closes(cleanup):
    """The qotd plugin sends the quote given as an option, then hangs up."""
    assert b"Simple is better.\r\n" == everything(lab.listen("qotd", quote="Simple is better."))


def test_daytime_sends_a_line_with_this_year(cleanup):
    """The daytime plugin sends one line naming the current year."""
    assert time.strftime("%Y").encode() in everything(lab.listen("daytime"))


def test_time_sends_four_bytes_of_seconds_since_1900(cleanup):
    """The time plugin sends a 32-bit count of seconds since 1900 close to now."""
    (seconds,) = struct.unpack("!I", everything(lab.listen("time")))
    assert abs(seconds - 2208988800 - time.time()) < 60


def test_discard_answers_nothing_but_counts_bytes(cleanup):
    """The discard plugin replies with nothing while the capture counts what it swallowed."""
    listener = lab.listen("discard")
    client = lab.connect(listener)
    client.send(b"into the void")
    assert listener.capture.wait_for(lambda c: c.bytes_in == 13)
    assert (b"", 0) == (client.read(timeout=0.1), listener.capture.bytes_out)
    client.close()


def test_an_exception_in_the_served_protocol_is_kept_for_the_views(cleanup):
    """Twisted's own Daytime raises on Python 3; the listener keeps the error, not just a log."""
    from twisted.internet.protocol import Factory
    from twisted.protocols.wire import Daytime

    listener = lab.listen(Factory.forProtocol(Daytime), name="broken-daytime")
    client = lab.connect(listener)
    assert listener.capture.wait_for(lambda c: len(c.errors) == 1)
    error = listener.capture.errors[0]
    assert ("connectionMade", 1) == (error.where, error.connection)
    assert error.message.startswith("TypeError")
    assert "wire.py" in error.traceback
    assert 1 == listener.stats()["errors"]
    client.close()
