"""The README's lab command and the `python -m lab` command line, run as a user would."""

import json
import os
import subprocess
import sys
import time
import urllib.request

import pytest

from tests.browser_support import free_port
from tests.conftest import ROOT


def test_version_names_the_lab_twisted_and_crochet():
    """`python -m lab version` prints the versions a bug report needs."""
    out = subprocess.run([sys.executable, "-m", "lab", "version"], capture_output=True,
                         text=True, timeout=60, check=True).stdout
    assert out.startswith("protocol-lab ") and "twisted" in out and "crochet" in out


def test_a_bad_serve_option_is_refused_with_advice():
    """A malformed --option says how to write it, and nothing starts."""
    result = subprocess.run([sys.executable, "-m", "lab", "serve", "echo", "--option", "oops"],
                            capture_output=True, text=True, timeout=60)
    assert 2 == result.returncode
    assert "NAME=VALUE" in result.stderr


def _get(url):
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read()
    except OSError:
        return None, b""


@pytest.mark.browser
def test_lab_command_serves_jupyterlab_on_the_notebooks():
    """`python3 tasks.py lab`, headless, answers 200 on /lab and lists notebooks/."""
    port, token = free_port(), "labtest"
    env = dict(os.environ, LAB_PORT=str(port), LAB_NO_BROWSER="1", JUPYTER_TOKEN=token)
    process = subprocess.Popen([sys.executable, "tasks.py", "lab"], cwd=ROOT, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline, status = time.monotonic() + 240, None
        while status != 200 and time.monotonic() < deadline and process.poll() is None:
            time.sleep(1)
            status, _ = _get(f"http://127.0.0.1:{port}/lab?token={token}")
        assert 200 == status
        _, body = _get(f"http://127.0.0.1:{port}/api/contents?token={token}")
        names = {item["name"] for item in json.loads(body)["content"]}
        assert "00-tour.ipynb" in names
    finally:
        process.terminate()
        process.wait(30)


def _serve(*args):
    return subprocess.Popen([sys.executable, "-m", "lab", "serve", *args], text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def test_serve_prints_its_address_serves_and_stops_on_sigterm():
    """`serve echo` prints one 'listening on' line, echoes bytes, and exits 0 on SIGTERM."""
    import signal
    import socket

    process = _serve("echo", "tcp:0:interface=127.0.0.1")
    try:
        line = process.stdout.readline()
        assert line.startswith("listening on 127.0.0.1:"), process.stderr.read()
        port = int(line.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            sock.sendall(b"hello\r\n")
            assert b"hello\r\n" == sock.recv(100)
        process.send_signal(signal.SIGTERM)
        assert 0 == process.wait(20)
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate(timeout=10)  # reap it and close its pipes


def test_serve_refuses_a_remote_interface_without_allow_remote():
    """Binding beyond loopback needs --allow-remote; the refusal says so and exits 2."""
    process = _serve("echo", "tcp:0:interface=0.0.0.0")
    out, err = process.communicate(timeout=60)
    assert 2 == process.returncode
    assert "allow" in err.lower() and "listening" not in out
