"""Memory under hostile clients: the lab's memcached against a real ``memcached``, in one run.

    .venv/bin/python bench/memcached_memory.py [--rounds 3] [--stalled 1000] [--tiny-mib 64]

Three attacks, each on a fresh server per round, the two servers taking
turns (resident memory from /proc, growth over the server's idle size):

* ``large gets``: four clients each pipeline 64 KiB of ``get big`` (a 1 MB
  value, ~9,000 gets, gigabytes of replies) and never read;
* ``stalled sets``: 1,000 connections each start a 900 kB ``set``, send half
  of it and stall;
* ``tiny items``: the cache (64 MiB) is filled with 1-byte items.

Printed: median growth in MiB (min-max), the lab/memcached ratio, and for
tiny items the growth over the memory limit.  A client's round trip after
each attack shows the server still answers others.  Everything listens on
127.0.0.1 and is stopped at the end.  memcached runs with ``-c 4096`` so its
connection limit does not refuse the stalled clients' neighbour.
"""

import argparse
import contextlib
import pathlib
import statistics
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.memcached_peers import (fill_tiny_items, free_port, lab_server_process,  # noqa: E402
                                   never_reading_gets, require, round_trip, rss, settle_rss,
                                   stalled_sets, wait_connectable)

MiB = 1048576


@contextlib.contextmanager
def memcached(memory_mib):
    """Debian's memcached, one worker thread; yields ``(port, pid)``."""
    port = free_port()
    proc = subprocess.Popen([require("memcached"), "-p", str(port), "-l", "127.0.0.1", "-U", "0",
                             "-t", "1", "-c", "4096", "-m", str(memory_mib), "-u", "root"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_connectable(port, proc)
        yield port, proc.pid
    finally:
        proc.kill()
        proc.wait(10)


@contextlib.contextmanager
def lab(memory_mib):
    """``python -m lab serve memcached`` (no capture); yields ``(port, pid)``."""
    with lab_server_process(f"memory_limit={memory_mib * MiB}") as (_, port, pid):
        yield port, pid


def attack(name, port, args):
    """Run one attack; return the sockets to close after measuring."""
    if name == "large gets":
        return never_reading_gets(port)
    if name == "stalled sets":
        return stalled_sets(port, count=args.stalled)
    fill_tiny_items(port, args.tiny_mib)
    return []


def measure(server, name, args):
    """RSS growth (bytes) of one fresh server under one attack, and a round trip after it."""
    with server(args.tiny_mib) as (port, pid):
        before = rss(pid)
        socks = attack(name, port, args)
        try:
            grown = settle_rss(pid, 1.0) - before
            seconds = round_trip(port)
        finally:
            for sock in socks:
                sock.close()
    return grown, seconds


def main():
    """Run each attack on each server for several rounds; print medians and ratios."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--stalled", type=int, default=1000)
    parser.add_argument("--tiny-mib", type=int, default=64)
    args = parser.parse_args()
    servers = {"lab": lab, "memcached": memcached}
    print(f"{'attack':14} {'server':10} {'RSS growth MiB (min-max)':>26} {'answer ms':>10}")
    for name in ("large gets", "stalled sets", "tiny items"):
        growth = {}
        for server in servers:
            samples = [measure(servers[server], name, args) for _ in range(args.rounds)]
            grown = [g for g, _ in samples]
            growth[server] = statistics.median(grown)
            answer = statistics.median(s for _, s in samples) * 1000
            print(f"{name:14} {server:10} {growth[server] / MiB:8.1f} "
                  f"({min(grown) / MiB:.1f}-{max(grown) / MiB:.1f}){'':8} {answer:10.1f}")
        ratio = growth["lab"] / max(growth["memcached"], 1)
        print(f"{name:14} lab/memcached growth: {ratio:.2f}")
        if name == "tiny items":
            print(f"{name:14} lab growth / memory limit: "
                  f"{growth['lab'] / (args.tiny_mib * MiB):.2f}")


if __name__ == "__main__":
    main()
