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
