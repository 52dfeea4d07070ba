"""Teacher limits: listeners per user (across kernels), connections per listener, capture memory per user."""

import socket
import subprocess
import sys

import pytest

import lab
from lab.model import ListenError, teacher_limits
from tests.polling import eventually

pytestmark = pytest.mark.reactor
SET_BY = "your teacher (c.Spawner.environment in jupyterhub_config.py)"


@pytest.fixture
def limits(lab_reactor, monkeypatch, tmp_path):
    """A fresh per-user ledger folder and a named setter; every listener stopped afterwards."""
    monkeypatch.setenv("LAB_STATE_DIR", str(tmp_path))
    monkeypatch.setenv("LAB_LIMITS_SET_BY", SET_BY)
    yield monkeypatch
    lab.model.stop_all()


def test_listeners_per_user_limit_names_itself_and_who_sets_it(limits):
    """The third listener with LAB_MAX_LISTENERS=2 fails naming the limit, the setter and the running ones."""
    limits.setenv("LAB_MAX_LISTENERS", "2")
    first = lab.listen("echo", name="one")
    lab.listen("echo", name="two")
    with pytest.raises(lab.LimitReached) as raised:
        lab.listen("echo", name="three")
    message = str(raised.value)
    assert "LAB_MAX_LISTENERS=2" in message and SET_BY in message and "one, two" in message
    first.stop()
    assert lab.listen("echo", name="three").running


def test_replacing_a_listener_by_name_does_not_count_twice(limits):
    """Re-running a cell (same name) at the limit replaces the listener instead of failing."""
    limits.setenv("LAB_MAX_LISTENERS", "1")
    lab.listen("echo", name="cell")
    assert lab.listen("echo", name="cell").running


def test_listeners_of_another_kernel_of_the_same_user_count(limits, tmp_path):
    """A listener held by another live process of the user counts; when that process ends it no longer does."""
    limits.setenv("LAB_MAX_LISTENERS", "1")
    script = ("import lab, sys; lab.start(); l = lab.listen('echo', name='other-kernel');"
              "print('up', flush=True); sys.stdin.read()")
    with subprocess.Popen([sys.executable, "-c", script], stdin=subprocess.PIPE,
                          stdout=subprocess.PIPE, text=True) as other:
        assert "up" == other.stdout.readline().strip()
        with pytest.raises(lab.LimitReached, match="other-kernel"):
            lab.listen("echo", name="here")
        other.stdin.close()
    assert lab.listen("echo", name="here").running


def test_connections_per_listener_limit_refuses_the_extra_connection(limits):
    """With LAB_MAX_CONNECTIONS=1 a second open connection is closed, the reason naming the limit."""
    limits.setenv("LAB_MAX_CONNECTIONS", "1")
    echo = lab.listen("echo", name="busy")
    first = lab.connect(echo)
    first.send("a\n")
    assert b"a\n" == first.read_until(b"\n")
    with socket.create_connection(("127.0.0.1", echo.port), timeout=5) as second:
        assert b"" == second.recv(10)
    assert eventually(lambda: echo.stats()["refused"] == 1)
    reason = echo.capture.connections()[-1].reason
    assert "already has 1 open connections" in reason and "LAB_MAX_CONNECTIONS=1" in reason
    assert SET_BY in reason
    first.close()


def test_capture_memory_per_user_shrinks_a_default_capture_and_refuses_an_explicit_one(limits):
    """LAB_MAX_CAPTURE=1M: a default capture gets what is left; an explicit larger one is refused."""
    limits.setenv("LAB_MAX_CAPTURE", "1M")
    first = lab.listen("echo", name="big")
    assert 1024 * 1024 == first.capture.max_bytes
    with pytest.raises(lab.LimitReached, match=r"LAB_MAX_CAPTURE=1048576, set by your teacher"):
        lab.listen("echo", name="more", max_bytes=4096)
    first.stop()
    assert 4096 == lab.listen("echo", name="more", max_bytes=4096).capture.max_bytes
    assert lab.listen("echo", name="uncaptured", capture=False).running


def test_default_captures_get_a_fair_share_when_both_limits_are_set(limits):
    """LAB_MAX_CAPTURE=1M with LAB_MAX_LISTENERS=4: each default capture keeps 256 KiB, so four fit."""
    limits.setenv("LAB_MAX_CAPTURE", "1M")
    limits.setenv("LAB_MAX_LISTENERS", "4")
    sizes = [lab.listen("echo", name=f"fair-{n}").capture.max_bytes for n in range(4)]
    assert [256 * 1024] * 4 == sizes
    with pytest.raises(lab.LimitReached, match="LAB_MAX_LISTENERS=4"):
        lab.listen("echo", name="fair-5")


def test_limits_read_from_the_environment():
    """Sizes take K/M/G; unset means no limit; the default setter names the variables."""
    limits = teacher_limits({"LAB_MAX_CAPTURE": "64M", "LAB_MAX_LISTENERS": "5"})
    assert (5, None, 64 * 1024 * 1024) == limits[:3]
    assert "LAB_MAX_* environment variables" in limits.set_by
    assert (None, None, None) == teacher_limits({})[:3]


@pytest.mark.parametrize("variable, value", [
    ("LAB_MAX_LISTENERS", "many"), ("LAB_MAX_LISTENERS", "0"), ("LAB_MAX_CAPTURE", "lots"),
    ("LAB_LISTENER_PRIVACY", "maybe")])
def test_misconfigured_limits_are_a_clear_error_at_listen(limits, variable, value):
    """A limit the hub set wrongly stops listen() with the variable and its bad value."""
    limits.setenv(variable, value)
    with pytest.raises(ListenError, match=f"{variable}={value!r}"):
        lab.listen("echo", name="misconfigured")
