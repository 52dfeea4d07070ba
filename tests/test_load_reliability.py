"""Reliability on a real reactor: 1,000 concurrent connections, stalled clients, freed ports."""

import hashlib
import os
import resource
import threading

import pytest
from twisted.internet.protocol import Factory, Protocol

import lab
from lab.model import load_test

pytestmark = pytest.mark.reactor

CONNECTIONS = 1000
STALLED = 500


@pytest.fixture(scope="module", autouse=True)
def enough_descriptors():
    """Raise the soft descriptor limit if 1,000 connections (2,000 sockets here) would not fit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = min(hard, 8192)
    if soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    if wanted < 3 * CONNECTIONS:
        pytest.skip(f"only {wanted} file descriptors allowed; 1,000 connections need about 3,000")
    yield
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


@pytest.fixture
def cleanup(lab_reactor):
    """Stop every listener a test started."""
    yield
    lab.model.stop_all()


class Gate:
    """Holds echo replies back until opened (in the reactor thread)."""

    def __init__(self):
        self.opened, self.waiting = False, []

    def open(self):
        self.opened = True
        for protocol in self.waiting:
            protocol.release()
        self.waiting.clear()


class GatedEcho(Protocol):
    """An echo that keeps everything until its factory's gate opens."""

    def connectionMade(self):
        self.held = []
        if not self.factory.gate.opened:
            self.factory.gate.waiting.append(self)

    def dataReceived(self, data):
        if self.factory.gate.opened:
            self.transport.write(data)
        else:
            self.held.append(data)

    def release(self):
        self.transport.write(b"".join(self.held))


def random_payload(client, request):
    """1 to 4,096 random bytes, different for every request."""
    return os.urandom(1 + (client * 7919 + request * 104729) % 4096)


def test_a_thousand_concurrent_echo_connections_get_every_byte_back(cleanup):
    """1,000 connections open at once echo random payloads intact (SHA-256 per connection)."""
    echo = lab.listen("echo", name="reliable-echo")
    report = load_test(echo, connections=CONNECTIONS, requests=3, payload=random_payload,
                       verify=True, timeout=120)
    assert (CONNECTIONS, 3 * CONNECTIONS, 0) == (report.peak_open, report.requests, report.errors)
    assert report.bytes_sent == report.bytes_received == echo.capture.bytes_in
    assert echo.capture.wait_for(lambda c: c.open_count == 0, timeout=30)
    mismatched = [c.id for c in echo.capture.connections()
                  if hashlib.sha256(echo.capture.stream(c.id, "in")).digest()
                  != hashlib.sha256(echo.capture.stream(c.id, "out")).digest()]
    assert (CONNECTIONS, []) == (len(echo.capture.connections()), mismatched)


def test_listeners_and_the_kernel_answer_while_a_thousand_connections_wait(cleanup):
    """With 1,000 connections holding data in flight, other listeners and the bridge answer."""
    factory = Factory.forProtocol(GatedEcho)
    factory.gate = Gate()
    held = lab.listen(factory, name="held")
    other = lab.listen("echo", name="other")
    outcome = {}
    runner = threading.Thread(target=lambda: outcome.update(report=load_test(
        held, connections=CONNECTIONS, requests=1, payload=b"x" * 100, verify=True,
        timeout=120)))
    runner.start()
    try:
        assert held.capture.wait_for(lambda c: c.bytes_in == 100 * CONNECTIONS, timeout=60)
        client = lab.connect(other)
        client.send(b"still here\n")
        assert b"still here\n" == client.read_until(b"\n")
        client.close()
        assert CONNECTIONS == lab.call(lambda: len(factory.gate.waiting))
        assert CONNECTIONS <= len(lab.reactor_state().connections) // 2
    finally:
        lab.call(factory.gate.open)
        runner.join(120)
    assert (CONNECTIONS, 0) == (outcome["report"].requests, outcome["report"].errors)


def test_stalled_partial_lines_do_not_starve_other_clients(cleanup):
    """500 clients that send half a line and stall leave the chat room working for everyone else."""
    chat = lab.listen("chat", name="stalled-chat", max_members=STALLED + 10)
    stalled = [lab.connect(chat) for _ in range(STALLED)]
    for client in stalled:
        client.send(b"I never finish this line")
    ada, bob = lab.connect(chat), lab.connect(chat)
    bob.read_until(b"\r\n")
    bob.send("/nick bob\n")
    bob.read_until(b"you are now bob\r\n")
    ada.send("/nick ada\nhello from ada\n")
    assert b"<ada> hello from ada\r\n" in bob.read_until(b"<ada> hello from ada\r\n", timeout=10)
    assert chat.capture.wait_for(lambda c: c.bytes_in >= STALLED * 24)
    assert STALLED + 2 == chat.capture.open_count
    for client in stalled + [ada, bob]:
        client.close()


def test_stopping_a_busy_listener_frees_its_port(cleanup):
    """A listener stopped with 200 open connections drops them and frees its port."""
    echo = lab.listen("echo", name="busy")
    clients = [lab.connect(echo) for _ in range(200)]
    echo.stop()
    again = lab.listen("echo", f"tcp:{echo.port}", name="busy-again")
    assert echo.port == again.port
    assert echo.capture.wait_for(lambda c: not any(client.is_open for client in clients))
    probe = lab.connect(again)
    probe.send(b"ok")
    assert b"ok" == probe.read_until(b"ok")
    probe.close()
