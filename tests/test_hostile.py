"""Hostile clients: never-reading senders and a burst of connects, against the lab's own servers.

Each test states the memory bound it checks (growth of this process's RSS,
where the reactor and the servers run) and checks that a well-behaved client
still gets its answers.  No timing thresholds: generous limits only bound a
hang.  Everything is on 127.0.0.1.
"""

import pytest
from twisted.internet.protocol import Protocol

import lab
from tests.hostile import Flood, burst, listen_backlog, rss
from tests.polling import eventually

pytestmark = pytest.mark.reactor

MiB = 1024 * 1024
# Capture ring of 4 MiB, 8 attackers; the lab holds at most ~64 KiB + one
# read per paused connection, so 48 MiB leaves room for the allocator.
RSS_BOUND = 48 * MiB
LINES = (b"y" * 100 + b"\n") * 600


@pytest.fixture
def cleanup(lab_reactor):
    """Stop every listener a test started."""
    yield
    lab.model.stop_all()


def _good_client_answered(listener, send, expect):
    client = lab.connect(listener)
    try:
        client.send(send)
        return expect in client.read_until(expect, timeout=10)
    finally:
        client.close()


def test_echo_stops_reading_from_clients_that_never_read(cleanup):
    """Eight never-reading echo clients grow RSS by under 48 MiB, others get echoes, no byte is lost."""
    echo = lab.listen("echo", max_bytes=4 * MiB)
    before = rss()
    flood = Flood(echo.port, 8, b"z" * 65536)
    try:
        sent = flood.until_stalled()
        assert max(sent) < 64 * MiB, "echo kept reading from a client that never reads"
        assert rss() - before < RSS_BOUND
        assert _good_client_answered(echo, b"ping\n", b"ping\n")
        assert 8 == echo.capture.limited
        assert "reading paused" in echo.capture.limits[0].what
        assert sent == flood.drain(sent), "the echo must resume and return every byte"
    finally:
        flood.close()


def test_chat_drops_lines_to_members_that_never_read_and_says_so(cleanup):
    """Never-reading chat members cost under 48 MiB; others chat on; a paused member hears what it missed."""
    chat = lab.listen("chat", max_bytes=4 * MiB)
    before = rss()
    flood = Flood(chat.port, 8, LINES)
    try:
        flood.until_stalled(cap=8 * MiB)
        assert eventually(lambda: chat.capture.limited >= 1, limit=30)
        assert rss() - before < RSS_BOUND
        assert _good_client_answered(chat, b"/who\n", b"* here:")
        paused = chat.capture.limits[0].connection - 1  # connection ids count from 1
        assert b"lines to you were dropped while you were not reading" in flood.read_some(paused)
    finally:
        flood.close()


class Amplifier(Protocol):
    """A user's protocol that answers every chunk with four copies of it (no producer of its own)."""

    def dataReceived(self, data):
        """Reply four times as much."""
        self.transport.write(data * 4)


def test_wiretap_applies_back_pressure_to_a_user_protocol(cleanup):
    """A user protocol with no flow control of its own stays under 48 MiB behind the wiretap."""
    listener = lab.listen(Amplifier, max_bytes=4 * MiB)
    before = rss()
    flood = Flood(listener.port, 8, b"a" * 65536)
    try:
        sent = flood.until_stalled()
        assert max(sent) < 64 * MiB
        assert rss() - before < RSS_BOUND
        assert _good_client_answered(listener, b"hi", b"hihihihi")
        assert 4 * sum(sent) == sum(flood.drain([4 * n for n in sent]))
    finally:
        flood.close()


class Firehose(Protocol):
    """A user's protocol that writes 64 KiB every few milliseconds whether or not anyone reads."""

    def connectionMade(self):
        """Start writing on a timer."""
        from twisted.internet.task import LoopingCall

        self.timer = LoopingCall(self.transport.write, b"f" * 65536)
        self.timer.start(0.002)

    def connectionLost(self, reason):
        """Stop the timer."""
        if self.timer.running:
            self.timer.stop()


def test_a_protocol_writing_unprompted_to_a_paused_peer_loses_that_connection_only(cleanup):
    """Past 1 MiB held for a peer that does not read, the wiretap drops that connection and says why."""
    listener = lab.listen(Firehose, max_bytes=4 * MiB)
    before = rss()
    flood = Flood(listener.port, 4, b"")
    try:
        capture = listener.capture
        assert eventually(lambda: (capture.connection_count, capture.open_count) == (4, 0),
                          limit=30)
        assert rss() - before < RSS_BOUND
        reasons = {c.reason for c in listener.capture.connections()}
        assert all(r.startswith("dropped: the peer read nothing") for r in reasons), reasons
        assert any("connection dropped" in note.what for note in listener.capture.limits)
    finally:
        flood.close()


def test_a_burst_of_1000_connections_is_accepted_with_a_real_backlog(cleanup):
    """1,000 clients connecting at once all get their echo, the kernel reports the 1024 backlog, RSS grows under 48 MiB."""
    echo = lab.listen("echo", capture=False)
    assert [1024] == listen_backlog(echo.port)
    before = rss()
    assert 1000 == burst(echo.port, 1000)
    assert rss() - before < RSS_BOUND
    assert _good_client_answered(echo, b"after\n", b"after\n")


def test_backlog_is_an_option(cleanup):
    """listen(backlog=...) and the endpoint's backlog= both set the kernel's listen queue."""
    one = lab.listen("echo", backlog=200, name="b1")
    two = lab.listen("echo", "tcp:0:backlog=300", name="b2")
    assert ([200], [300]) == (listen_backlog(one.port), listen_backlog(two.port))
    with pytest.raises(lab.EndpointError, match="give it once"):
        lab.listen("echo", "tcp:0:backlog=300", backlog=200, name="b3")


class Sender(Protocol):
    """A user's protocol that streams 3 MB with Twisted's FileSender (a pull producer), then hangs up."""

    def connectionMade(self):
        """Start the transfer."""
        import io

        from twisted.protocols.basic import FileSender

        done = FileSender().beginFileTransfer(io.BytesIO(b"s" * 3_000_000), self.transport)
        done.addCallback(lambda _: self.transport.loseConnection())


def test_a_pull_producer_behind_the_wiretap_still_streams_everything(cleanup):
    """A protocol that registers its own (pull) producer gets every byte through, and so does the next one."""
    listener = lab.listen(Sender)
    for _ in range(2):
        client = lab.connect(listener)
        received = b""
        while client.is_open or received == b"":
            chunk = client.read(timeout=10)
            if not chunk:
                break
            received += chunk
        received += client.read(timeout=0.5)
        assert 3_000_000 == len(received)
        client.close()
