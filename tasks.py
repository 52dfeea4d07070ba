#!/usr/bin/env python3
"""The README's two commands, with nothing but Python 3.11+ needed to run them.

    python3 tasks.py lab     # create .venv if missing, install, start JupyterLab on notebooks/
    python3 tasks.py test    # create .venv if missing, install test needs, run the whole suite

Why a Python script and not a Makefile: a fresh machine is promised Python,
not make.  Extra arguments after ``test`` go to pytest
(``python3 tasks.py test -k bridge``).

Environment variables for ``lab``: LAB_PORT (8888), LAB_IP (127.0.0.1),
LAB_NO_BROWSER=1 for headless use.
"""

import hashlib
import json
import os
import pathlib
import shutil
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parent
VENV = ROOT / ".venv"
PYTHON = VENV / "bin" / "python"
DEBIAN_PACKAGES = {  # command that proves it is installed -> Debian package
    "/usr/bin/chromium": "chromium",
    "/usr/bin/memcached": "memcached",
    "/usr/bin/memccapable": "libmemcached-tools",
    "/usr/bin/tshark": "tshark",
    "/usr/bin/redis-server": "redis-server",
}
# JupyterLab's news pop-up covers the page (and asks the network); turn it off.
LAB_OVERRIDES = {
    "@jupyterlab/apputils-extension:notification": {
        "fetchNews": "false",
        "checkForUpdates": False,
    }
}


def run(*command, **kwargs):
    """Run a command, echoing it; stop with its exit code if it fails."""
    print("+", " ".join(str(c) for c in command), flush=True)
    result = subprocess.run([str(c) for c in command], **kwargs)
    if result.returncode != 0:
        sys.exit(result.returncode)


def ensure_venv():
    """Create .venv with this Python if it is missing."""
    if sys.version_info < (3, 11):
        sys.exit(f"Protocol Lab needs Python 3.11 or newer; this is {sys.version.split()[0]}.")
    if not PYTHON.exists():
        run(sys.executable, "-m", "venv", VENV)
        run(PYTHON, "-m", "pip", "install", "--quiet", "--upgrade", "pip")


def ensure_installed(extras):
    """pip-install the project (editable) with ``extras`` unless pyproject.toml is unchanged."""
    spec = f".[{','.join(extras)}]" if extras else "."
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes() + spec.encode()).hexdigest()
    stamp = VENV / f".installed-{'-'.join(extras) or 'base'}"
    if not (stamp.exists() and stamp.read_text() == digest):
        run(PYTHON, "-m", "pip", "install", "--quiet", "-e", spec, cwd=ROOT)
        stamp.write_text(digest)
    write_lab_overrides()


def write_lab_overrides():
    """Install JupyterLab settings overrides into the venv (no news pop-up)."""
    settings = VENV / "share" / "jupyter" / "lab" / "settings"
    settings.mkdir(parents=True, exist_ok=True)
    (settings / "overrides.json").write_text(json.dumps(LAB_OVERRIDES, indent=2))


def ensure_debian_packages():
    """As root, apt-get install the Debian packages the test tiers need, if missing."""
    missing = sorted({pkg for path, pkg in DEBIAN_PACKAGES.items() if not os.path.exists(path)})
    if not missing:
        return
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        print(f"warning: missing Debian packages {missing}; install them as root "
              "(apt-get install ...) or the peer and browser tiers will fail.", flush=True)
        return
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    run("apt-get", "update", "-qq", env=env)
    run("apt-get", "install", "-y", "-qq", "--no-install-recommends", *missing, env=env)


def lab_command():
    """Start JupyterLab on notebooks/ (root-safe, news off, headless by variables)."""
    ensure_venv()
    ensure_installed([])
    command = [
        VENV / "bin" / "jupyter", "lab",
        f"--notebook-dir={ROOT / 'notebooks'}",
        f"--ip={os.environ.get('LAB_IP', '127.0.0.1')}",
        f"--port={os.environ.get('LAB_PORT', '8888')}",
    ]
    if os.environ.get("LAB_NO_BROWSER"):
        command.append("--no-browser")
    if os.geteuid() == 0:
        command.append("--allow-root")
    print("+", " ".join(map(str, command)), flush=True)
    os.execv(command[0], [str(c) for c in command])


def test_command(pytest_args):
    """Install everything the tiers need and run the whole suite (exit code of pytest)."""
    ensure_venv()
    ensure_installed(["test", "browser"])
    ensure_debian_packages()
    command = [PYTHON, "-m", "pytest", *(pytest_args or ["-q"])]
    print("+", " ".join(map(str, command)), flush=True)
    code = subprocess.run([str(c) for c in command], cwd=ROOT).returncode
    if code == 5:
        print("pytest collected no tests: that is a failure here.", flush=True)
        code = 1
    sys.exit(code)


def main(argv):
    """Dispatch ``lab`` or ``test``."""
    if not argv or argv[0] not in ("lab", "test"):
        sys.exit(__doc__)
    if argv[0] == "lab":
        lab_command()
    else:
        test_command(argv[1:])


if __name__ == "__main__":
    main(sys.argv[1:])
