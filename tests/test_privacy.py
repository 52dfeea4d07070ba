"""Listener privacy: other users' processes are refused on loopback, share= opens it (real reactor, real uids)."""

import os
import subprocess

import pytest

import lab
from lab.model import ListenError, _peers, _privacy
from tests.classroom_support import NOBODY, client_as, require_root_on_linux, system_python
from tests.polling import eventually

pytestmark = pytest.mark.reactor


@pytest.fixture
def cleanup(lab_reactor):
    """Stop every listener a test started; these tests switch uids, so they need root on Linux."""
    require_root_on_linux("listener privacy tests")
    yield
    lab.model.stop_all()


def refusals(listener):
    """The close reasons of the listener's refused connections."""
    return [c.reason for c in listener.capture.connections() if (c.reason or "").startswith("refused")]


def test_other_users_client_is_refused_and_the_refusal_is_captured(cleanup):
    """nobody's client gets the connection closed unread; the capture and stats say who and why."""
    echo = lab.listen("echo", name="private")
    assert "" == client_as(NOBODY, "tcp", "127.0.0.1", echo.port)
    assert eventually(lambda: echo.stats()["refused"] == 1)
    [reason] = refusals(echo)
    assert "nobody (uid 65534) is not allowed" in reason and "share=True" in reason
    assert [] == echo.capture.events(kinds=("in", "out"))  # the echo never saw a byte


def test_owners_own_client_is_admitted(cleanup):
    """A client of the listener's own uid (this process, and another process) gets its echo."""
    echo = lab.listen("echo", name="mine")
    client = lab.connect(echo)
    client.send("mine\n")
    assert b"mine\n" == client.read_until(b"\n")
    client.close()
    assert "again\n" == client_as(os.geteuid(), "tcp", "127.0.0.1", echo.port, "again\n")
    assert 0 == echo.stats()["refused"]


def test_share_true_admits_everyone(cleanup):
    """listen(..., share=True) lets another user's client through."""
    echo = lab.listen("echo", name="shared", share=True)
    assert "hi\n" == client_as(NOBODY, "tcp", "127.0.0.1", echo.port)
    assert "shared" in echo.privacy.statement


def test_share_with_named_users_and_at_runtime(cleanup):
    """share=['nobody'] admits that user; privacy.share(False) closes it again while running."""
    echo = lab.listen("echo", name="named", share=["nobody"])
    assert "hi\n" == client_as(NOBODY, "tcp", "127.0.0.1", echo.port)
    echo.privacy.share(False)
    assert "" == client_as(NOBODY, "tcp", "127.0.0.1", echo.port)
    echo.privacy.share(True)
    assert "hi\n" == client_as(NOBODY, "tcp", "127.0.0.1", echo.port)


def test_share_with_an_unknown_user_is_a_clear_error(cleanup):
    """A user name this host does not know is refused before the port opens."""
    with pytest.raises(ListenError, match="no user 'no-such-student'"):
        lab.listen("echo", name="unknown", share=["no-such-student"])
    assert "unknown" not in [l.name for l in lab.listeners()]


def test_ipv6_loopback_listener_is_private_too(cleanup):
    """On ::1, nobody is refused and the owner admitted, as on 127.0.0.1."""
    echo = lab.listen("echo", "tcp6:0:interface=\\:\\:1", name="six")
    assert "" == client_as(NOBODY, "tcp", "::1", echo.port)
    assert "six\n" == client_as(os.geteuid(), "tcp", "::1", echo.port, "six\n")
    assert 1 == echo.stats()["refused"]


def test_udp_datagrams_from_another_user_are_dropped_and_noted_once(cleanup):
    """nobody's datagrams get no echo and one refused record; the owner's get their echo."""
    udp = lab.listen("echo", "udp:0", name="udp-private")
    assert None is client_as(NOBODY, "udp", "127.0.0.1", udp.port)
    assert None is client_as(NOBODY, "udp", "127.0.0.1", udp.port)
    assert "own" == client_as(os.geteuid(), "udp", "127.0.0.1", udp.port, "own")
    assert 2 == udp.stats()["refused"]
    assert 2 == len(refusals(udp))  # two senders (two ports), each listed once
    assert "cannot be attributed" in udp.privacy.statement


