"""Real peers for the memcached tests: Debian's memcached, the lab's server, a byte exchange.

Every server here listens on 127.0.0.1, is bounded in time, and is stopped by
its context manager.  A missing Debian binary fails the test with the
package to install: CI installs them, so a silent skip would hide a gap.
"""

import contextlib
import os
import pathlib
import shutil
import socket
import subprocess
import sys
import tempfile
import time

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
PACKAGES = {"memcached": "memcached", "memccapable": "libmemcached-tools",
            "memcaslap": "libmemcached-tools"}
EXCHANGE_TIMEOUT = 10.0


def require(binary):
    """The path of a Debian binary, or fail saying which package to install."""
    path = shutil.which(binary)
    if path is None:
        pytest.fail(f"{binary} is not installed; install Debian's {PACKAGES[binary]} "
                    f"(apt-get install memcached libmemcached-tools), or run `make test`, "
                    "which installs it.", pytrace=False)
    return path


def free_port():
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_connectable(port, proc=None, timeout=10.0):
    """Wait until something accepts connections on 127.0.0.1:``port``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode} before listening")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.01)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {timeout} s")


@contextlib.contextmanager
def real_memcached(*extra):
    """Run Debian's memcached on a free loopback port (``-U 0``); yield the port."""
    binary = require("memcached")
    port = free_port()
    user = ["-u", "root"] if os.geteuid() == 0 else []
    proc = subprocess.Popen([binary, "-p", str(port), "-l", "127.0.0.1", "-U", "0", *user,
                             *extra], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_connectable(port, proc)
        yield port
    finally:
        proc.kill()
        proc.wait(10)


@contextlib.contextmanager
def lab_server(*options, capture=False):
    """Run ``python -m lab serve memcached`` in a subprocess; yield ``(host, port)``."""
    args = [sys.executable, "-m", "lab", "serve", "memcached", "tcp:0:interface=127.0.0.1"]
    for option in options:
        args += ["--option", option]
    if not capture:
        args.append("--no-capture")
    # stderr goes to a file: a pipe nobody reads could fill and stall the server.
    with tempfile.TemporaryFile() as errors, subprocess.Popen(
            args, cwd=ROOT, stdout=subprocess.PIPE, stderr=errors, text=True) as proc:
        try:
            line = proc.stdout.readline()
            if not line.startswith("listening on "):
                proc.kill()
                proc.wait(10)
                errors.seek(0)
                raise RuntimeError(f"lab serve did not start: {line!r} {errors.read()!r}")
            host, _, port = line.split()[-1].rpartition(":")
            yield host, int(port)
        finally:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)


def exchange(port, data, timeout=EXCHANGE_TIMEOUT):
    """Send ``data``, half-close, and return every byte the server sends until it closes."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        try:
            sock.sendall(data)
            sock.shutdown(socket.SHUT_WR)
        except OSError:  # the server closed first (quit, refused input): read what it sent
            pass
        chunks = []
        while True:
            try:
                chunk = sock.recv(65536)
            except ConnectionResetError:
                chunk = b""
            if not chunk:
                return b"".join(chunks)
            chunks.append(chunk)


def ask(port, data, until, timeout=EXCHANGE_TIMEOUT):
    """Send ``data`` and read until the reply ends with ``until`` (no half-close)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(data)
        reply = b""
        while not reply.endswith(until):
            chunk = sock.recv(65536)
            if not chunk:
                break
            reply += chunk
        return reply
