"""Listeners: start, name, replace, stop, endpoints and their errors (real reactor, loopback)."""

import socket
import subprocess
import sys
import textwrap

import pytest

import lab
from lab.adapters.echo import EchoDatagram, EchoFactory
from lab.model import EndpointError, ListenError, RemoteNotAllowed

pytestmark = pytest.mark.reactor


@pytest.fixture
def cleanup(lab_reactor):
    """Stop every listener a test started."""
    yield
    lab.model.stop_all()


def free_to_bind(port):
    """True if a TCP socket can bind 127.0.0.1:port right now."""
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def echo_roundtrip(listener, payload=b"ping\n"):
    """Send ``payload`` through a fresh client and return what came back."""
    client = lab.connect(listener)
    try:
        client.send(payload)
        return client.read_until(payload[-1:])
    finally:
        client.close()


def test_factory_listener_binds_loopback_and_echoes(cleanup):
    """A factory listener binds 127.0.0.1 on a free port and its clients get their bytes back."""
    listener = lab.listen(EchoFactory())
    assert ("127.0.0.1", True) == (listener.host, listener.port > 0)
    assert b"hello\n" == echo_roundtrip(listener, b"hello\n")


def test_listener_counts_connections_and_bytes(cleanup):
    """The listener's stats count the connection and the bytes each way."""
    listener = lab.listen(EchoFactory(), name="counted")
    echo_roundtrip(listener, b"12345\n")
    assert listener.capture.wait_for(lambda c: c.open_count == 0)
    stats = listener.stats()
    counts = [stats[k] for k in ("connections", "open", "bytes_in", "bytes_out")]
    assert [1, 0, 6, 6] == counts


def test_udp_listener_echoes_datagrams(cleanup):
    """A DatagramProtocol listens on udp and each datagram comes back whole."""
    listener = lab.listen(EchoDatagram(), "udp:0")
    client = lab.connect(listener)
    client.send(b"one")
    client.send(b"two")
    assert [b"one", b"two"] == [client.read(), client.read()]
    client.close()
    assert "udp" == listener.transport


def test_listeners_lists_running_ones_by_name(cleanup):
    """lab.listeners() shows each running listener once, by name."""
    lab.listen(EchoFactory(), name="a")
    lab.listen(EchoFactory(), name="b")
    assert ["a", "b"] == sorted(l.name for l in lab.listeners())


def test_same_name_replaces_and_frees_the_port(cleanup):
    """Listening again under a running name stops the old listener and reuses its fixed port."""
    first = lab.listen(EchoFactory(), name="again")
    second = lab.listen(EchoFactory(), f"tcp:{first.port}", name="again")
    assert (False, True, first.port) == (first.running, second.running, second.port)
    assert [second] == [l for l in lab.listeners() if l.name == "again"]


def test_stop_frees_the_port_and_is_harmless_twice(cleanup):
    """After stop() the port can be bound again, and a second stop() does nothing."""
    listener = lab.listen(EchoFactory())
    port = listener.port
    assert not free_to_bind(port)
    listener.stop()
    listener.stop()
    assert free_to_bind(port)
    assert listener not in lab.listeners()


def test_stop_drops_open_connections(cleanup):
    """Stopping a listener closes the connections it still has."""
    listener = lab.listen(EchoFactory())
    client = lab.connect(listener)
    client.send(b"x")
    assert b"x" == client.read()
    listener.stop()
    with pytest.raises(lab.model.ConnectionClosed):
        client.read_until(b"never", timeout=5)
    assert not client.is_open


@pytest.mark.parametrize("endpoint, error", [
    ("tcp:abc", EndpointError),
    ("tcp:70000", EndpointError),
    ("tcp", EndpointError),
    ("bogus:1", EndpointError),
    ("", EndpointError),
    ("tcp:0:interface=0.0.0.0", RemoteNotAllowed),
    ("udp:0:interface=0.0.0.0", RemoteNotAllowed),
])
def test_bad_endpoints_raise_clear_errors_and_leave_others_working(cleanup, endpoint, error):
    """A bad or remote endpoint raises a clear LabError and a running listener keeps echoing."""
    survivor = lab.listen(EchoFactory(), name="survivor")
    with pytest.raises(error) as raised:
        lab.listen(EchoFactory(), endpoint, name="bad")
    assert isinstance(raised.value, lab.LabError)
    assert "e.g." in str(raised.value) or "allow_remote=True" in str(raised.value)
    assert b"ok\n" == echo_roundtrip(survivor, b"ok\n")


def test_allow_remote_listens_on_every_interface(cleanup):
    """With allow_remote=True a listener may bind 0.0.0.0 and still answers on loopback."""
    listener = lab.listen(EchoFactory(), "tcp:0:interface=0.0.0.0", allow_remote=True)
    assert "0.0.0.0" == listener.host
    assert b"far\n" == echo_roundtrip(listener, b"far\n")


def test_port_in_use_is_a_listen_error(cleanup):
    """Listening on a port another listener holds says the port is taken and what to do."""
    taken = lab.listen(EchoFactory(), name="holder")
    with pytest.raises(ListenError, match="port 0 for any free one"):
        lab.listen(EchoFactory(), f"tcp:{taken.port}", name="intruder")
    assert taken.running


@pytest.mark.parametrize("target, endpoint, options, message", [
    (EchoFactory(), "udp:0", {}, "cannot listen on udp"),
    (EchoDatagram(), "tcp:0", {}, "cannot listen on tcp"),
    (EchoFactory(), "tcp:0", {"colour": "red"}, "only apply to plugins"),
    (42, "tcp:0", {}, "takes a plugin name"),
])
def test_wrong_things_to_serve_are_refused(cleanup, target, endpoint, options, message):
    """Serving the wrong kind of object or transport raises a ListenError that says so."""
    with pytest.raises(ListenError, match=message):
        lab.listen(target, endpoint, **options)


def test_protocol_class_is_enough(cleanup):
    """A Protocol subclass can be served directly, without writing a Factory."""
    from lab.adapters.echo import Echo

    listener = lab.listen(Echo)
    assert "echo" == listener.name
    assert b"cls\n" == echo_roundtrip(listener, b"cls\n")


def test_interpreter_exit_stops_every_listener_first():
    """At exit the lab's shutdown hook stops every listener and frees its port."""
    script = textwrap.dedent("""
        import atexit, socket
        ports = []

        def after_the_lab():  # registered first, so atexit runs it after the lab's hooks
            import lab
            free = 0
            for port in ports:
                with socket.socket() as s:
                    s.bind(("127.0.0.1", port))
                    free += 1
            print(len(lab.listeners()), free, flush=True)

        atexit.register(after_the_lab)
        import lab
        from lab.adapters.echo import EchoFactory
        lab.start()
        ports.extend(lab.listen(EchoFactory(), name=n).port for n in "xyz")
        client = lab.connect(lab.listeners()[0])  # an open connection must not hold things up
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=60)
    assert "0 3" == done.stdout.strip(), done.stderr
