"""The shout exercise's checker tells a naive server what is wrong and passes a correct one."""

import pytest
from twisted.internet.protocol import Factory, Protocol
from twisted.protocols.basic import NetstringReceiver

import lab
from lab.exercises import check_shout, netstring

pytestmark = pytest.mark.reactor


class CorrectShout(NetstringReceiver):
    """A shout server as the exercise asks."""

    MAX_LENGTH = 1000

    def stringReceived(self, string):
        command, _, argument = string.partition(b":")
        replies = {b"PING": b"PONG", b"UPPER": b"OK:" + argument.upper(),
                   b"REVERSE": b"OK:" + argument[::-1]}
        self.sendString(replies.get(command, b"ERR:unknown command " + command))


class NaiveShout(Protocol):
    """The classic first attempt: one dataReceived call taken as one request."""

    def dataReceived(self, data):
        body = data.partition(b":")[2][:-1]
        command, _, argument = body.partition(b":")
        reply = b"PONG" if command == b"PING" else b"OK:" + argument.upper()
        self.transport.write(netstring(reply))


@pytest.fixture
def serve(lab_reactor):
    """Start a listener for a protocol class; stop it after the test."""
    started = []

    def start(protocol):
        listener = lab.listen(Factory.forProtocol(protocol), "tcp:0")
        started.append(listener)
        return listener

    yield start
    for listener in started:
        listener.stop()


def test_correct_server_passes_every_check(serve):
    """A NetstringReceiver answering every command passes all checks."""
    report = check_shout(serve(CorrectShout))
    assert report.passed, str(report)


def test_naive_server_is_told_about_framing_and_bounds(serve):
    """The naive server fails the framing and bound checks, each with a hint naming the fix."""
    report = check_shout(serve(NaiveShout))
    failed = {r.name: r.hint for r in report.failures}
    assert "two requests in one segment" in failed
    assert "a request split across segments" in failed
    assert "an oversized frame closes" in failed
    assert "NetstringReceiver" in failed["two requests in one segment"]
    assert "MAX_LENGTH" in failed["an oversized frame closes"]
    assert "answers PING" not in failed


def test_report_shows_as_a_table_with_a_summary(serve):
    """The report's HTML has the pass count and a row per check."""
    page = check_shout(serve(CorrectShout))._repr_html_()
    assert "8/8 passed" in page and page.count("<tr>") == 9


def test_bad_target_says_what_to_pass():
    """Passing something that is not a listener or address explains what is expected."""
    with pytest.raises(TypeError, match="listener"):
        check_shout("localhost")


def test_the_checker_gives_the_same_verdicts_in_a_simulation():
    """In a simulation, the naive server fails exactly the checks it fails over sockets, and the correct one passes."""
    naive = check_shout(Factory.forProtocol(NaiveShout), simulation=True)
    failed = {r.name for r in naive.failures}
    assert {"two requests in one segment", "a request split across segments",
            "an oversized frame closes", "a malformed frame closes"} <= failed
    assert "answers PING" not in failed and "in a simulation" in naive.target
    assert check_shout(Factory.forProtocol(CorrectShout), simulation=True).passed


def test_one_byte_fragments_break_the_naive_server_every_time():
    """With fragment=1 even PING fails for the naive server, identically on every run; the correct one passes."""
    reports = [check_shout(Factory.forProtocol(NaiveShout), simulation=lab.simulation(fragment=1))
               for _ in range(2)]
    assert str(reports[0]) == str(reports[1])
    assert "answers PING" in {r.name for r in reports[0].failures}
    assert "1-byte pieces" in reports[0].target
    assert check_shout(Factory.forProtocol(CorrectShout),
                       simulation=lab.simulation(fragment=1)).passed


def test_a_simulated_listener_is_checked_in_its_own_simulation():
    """check_shout(sim_listener) runs the checks in that listener's simulation, whose log shows them."""
    sim = lab.simulation(seed=4)
    listener = sim.listen(Factory.forProtocol(CorrectShout), 7000)
    assert check_shout(listener).passed
    assert any(entry.host == "checker" for entry in sim.log)


def test_simulation_needs_a_plugin_or_factory_not_an_address():
    """An address with simulation= says to pass the plugin name instead."""
    with pytest.raises(TypeError, match="plugin name"):
        check_shout(("127.0.0.1", 1), simulation=True)
