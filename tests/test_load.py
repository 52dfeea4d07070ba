"""load_test(): many concurrent clients from the reactor, throughput, latency and errors."""

import os

import pytest
from twisted.internet.protocol import Factory, Protocol

import lab
from lab.adapters.echo import EchoFactory
from lab.model import load_test

pytestmark = pytest.mark.reactor


class HangUp(Protocol):
    """Closes every connection as soon as it opens."""

    def connectionMade(self):
        self.transport.loseConnection()


class Mangler(Protocol):
    """Echoes everything upper-cased."""

    def dataReceived(self, data):
        self.transport.write(data.upper())


@pytest.fixture
def cleanup(lab_reactor):
    """Stop every listener a test started."""
    yield
    lab.model.stop_all()


def test_every_request_completes_with_percentiles(cleanup):
    """All connections x requests complete without error and the report has ordered percentiles."""
    listener = lab.listen(EchoFactory())
    report = load_test(listener, connections=50, requests=20, payload=b"ping\n", verify=True)
    assert (1000, 0, 50) == (report.requests, report.errors, report.peak_open)
    assert report.percentile(50) <= report.percentile(90) <= report.percentile(99)
    assert report.throughput > 0
    assert 5000 == report.bytes_sent == report.bytes_received


def test_progress_is_delivered_and_ends_at_the_total(cleanup):
    """The progress callback gets (done, total) pairs that end at total."""
    listener = lab.listen(EchoFactory())
    seen = []
    load_test(listener, connections=5, requests=10, progress=lambda d, t: seen.append((d, t)))
    assert (50, 50) == seen[-1]
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)


def test_wrong_replies_count_as_errors_when_verifying(cleanup):
    """With verify=True a reply that differs from the request counts as a mismatch."""
    listener = lab.listen(Factory.forProtocol(Mangler))
    report = load_test(listener, connections=2, requests=3, payload=b"abc", verify=True)
    assert (6, 6) == (report.mismatches, report.errors)


def test_delimiter_marks_the_end_of_a_reply(cleanup):
    """With until= a reply is complete at the delimiter, whatever its length."""
    listener = lab.listen(Factory.forProtocol(Mangler))
    report = load_test(listener, connections=3, requests=4, payload="hi\n", until=b"\n")
    assert (12, 0) == (report.requests, report.errors)


def test_a_server_that_hangs_up_shows_as_errors(cleanup):
    """Connections the server drops are reported as errors with a sample message."""
    listener = lab.listen(Factory.forProtocol(HangUp))
    report = load_test(listener, connections=4, requests=2)
    assert 4 == report.errors
    assert "connection lost after" in report.error_samples[0]


def test_refused_connections_are_errors_not_exceptions(cleanup):
    """Load against a port where nothing listens reports connect errors."""
    listener = lab.listen(EchoFactory())
    port = listener.port
    listener.stop()
    report = load_test(port, connections=3, requests=1)
    assert (0, 3) == (report.requests, report.errors)
    assert "could not connect" in report.error_samples[0]


def test_random_payloads_come_back_intact(cleanup):
    """Per-request random payloads are echoed byte for byte (verified)."""
    listener = lab.listen(EchoFactory())
    report = load_test(listener, connections=20, requests=5, verify=True,
                       payload=lambda client, request: os.urandom(1 + client * 37 + request))
    assert (100, 0) == (report.requests, report.mismatches)
