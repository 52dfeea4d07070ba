"""Hostile clients for tests and benchmarks: senders that never read, and bursts of connects.

Everything here talks to 127.0.0.1 only, is bounded in bytes, sockets and
time, and closes what it opened.
"""

import errno
import gc
import selectors
import socket
import time

__all__ = ["rss", "Flood", "burst", "listen_backlog"]


def _ready(sockets, events, timeout):
    """The sockets ready for ``events`` within ``timeout`` (epoll: no 1024-descriptor limit)."""
    with selectors.DefaultSelector() as selector:
        for sock in sockets:
            selector.register(sock, events)
        return [key.fileobj for key, _ in selector.select(timeout)]


def rss():
    """This process's resident memory, in bytes (Linux)."""
    gc.collect()
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


class Flood:
    """``count`` clients that send ``chunk`` again and again and never read.

    :meth:`until_stalled` sends until every socket has been unwritable for
    ``stall`` seconds (the server stopped reading) or a client has sent
    ``cap`` bytes (it did not stop); ``sent`` then says how much each got in.
    """

    def __init__(self, port, count, chunk, receive_buffer=4096, host="127.0.0.1"):
        self.chunk = chunk
        self.sockets = []
        for _ in range(count):
            sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
            sock.connect((host, port))
            sock.setblocking(False)
            self.sockets.append(sock)
        self.sent = [0] * count

    def until_stalled(self, cap=64 * 1024 * 1024, stall=0.5, limit=60.0):
        """Send until all stall or one passes ``cap``; return the bytes each sent."""
        last = [time.monotonic()] * len(self.sockets)
        deadline = time.monotonic() + limit
        index = {sock: n for n, sock in enumerate(self.sockets)}
        while time.monotonic() < deadline:
            now = time.monotonic()
            live = [s for s in self.sockets if now - last[index[s]] < stall]
            if not live or max(self.sent) >= cap:
                break
            writable = _ready(live, selectors.EVENT_WRITE, 0.05)
            for sock in writable:
                n = index[sock]
                try:
                    self.sent[n] += sock.send(self.chunk)
                    last[n] = time.monotonic()
                except BlockingIOError:
                    pass
        return list(self.sent)

    def drain(self, expected, limit=30.0):
        """Read until socket ``n`` has received ``expected[n]`` bytes (or closed); return counts."""
        got = [0] * len(self.sockets)
        deadline = time.monotonic() + limit
        open_ = {s: n for n, s in enumerate(self.sockets) if expected[n] > 0}
        while open_ and time.monotonic() < deadline:
            readable = _ready(list(open_), selectors.EVENT_READ, 0.1)
            for sock in readable:
                n = open_[sock]
                try:
                    data = sock.recv(1 << 20)
                except BlockingIOError:
                    continue
                except ConnectionError:
                    data = b""
                got[n] += len(data)
                if not data or got[n] >= expected[n]:
                    del open_[sock]
        return got

    def read_some(self, n, limit=10.0):
        """Everything socket ``n`` can read within ``limit`` s (until it goes quiet)."""
        sock, parts = self.sockets[n], []
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            readable = _ready([sock], selectors.EVENT_READ, 0.3)
            if not readable:
                break
            data = sock.recv(1 << 20)
            if not data:
                break
            parts.append(data)
        return b"".join(parts)

    def close(self):
        """Close every socket."""
        for sock in self.sockets:
            sock.close()


def burst(port, count, payload=b"x", limit=60.0):
    """Open ``count`` connections at once, send ``payload`` on each, read it back.

    Returns how many got their echo.  Every connect is started before any is
    waited for, as a crowd of clients arriving together would.
    """
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket()
            sock.setblocking(False)
            code = sock.connect_ex(("127.0.0.1", port))
            assert code in (0, errno.EINPROGRESS), code
            sockets.append(sock)
        return _echo_all(sockets, payload, limit)
    finally:
        for sock in sockets:
            sock.close()


def _echo_all(sockets, payload, limit):
    deadline = time.monotonic() + limit
    echoed, pending = 0, len(sockets)
    with selectors.DefaultSelector() as selector:
        for sock in sockets:
            selector.register(sock, selectors.EVENT_WRITE)
        while pending and time.monotonic() < deadline:
            for key, events in selector.select(0.1):
                sock = key.fileobj
                if events & selectors.EVENT_WRITE:
                    if sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) != 0:
                        selector.unregister(sock)
                        pending -= 1
                        continue
                    sock.send(payload)
                    selector.modify(sock, selectors.EVENT_READ)
                elif events & selectors.EVENT_READ:
                    if sock.recv(len(payload)) == payload:
                        echoed += 1
                    selector.unregister(sock)
                    pending -= 1
    return echoed


def listen_backlog(port):
    """The listen backlog the kernel reports for a listening TCP port (``ss``'s Send-Q)."""
    import subprocess

    out = subprocess.run(["ss", "-ltnH", f"sport = :{port}"], capture_output=True, text=True,
                         check=True).stdout
    return [int(line.split()[2]) for line in out.splitlines() if line.strip()]
