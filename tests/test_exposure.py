"""Loopback means loopback: every way of writing an endpoint is judged by the address the socket bound.

Traffic goes to loopback only; a listener that is allowed to bind every
interface is reached through 127.0.0.1.
"""

import os
import socket
import stat
import subprocess
import sys

import pytest

import lab
from lab.model import EndpointError, ListenError, RemoteNotAllowed
from lab.model._endpoints import is_loopback

pytestmark = pytest.mark.reactor

# Ways to ask for a non-loopback interface, or to smuggle one past a string check.
SNEAKY = [
    r"tcp:0:backlog=50\:interface=0.0.0.0",
    r"tcp:0:backlog=50\:interface=0.0.0.0\:x",
    "tcp:0:interface=0.0.0.0",
    "tcp:0:0.0.0.0",
    "tcp:interface=0.0.0.0:port=0",
    "tcp:port=0:interface=0.0.0.0",
    "tcp:0:interface=127.0.0.1:interface=0.0.0.0",
    "tcp:0:0.0.0.0:interface=127.0.0.1",
    "tcp:0:interface=",
    "tcp:0:",
    "TCP:0:interface=0.0.0.0",
    " tcp:0:interface= 0.0.0.0",
    "tcp:0:interface=0",
    r"tcp:0:interface=\:\:",
    "tcp:0:interface=::",
    r"tcp6:0:interface=\:\:",
    r"tcp6:0:50:\:\:",
    r"tcp6:port=0:interface=\:\:",
    "tcp6:0:interface=",
    "udp:0:interface=0.0.0.0",
    "udp:0:0.0.0.0",
    "udp:interface=0.0.0.0:port=0",
    "udp:0:interface=",
    "systemd:domain=INET:index=0",
    "unix:@lab-abstract",
    "tcp:0\\",
    "tcp:0:127.0.0.1:50:extra",
]


@pytest.fixture
def cleanup(lab_reactor):
    """Stop every listener a test started."""
    yield
    lab.model.stop_all()


def bound(listener):
    """The address the listening socket has, asked of the socket itself."""
    return lab.call(lambda: listener._port.socket.getsockname())


@pytest.mark.parametrize("endpoint", SNEAKY)
def test_no_endpoint_string_binds_beyond_loopback_without_allow_remote(cleanup, endpoint):
    """Each way of writing an endpoint is refused, or its socket is bound to loopback."""
    plugin = "echo"
    try:
        listener = lab.listen(plugin, endpoint, name="sneaky")
    except (RemoteNotAllowed, EndpointError) as error:
        assert "allow_remote" in str(error) or "e.g." in str(error) or "once" in str(error)
        return
    assert is_loopback(bound(listener)[0]), (endpoint, bound(listener))


@pytest.mark.parametrize("endpoint", ["tcp:0", "tcp:0:interface=127.0.0.2", "tcp:port=0",
                                      "tcp:0:127.0.0.1", "udp:0", "udp:0:127.0.0.1", 0])
def test_loopback_endpoints_bind_loopback(cleanup, endpoint):
    """Plain and explicit loopback endpoints bind the loopback address they name."""
    listener = lab.listen("echo", endpoint, name="plain")
    assert is_loopback(bound(listener)[0])
    client = lab.connect(listener)
    client.send(b"hi")
    assert b"hi" == (client.read_until(b"hi"))
    client.close()


def test_tcp6_listens_on_ipv6_loopback(cleanup):
    """'tcp6:0' binds ::1 and answers there."""
    if not socket.has_ipv6:
        pytest.skip("no IPv6 on this machine")
    listener = lab.listen("echo", "tcp6:0", name="six")
    assert "::1" == bound(listener)[0]
    client = lab.connect(listener)
    client.send(b"six")
    assert b"six" == client.read_until(b"six")
    client.close()


def test_allow_remote_binds_every_interface_when_asked(cleanup):
    """allow_remote=True really binds 0.0.0.0 (reached here through 127.0.0.1 only)."""
    listener = lab.listen("echo", "tcp:0:0.0.0.0", allow_remote=True, name="wide")
    assert "0.0.0.0" == bound(listener)[0]


@pytest.mark.parametrize("value", ["no", "yes", 1, 0, None, [], "False"])
def test_allow_remote_must_be_a_bool(cleanup, value):
    """allow_remote='no' (or 1, None...) is a TypeError that says to pass True or False."""
    with pytest.raises(TypeError, match="True or False"):
        lab.listen("echo", "tcp:0:interface=0.0.0.0", allow_remote=value)


def _serve(*args):
    return subprocess.run([sys.executable, "-m", "lab", "serve", *args], capture_output=True,
                          text=True, timeout=60, stdin=subprocess.DEVNULL)


@pytest.mark.parametrize("endpoint", [r"tcp:0:backlog=50\:interface=0.0.0.0", "tcp:0:0.0.0.0",
                                      "udp:0:0.0.0.0"])
def test_serve_refuses_the_same_tricks(endpoint):
    """`python -m lab serve` goes through the same check: exit code 2 and a message."""
    done = _serve("echo", endpoint)
    assert 2 == done.returncode
    assert "error:" in done.stderr and "listening" not in done.stdout


def test_unix_socket_is_private_without_a_lock_file_and_goes_away(cleanup, tmp_path):
    """unix: listens with mode 0600, writes no .lock file, echoes, and removes its socket on stop."""
    path = tmp_path / "echo.sock"
    listener = lab.listen("echo", f"unix:{path}", name="private")
    assert stat.S_ISSOCK(os.lstat(path).st_mode)
    assert 0o600 == stat.S_IMODE(os.lstat(path).st_mode)
    assert [path.name] == os.listdir(tmp_path)
    assert f"unix:{path}" == listener.endpoint and str(path) == listener.address
    with socket.socket(socket.AF_UNIX) as client:
        client.settimeout(10)
        client.connect(str(path))
        client.sendall(b"unix")
        assert b"unix" == client.recv(4)
    listener.stop()
    assert [] == os.listdir(tmp_path)


def test_unix_replaces_its_own_stale_socket_and_refuses_other_files(cleanup, tmp_path):
    """A dead socket file of ours is replaced; a regular file, a live socket or mode 666 are refused by path."""
    stale = tmp_path / "stale.sock"
    with socket.socket(socket.AF_UNIX) as leftover:
        leftover.bind(str(stale))
    lab.listen("echo", f"unix:{stale}", name="stale")
    with pytest.raises(ListenError, match="already listens"):
        lab.listen("echo", f"unix:{stale}", name="again")
    regular = tmp_path / "notes.txt"
    regular.write_text("keep me")
    with pytest.raises(ListenError, match="not a socket of yours"):
        lab.listen("echo", f"unix:{regular}", name="file")
    assert "keep me" == regular.read_text()
    with pytest.raises(RemoteNotAllowed, match="other accounts"):
        lab.listen("echo", f"unix:{tmp_path / 'open.sock'}:mode=666", name="open")
    with pytest.raises(EndpointError, match="does not exist"):
        lab.listen("echo", f"unix:{tmp_path / 'no' / 'such.sock'}", name="nofolder")


def test_ssl_without_pyopenssl_says_what_to_install(cleanup):
    """An ssl: endpoint without pyOpenSSL is an EndpointError naming what to pip install."""
    try:
        import OpenSSL  # noqa: F401
    except ImportError:
        with pytest.raises(EndpointError, match="pip install"):
            lab.listen("echo", "ssl:0", name="tls")
    else:
        pytest.skip("pyOpenSSL is installed here")
