"""Timeouts tell the truth, protocol errors are recorded on every transport, pcaps never clobber."""

import math
import os
import threading

import pytest
from twisted.internet import defer
from twisted.internet.protocol import DatagramProtocol, Protocol

import lab
from tests.polling import eventually

pytestmark = pytest.mark.reactor


@pytest.fixture
def cleanup(lab_reactor):
    """Stop every listener a test started."""
    yield
    lab.model.stop_all()


def _busy_reactor(seconds_gate):
    """Block the reactor thread until ``seconds_gate`` is set (or 10 s pass)."""
    lab.submit(seconds_gate.wait, 10)


def test_work_that_did_not_start_before_its_timeout_never_runs(lab_reactor):
    """A call queued behind a busy reactor times out as 'did not start', and never runs later."""
    gate, ran = threading.Event(), []
    _busy_reactor(gate)
    with pytest.raises(lab.LabTimeout, match="will not run") as raised:
        lab.call(ran.append, "sent twice?", timeout=0.2)
    assert raised.value.started is False
    gate.set()
    lab.call(lambda: None)  # the queue has drained past where the dropped call was
    assert [] == ran


def test_work_already_running_is_reported_as_still_running(lab_reactor):
    """A call whose work started and blocks is reported as still running, and does finish."""
    gate, finished = threading.Event(), threading.Event()

    def slow():
        gate.wait(10)
        finished.set()

    with pytest.raises(lab.LabTimeout, match="still running") as raised:
        lab.call(slow, timeout=0.2)
    assert raised.value.started is True
    assert "cancelled" not in str(raised.value)
    gate.set()
    assert finished.wait(10)


def test_lab_wait_on_a_handle_that_never_started_drops_it(lab_reactor):
    """await lab.wait(handle) that times out before the work starts drops it too."""
    import asyncio

    gate, ran = threading.Event(), []
    _busy_reactor(gate)
    handle = lab.submit(ran.append, 1)
    with pytest.raises(lab.LabTimeout, match="will not run"):
        asyncio.run(_await(lab.wait(handle, timeout=0.2)))
    gate.set()
    lab.call(lambda: None)
    assert [] == ran and handle.abandoned


async def _await(awaitable):
    return await awaitable


@pytest.mark.parametrize("timeout", [-1, math.inf, -math.inf, math.nan, None, "5", 1e12, True,
                                     [1]])
def test_bad_timeouts_are_refused_before_anything_is_submitted(lab_reactor, timeout):
    """Negative, infinite, NaN, None, huge and non-numeric timeouts raise at once, and nothing runs."""
    ran = []
    with pytest.raises((TypeError, ValueError), match="timeout"):
        lab.call(ran.append, 1, timeout=timeout)
    lab.call(lambda: None)
    assert [] == ran


def test_a_deferred_that_is_cancelled_on_timeout_says_so_honestly(lab_reactor):
    """Work waiting on a Deferred is reported as still running, its Deferred asked to cancel."""
    cancelled = threading.Event()
    with pytest.raises(lab.LabTimeout, match="asked to cancel"):
        lab.call(lambda: defer.Deferred(lambda d: cancelled.set()), timeout=0.1)
    assert cancelled.wait(5)


class BrokenDatagram(DatagramProtocol):
    """A UDP protocol whose datagramReceived raises."""

    def datagramReceived(self, data, addr):
        """Fail on every datagram."""
        raise ValueError("bad datagram " + data.decode())


def test_udp_datagram_received_errors_are_recorded(cleanup):
    """An exception in a UDP protocol's datagramReceived lands in capture.errors, and it serves on."""
    listener = lab.listen(BrokenDatagram(), "udp:0")
    client = lab.connect(listener)
    client.send(b"one")
    assert eventually(lambda: len(listener.capture.errors) == 1)
    error = listener.capture.errors[0]
    assert ("datagramReceived", "ValueError: bad datagram one") == (error.where, error.message)
    client.send(b"two")
    assert eventually(lambda: len(listener.capture.errors) == 2)
    client.close()


class BrokenGreeting(Protocol):
    """A protocol whose connectionMade raises."""

    def connectionMade(self):
        """Fail at once."""
        raise RuntimeError("no greeting")


def test_a_connection_whose_connection_made_raised_is_closed_and_recorded(cleanup):
    """connectionMade raising closes that connection (the client sees it) and records why."""
    listener = lab.listen(BrokenGreeting)
    client = lab.connect(listener)
    assert b"" == client.read(timeout=10) and not client.is_open
    assert eventually(lambda: listener.capture.open_count == 0)
    (error,) = listener.capture.errors
    assert ("connectionMade", "RuntimeError: no greeting") == (error.where, error.message)
    (conn,) = listener.capture.connections()
    assert "connectionMade raised RuntimeError" in conn.reason
    again = lab.connect(listener)  # the listener still accepts
    again.close()


def test_write_pcap_neither_follows_links_nor_overwrites_unless_asked(cleanup, tmp_path):
    """write_pcap refuses an existing file or a symlink; overwrite=True replaces the link, not its target."""
    listener = lab.listen("echo")
    client = lab.connect(listener)
    client.send(b"x")
    client.read_until(b"x")
    client.close()
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    link = tmp_path / "trap.pcap"
    link.symlink_to(victim)
    with pytest.raises(FileExistsError, match="overwrite=True"):
        listener.capture.write_pcap(link)
    dangling = tmp_path / "dangling.pcap"
    dangling.symlink_to(tmp_path / "nowhere")
    with pytest.raises(FileExistsError):
        listener.capture.write_pcap(dangling)
    assert not (tmp_path / "nowhere").exists()
    first = listener.capture.write_pcap(tmp_path / "first.pcap")
    with pytest.raises(FileExistsError):
        listener.capture.write_pcap(first)
    listener.capture.write_pcap(link, overwrite=True)
    assert "precious" == victim.read_text()
    assert not os.path.islink(link) and link.read_bytes()[:4] == first.read_bytes()[:4]
