"""Helpers for the classroom tiers: clients that run under another user's uid.

A student's client is a real process under a real uid: a small stdlib script
run by a system interpreter every account can execute (the test venv's
Python may live under /root, which other accounts cannot enter).  These
tiers need root (to switch uid, and for the hub to create accounts) and
Linux (the peer-uid rule); elsewhere :func:`require_root_on_linux` fails
the test with the reason instead of letting it pass silently.
"""

import json
import os
import pwd
import shutil
import subprocess
import sys

import pytest

NOBODY = 65534
SYSTEM_PYTHONS = ("/usr/bin/python3", "/usr/local/bin/python3", "/bin/python3")

_CLIENT = r"""
import json, socket, sys
kind, host, port, data = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4].encode()
if kind == "tcp":
    sock = socket.create_connection((host, port), timeout=5)
    sock.sendall(data)
    try:
        got = sock.recv(65536)
    except (ConnectionResetError, socket.timeout) as error:
        got = b""
else:
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_DGRAM)
    sock.settimeout(1.5)
    sock.sendto(data, (host, port))
    try:
        got = sock.recv(65536)
    except socket.timeout:
        got = None
print(json.dumps(None if got is None else got.decode("latin-1")))
"""


def system_python():
    """An interpreter outside /root that any account can run (Debian's /usr/bin/python3)."""
    for path in SYSTEM_PYTHONS:
        if os.access(path, os.X_OK) and not os.path.realpath(path).startswith("/root"):
            return path
    pytest.fail("no system Python (/usr/bin/python3) that other accounts can run; install "
                "Debian's python3 so clients can run under another user's uid")


def require_root_on_linux(what):
    """Fail (never skip) with the reason when this tier cannot run here."""
    if not sys.platform.startswith("linux"):
        pytest.fail(f"{what} needs Linux (peer uids come from Linux's socket tables); this "
                    f"host runs {sys.platform}")
    if os.geteuid() != 0:
        pytest.fail(f"{what} needs root, to run clients under other users' uids (and to create "
                    "test accounts); run the suite as root, e.g. sudo python3 tasks.py test")


def client_as(uid, kind, host, port, data="hi\n"):
    """Run one client as ``uid``: send ``data``; the reply as text, '' if closed, None if no reply (UDP)."""
    result = subprocess.run(
        [system_python(), "-c", _CLIENT, kind, host, str(port), data], user=uid,
        group=pwd.getpwuid(uid).pw_gid, extra_groups=[], capture_output=True, text=True,
        timeout=20, cwd="/")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def have(command):
    """True if ``command`` is on PATH."""
    return shutil.which(command) is not None