def test_udp_shared_listener_echoes_other_users(cleanup):
    """A shared UDP listener answers another user's datagram."""
    udp = lab.listen("echo", "udp:0", name="udp-shared", share=True)
    assert "hi\n" == client_as(NOBODY, "udp", "127.0.0.1", udp.port)


def test_sock_diag_and_proc_tables_agree(cleanup):
    """The netlink lookup and /proc/net/tcp name the same uid for a client of another user."""
    echo = lab.listen("echo", name="tables", share=True)
    script = (f"import socket, sys, time; s = socket.create_connection(('127.0.0.1', {echo.port}));"
              "print(s.getsockname()[1], flush=True); sys.stdin.read()")
    with subprocess.Popen([system_python(), "-c", script], user=NOBODY, group=NOBODY,
                          extra_groups=[], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                          text=True, cwd="/") as child:
        port = int(child.stdout.readline())
        peer, local = ("127.0.0.1", port), ("127.0.0.1", echo.port)
        found = [_peers._sock_diag_uid(peer, local), _peers.proc_stream_peer_uid(peer, local),
                 _peers.proc_stream_peer_uid(peer, ("0.0.0.0", echo.port))]
        child.stdin.close()
    assert [NOBODY, NOBODY, NOBODY] == found


def test_non_linux_host_says_why_and_required_privacy_is_an_error(cleanup, monkeypatch):
    """Off Linux the rule cannot hold: 'auto' says so in the statement, 'require' refuses to start."""
    assert "not Linux" in _peers.uid_lookup_available("darwin")
    capture = lab.model.Capture()

    class Candidate:
        name = "mac"

    Candidate.capture = capture
    privacy = _privacy.admit_listener(Candidate, False, capture.max_bytes, platform="darwin")
    assert privacy.statement.startswith("not private: this host runs darwin")
    monkeypatch.setenv("LAB_LISTENER_PRIVACY", "require")
    monkeypatch.setenv("LAB_LIMITS_SET_BY", "your teacher (hub config)")
    with pytest.raises(lab.PrivacyUnavailable, match="runs darwin, not Linux.*your teacher"):
        _privacy.admit_listener(Candidate, False, capture.max_bytes, platform="darwin")
    assert _privacy.admit_listener(Candidate, True, capture.max_bytes, platform="darwin")


def test_refusal_shows_in_the_listeners_panel_and_the_conversation(cleanup):
    """The listeners panel counts the refusal and prints its reason; the conversation shows the close reason."""
    from lab.widgets.conversation import ConversationView
    from lab.widgets.listeners import ListenersPanel

    echo = lab.listen("echo", name="watched")
    client_as(NOBODY, "tcp", "127.0.0.1", echo.port)
    assert eventually(lambda: echo.stats()["refused"] == 1)
    panel = ListenersPanel(live=False)
    try:
        assert "(1 refused)" in panel.table.value  # in the row's connections cell
        assert "refused: nobody (uid 65534) is not allowed" in panel.refusals.value
    finally:
        panel.close()
    view = ConversationView(echo, live=False)
    try:
        assert "closed: refused: nobody (uid 65534)" in view.rows.html
    finally:
        view.close()


def test_a_proxy_is_private_like_a_listener(cleanup):
    """lab.proxy refuses another user's client with the reason, and share=True lets it through to the target."""
    echo = lab.listen("echo", name="behind-proxy")
    front = lab.proxy(echo, name="private-proxy")
    assert "" == client_as(NOBODY, "tcp", "127.0.0.1", front.port)
    assert eventually(lambda: front.stats()["refused"] == 1)
    assert "nobody (uid 65534) is not allowed" in front.privacy.last_refusal
    assert 0 == echo.capture.connection_count  # the target never saw the refused client
    shared = lab.proxy(echo, name="private-proxy", share=True)
    assert "hi\n" == client_as(NOBODY, "tcp", "127.0.0.1", shared.port)


def test_a_udp_proxy_drops_another_users_datagrams(cleanup):
    """A UDP proxy forwards its owner's datagrams and drops another user's."""
    echo = lab.listen("echo", "udp:0", name="udp-behind-proxy")
    front = lab.proxy(echo, "udp:0", name="udp-proxy")
    assert None is client_as(NOBODY, "udp", "127.0.0.1", front.port)
    assert "own" == client_as(os.geteuid(), "udp", "127.0.0.1", front.port, "own")
    assert 1 == front.stats()["refused"]
