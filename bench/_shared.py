"""Pieces the bench scripts share: loopback ports, Debian binaries, memcached, memcaslap rounds,
counting instructions under callgrind.

Not a benchmark itself.  A script in this folder imports it as ``_shared``
(Python puts the script's own folder first on ``sys.path``).  Failures end
the run with ``SystemExit`` and a message saying what to install or what
did not start.
"""

import os
import pathlib
import re
import shutil
import socket
import subprocess
import time


def free_port():
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_listening(port, proc, seconds=10):
    """Wait until something accepts connections on 127.0.0.1:``port``; stop if ``proc`` exits."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited with {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.01)
    raise SystemExit(f"nothing listens on port {port}")


def need(binary, package):
    """The path of a Debian binary, or stop saying which package to install."""
    path = shutil.which(binary)
    if path is None:
        raise SystemExit(f"{binary} not found: install Debian's {package}")
    return path


def start_memcached():
    """Debian's memcached with one worker thread; ``(proc, port)``."""
    port = free_port()
    user = ["-u", "root"] if os.geteuid() == 0 else []
    proc = subprocess.Popen([need("memcached", "memcached"), "-p", str(port), "-l",
                             "127.0.0.1", "-U", "0", "-t", "1", *user])
    wait_listening(port, proc)
    return proc, port


def memcaslap(port, seconds, concurrency):
    """Operations per second memcaslap reaches against 127.0.0.1:``port``."""
    out = subprocess.run(
        [need("memcaslap", "libmemcached-tools"), "-s", f"127.0.0.1:{port}", "-T", "1",
         "-c", str(concurrency), "-t", f"{seconds}s"],
        capture_output=True, text=True, timeout=seconds + 60).stdout
    found = re.findall(r"TPS: (\d+)", out)
    if not found:
        raise SystemExit(f"memcaslap printed no TPS:\n{out}")
    return int(found[-1])


def memcaslap_rounds(ports, rounds, seconds, concurrency):
    """memcaslap against each of ``ports`` (``{name: port}``) for ``rounds`` rounds.

    The order rotates each round, so none always runs first.  Returns
    ``{name: [operations per second, one per round]}``.
    """
    results = {name: [] for name in ports}
    order = list(ports)
    for _ in range(rounds):
        for name in order:
            results[name].append(memcaslap(ports[name], seconds, concurrency))
        order = order[1:] + order[:1]
    return results


def under_callgrind(out, command, caches=False):
    """``command`` run under valgrind's callgrind, its counters dumped to ``out``.1, .2, ...

    ``caches=True`` also simulates the caches, with the last level set to
    one core's own (:func:`core_cache`): what misses it counts went to the
    cache the machine shares, or to memory.
    """
    simulate = ["--cache-sim=yes", "--LL={},{},{}".format(*core_cache())] if caches else []
    return [need("valgrind", "valgrind"), "--tool=callgrind", *simulate,
            f"--callgrind-out-file={out}", *command]


def core_cache():
    """``(bytes, ways, line)`` of the largest cache one core has to itself (its L2), from sysfs.

    Why not valgrind's default (the machine's last level): on a virtual
    machine that is an L3 of hundreds of MiB shared with other tenants, so
    a simulated miss there would almost never happen and a real one often does.
    """
    folder = pathlib.Path("/sys/devices/system/cpu/cpu0/cache/index2")
    try:
        size, ways, line = ((folder / name).read_text().strip()
                            for name in ("size", "ways_of_associativity", "coherency_line_size"))
        return int(size.rstrip("K")) * 1024, int(ways), int(line)
    except (OSError, ValueError):
        return 2 * 1024 * 1024, 16, 64  # a common L2, where sysfs does not say


def callgrind_control(pid, action):
    """Zero (``"-z"``) or dump (``"-d"``) the counters of the callgrind process ``pid``."""
    subprocess.run([need("callgrind_control", "valgrind"), action, str(pid)], check=True,
                   capture_output=True)


def callgrind_summary(path):
    """The instruction count of callgrind's dump at ``path`` (its ``summary:`` line)."""
    return callgrind_totals(path)["Ir"]


def callgrind_totals(path):
    """Each event callgrind counted in its dump at ``path``: ``{"Ir": ..., "DLmw": ..., ...}``."""
    for _ in range(600):  # the dump is written by the process itself, a moment later
        if path.exists():
            lines = path.read_text().splitlines()
            names = next((line.split()[1:] for line in lines if line.startswith("events:")), [])
            for line in lines:
                if line.startswith("summary:") and names:
                    return dict(zip(names, map(int, line.split()[1:])))
        time.sleep(0.1)
    raise SystemExit(f"callgrind wrote no summary to {path}")
