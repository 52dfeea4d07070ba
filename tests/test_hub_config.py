"""The workshop hub refuses to start on bad input, saying what to do (no hub is started here)."""

import os
import socket
import subprocess
import sys

import pytest

from tests.browser_support import free_port
from tests.classroom_support import require_root_on_linux
from tests.hub_support import ROOT, workshop

pytestmark = pytest.mark.hub


def hub(tmp_path, **settings):
    """Run ``python3 tasks.py hub --check`` with these LAB_HUB_* settings; (exit code, output)."""
    env = dict(os.environ, LAB_HUB_STATE=str(tmp_path / "state"), LAB_HUB_STUDENTS="labcheck-a",
               LAB_HUB_PASSWORD="a-workshop-password", LAB_HUB_PORT=str(free_port()),
               LAB_HUB_PROXY_API_PORT=str(free_port()), LAB_HUB_INTERNAL_PORT=str(free_port()))
    env.update(settings)
    done = subprocess.run([sys.executable, str(ROOT / "tasks.py"), "hub", "--check"], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    return done.returncode, done.stdout + done.stderr


@pytest.fixture
def as_root():
    """These start-up checks run as the hub would: root on Linux."""
    require_root_on_linux("the hub's start-up checks")


@pytest.mark.parametrize("name", ["Alice", "1student", "bob.smith", "x" * 33, "root", "../etc"])
def test_invalid_student_name_is_refused_at_start(as_root, tmp_path, name):
    """A roster name that is not a valid (non-system) account name stops the hub before anything runs."""
    code, output = hub(tmp_path, LAB_HUB_STUDENTS=f"good-one {name}")
    assert 0 != code
    assert f"{name!r} is " in output and ("not a valid account name" in output
                                          or "system account" in output)
    assert "jupyterhub -f" not in output and "pass every start-up check" not in output


def test_good_settings_pass_the_checks(as_root, tmp_path):
    """The same settings with valid names pass (so the refusals above are about the names)."""
    code, output = hub(tmp_path)
    assert (0, True) == (code, "pass every start-up check" in output)


def test_hub_port_in_use_is_refused_at_start(as_root, tmp_path):
    """A port something already listens on is named, with the variable to change."""
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        code, output = hub(tmp_path, LAB_HUB_PORT=str(port))
    assert 0 != code
    assert f"port {port} on 127.0.0.1 is in use" in output and "LAB_HUB_PORT" in output


def test_missing_proxy_binary_is_refused_at_start(as_root, tmp_path):
    """A configurable-http-proxy path with nothing there says how to install it."""
    code, output = hub(tmp_path, LAB_HUB_PROXY=str(tmp_path / "no-proxy"))
    assert 0 != code
    assert "configurable-http-proxy is missing" in output and "tasks.py hub" in output


def test_the_config_file_checks_the_same_when_jupyterhub_loads_it(as_root, tmp_path):
    """Started by hand (jupyterhub -f), the config refuses a bad roster name with the same message."""
    env = dict(os.environ, LAB_HUB_STATE=str(tmp_path), LAB_HUB_STUDENTS="Not_Valid",
               LAB_HUB_PASSWORD="a-workshop-password", LAB_HUB_PORT=str(free_port()))
    jupyterhub = workshop.settings(env).env / "venv" / "bin" / "jupyterhub"
    done = subprocess.run([str(jupyterhub), "-f", str(ROOT / "deploy" / "jupyterhub" /
                                                     "jupyterhub_config.py")],
                          env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert 0 != done.returncode
    assert "'Not_Valid' is not a valid account name" in done.stdout + done.stderr


def test_non_linux_host_is_refused_with_the_reason():
    """On another OS the hub says it needs Linux (uids per student, the peer-uid rule) and where to go."""
    with pytest.raises(workshop.HubConfigError, match="runs darwin, not Linux.*deploy/README.md"):
        workshop.check_platform("darwin")


def test_missing_password_and_empty_roster_are_refused():
    """No students, or a short workshop password, stop the checks with what to set."""
    config = workshop.settings({"LAB_HUB_STUDENTS": "", "LAB_HUB_PASSWORD": "x" * 12})
    if sys.platform.startswith("linux") and os.geteuid() == 0:
        with pytest.raises(workshop.HubConfigError, match="no students: set LAB_HUB_STUDENTS"):
            workshop.preflight(config)
        config = workshop.settings({"LAB_HUB_STUDENTS": "alice", "LAB_HUB_PASSWORD": "short"})
        with pytest.raises(workshop.HubConfigError, match="LAB_HUB_PASSWORD"):
            workshop.preflight(config)
    else:
        with pytest.raises(workshop.HubConfigError):
            workshop.preflight(config)


def test_environment_under_root_is_not_runnable_by_students(tmp_path):
    """A folder closed to other accounts on the way to the interpreter is named (the /root pyenv trap)."""
    closed = tmp_path / "closed"
    (closed / "bin").mkdir(parents=True)
    python = closed / "bin" / "python"
    python.write_text("")
    python.chmod(0o755)
    closed.chmod(0o700)
    assert "is not searchable by other accounts" in workshop.runnable_by_everyone(python)
    if os.path.exists("/usr/bin/python3"):
        assert None is workshop.runnable_by_everyone("/usr/bin/python3")
