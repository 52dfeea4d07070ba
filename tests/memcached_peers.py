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


# The LRU the lab implements: memcached's flat one, without the maintainer thread (which
# moves items between segments in the background, at times no test can predict).
FLAT_LRU = ("-o", "no_lru_maintainer")


@contextlib.contextmanager
def real_memcached(*extra):
    """Run Debian's memcached on a free loopback port (``-U 0``) with a flat LRU; yield the port."""
    binary = require("memcached")
    port = free_port()
    user = ["-u", "root"] if os.geteuid() == 0 else []
    with peer_process([binary, "-p", str(port), "-l", "127.0.0.1", "-U", "0", *user, *FLAT_LRU,
                       *extra], port):
        yield port


@contextlib.contextmanager
def peer_process(command, port):
    """Run ``command``, a server told to listen on 127.0.0.1:``port``, its output dropped.

    Yields the process once the port accepts connections; kills it on the way out.
    """
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_connectable(port, proc)
        yield proc
    finally:
        proc.kill()
        proc.wait(10)


@contextlib.contextmanager
def in_process_lab(**options):
    """A fresh lab memcached server on the shared reactor; yields its port."""
    from twisted.internet import reactor

    import lab
    from lab.adapters.memcached import MemcachedFactory

    port = lab.call(reactor.listenTCP, 0, MemcachedFactory(**options), interface="127.0.0.1")
    try:
        yield port.getHost().port
    finally:
        lab.call(port.stopListening)


@contextlib.contextmanager
def lab_server(*options, capture=False):
    """Run ``python -m lab serve memcached`` in a subprocess; yield ``(host, port)``."""
    with lab_server_process(*options, capture=capture) as (host, port, _):
        yield host, port


def rss(pid):
    """The resident memory of process ``pid`` in bytes (from /proc)."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


@contextlib.contextmanager
def lab_server_process(*options, capture=False):
    """Like :func:`lab_server`, yielding ``(host, port, pid)``."""
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
            yield host, int(port), proc.pid
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


# -- hostile clients (shared by tests/test_memcached_hostile.py and bench/memcached_memory.py) --


def _connect(port):
    sock = socket.create_connection(("127.0.0.1", port), timeout=EXCHANGE_TIMEOUT)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
    return sock


def never_reading_gets(port, value_size=1000000, request_bytes=65536, clients=4):
    """Clients that pipeline ``get``s of a large value and never read; the open sockets.

    Each sends ``request_bytes`` of ``get big`` lines (about 9,000 gets, gigabytes of
    replies) in one go.  The caller keeps the sockets open while it measures, then
    closes them.
    """
    ask(port, b"set big 0 0 %d\r\n%s\r\n" % (value_size, b"x" * value_size), b"\r\n")
    line = b"get big\r\n"
    requests = line * (request_bytes // len(line))
    socks = []
    for _ in range(clients):
        sock = _connect(port)
        sock.settimeout(2)
        try:
            sock.sendall(requests)
        except TimeoutError:  # the server stopped reading: back-pressure reached the client
            pass
        socks.append(sock)
    return socks


def stalled_sets(port, count=1000, size=900000, sent=450000):
    """``count`` connections each start a ``set`` of ``size`` bytes, send ``sent`` of them, stall.

    Returns the open sockets; the caller closes them.
    """
    chunk = b"x" * sent
    socks = []
    for n in range(count):
        sock = _connect(port)
        sock.settimeout(EXCHANGE_TIMEOUT)
        sock.sendall(b"set stalled%d 0 0 %d\r\n" % (n, size) + chunk)
        socks.append(sock)
    return socks


def round_trip(port):
    """Seconds a fresh client takes for one set and one get (checks the answers)."""
    started = time.monotonic()
    reply = ask(port, b"set probe 0 0 5\r\nhello\r\nget probe\r\n", b"END\r\n")
    assert reply == b"STORED\r\nVALUE probe 0 5\r\nhello\r\nEND\r\n", reply
    return time.monotonic() - started


def fill_tiny_items(port, megabytes):
    """Store tiny items (1-byte values, 10-byte keys) until about ``megabytes`` MiB of them."""
    count = megabytes * 1048576 // 96  # memcached's smallest chunk is 96 bytes
    with _connect(port) as sock:
        batch = 2000
        for start in range(0, count, batch):
            sock.sendall(b"".join(b"set t%09d 0 0 1 noreply\r\nx\r\n" % n
                                  for n in range(start, min(start + batch, count))))
        sock.sendall(b"mn\r\n")
        reply = b""
        while not reply.endswith(b"MN\r\n"):
            reply += sock.recv(65536)
    return count


def settle_rss(pid, seconds=1.0):
    """The largest RSS of ``pid`` seen over ``seconds`` (sampled every 50 ms)."""
    deadline, peak = time.monotonic() + seconds, 0
    while time.monotonic() < deadline:
        peak = max(peak, rss(pid))
        time.sleep(0.05)
    return peak
