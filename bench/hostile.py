"""Memory under hostile clients: RSS growth of a server process, lab vs the same server without protection.

    .venv/bin/python bench/hostile.py [--rounds R] [--clients C] [--cap MB]

Each attack runs against a fresh server process (so its RSS is its own),
side by side with a baseline in the same round, rounds rotating so that
machine noise hits both alike:

- flood echo: C clients send 64 KiB chunks and never read.  Lab echo
  (back-pressure) vs a plain Twisted echo protocol with no producer.
- flood chat: C members send lines and never read.  Lab chat vs a naive
  broadcast chat with no producer.
- flood user protocol: C clients against a protocol that answers 4x what it
  reads, with no flow control of its own: behind the lab's wiretap vs served
  by bare Twisted.
- burst: 1,000 connections at once to echo, each sending a byte and reading
  it back: the lab's backlog (1024) vs Twisted's default (50); RSS and the
  seconds it takes (a figure, not a test).

An unprotected server reads everything, so each attacking client stops at
``--cap`` MB sent (default 32) to keep the baseline from eating a shared
machine; the real growth without protection is unbounded.  Prints medians
and the spread (min-max) of each, and the ratio lab / baseline.  The lab
runs with its capture on (what a user gets) and off (back-pressure alone).
"""

import argparse
import os
import pathlib
import statistics
import subprocess
import sys
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))

from tests.hostile import Flood, burst  # noqa: E402

MiB = 1024 * 1024

SERVER = r'''
import sys
import lab
from twisted.internet import protocol, reactor

class PlainEcho(protocol.Protocol):
    def dataReceived(self, data):
        self.transport.write(data)

class Amplifier(protocol.Protocol):
    def dataReceived(self, data):
        self.transport.write(data * 4)

class NaiveChat(protocol.Protocol):
    def connectionMade(self):
        self.factory.members.add(self)
    def connectionLost(self, reason):
        self.factory.members.discard(self)
    def dataReceived(self, data):
        for member in self.factory.members:
            if member is not self:
                member.transport.write(data)

def bare(cls, backlog=50):
    factory = protocol.Factory.forProtocol(cls)
    factory.members = set()
    return lab.call(reactor.listenTCP, 0, factory, backlog, "127.0.0.1").getHost().port

lab.start()
kind = sys.argv[1]
ports = {
    "lab-echo": lambda: lab.listen("echo").port,
    "lab-echo-nocap": lambda: lab.listen("echo", capture=False).port,
    "lab-chat-nocap": lambda: lab.listen("chat", capture=False).port,
    "lab-amplifier-nocap": lambda: lab.listen(Amplifier, capture=False).port,
    "bare-echo": lambda: bare(PlainEcho),
    "lab-chat": lambda: lab.listen("chat").port,
    "bare-chat": lambda: bare(NaiveChat),
    "lab-amplifier": lambda: lab.listen(Amplifier).port,
    "bare-amplifier": lambda: bare(Amplifier),
    "lab-echo-backlog-50": lambda: lab.listen("echo", backlog=50).port,
}
print(ports[kind](), flush=True)
sys.stdin.read()
'''


def rss_of(pid):
    """Resident memory of process ``pid`` in bytes."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


class Server:
    """A server process of one kind; ``port`` it listens on, ``rss()`` its memory."""

    def __init__(self, kind):
        self.process = subprocess.Popen([sys.executable, "-c", SERVER, kind],
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.port = int(self.process.stdout.readline())

    def rss(self):
        """Its resident memory now."""
        return rss_of(self.process.pid)

    def stop(self):
        """End it."""
        self.process.stdin.close()
        self.process.terminate()
        self.process.wait(30)


def flood(kind, chunk, args):
    """RSS growth (bytes) of a ``kind`` server while ``args.clients`` never-reading clients flood it."""
    server = Server(kind)
    try:
        time.sleep(0.2)
        before = server.rss()
        attackers = Flood(server.port, args.clients, chunk)
        attackers.until_stalled(cap=args.cap * MiB, stall=1.0)
        time.sleep(0.5)  # let the server finish what it read
        grown = server.rss() - before
        attackers.close()
        return grown
    finally:
        server.stop()


def burst_figures(kind, count=1000):
    """``(RSS growth, seconds, echoed)`` of a burst of ``count`` connects to a ``kind`` server."""
    server = Server(kind)
    try:
        time.sleep(0.2)
        before = server.rss()
        started = time.perf_counter()
        echoed = burst(server.port, count)
        return server.rss() - before, time.perf_counter() - started, echoed
    finally:
        server.stop()


def show(label, lab_values, base_values, unit, scale, nocap_values=None):
    """Print medians, spreads and the ratio of one comparison."""
    def fmt(values):
        values = [v / scale for v in values]
        return (f"median {statistics.median(values):8.1f} {unit} "
                f"(spread {min(values):.1f}-{max(values):.1f})")

    base = statistics.median(base_values)
    ratio = statistics.median(lab_values) / base if base else float("nan")
    print(f"  {label}")
    print(f"    lab                {fmt(lab_values)}")
    if nocap_values:
        print(f"    lab, capture off   {fmt(nocap_values)}")
    print(f"    baseline           {fmt(base_values)}")
    print(f"    ratio lab / baseline: {ratio:.3f}")
    if nocap_values:
        nocap = statistics.median(nocap_values) / base if base else float("nan")
        print(f"    ratio lab with capture off / baseline: {nocap:.3f}")


def main():
    """Run every attack, rounds rotating, and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--cap", type=int, default=32, help="MB each attacker sends at most")
    args = parser.parse_args()
    lines = (b"y" * 100 + b"\n") * 600
    attacks = {
        "flood echo (64 KiB chunks, never read)": ("lab-echo", "bare-echo", b"z" * 65536),
        "flood chat (100-byte lines, never read)": ("lab-chat", "bare-chat", lines),
        "flood user protocol answering 4x (wiretap vs bare)":
            ("lab-amplifier", "bare-amplifier", b"a" * 65536),
    }
    results = {name: ([], [], []) for name in attacks}
    bursts = ([], [])
    for round_ in range(args.rounds):
        order = list(attacks.items())
        order = order[round_ % len(order):] + order[:round_ % len(order)]
        for name, (lab_kind, base_kind, chunk) in order:
            trio = [(lab_kind, 0), (base_kind, 1), (lab_kind + "-nocap", 2)]
            for kind, slot in (trio if round_ % 2 == 0 else trio[::-1]):
                results[name][slot].append(flood(kind, chunk, args))
        for kind, slot in (("lab-echo", 0), ("lab-echo-backlog-50", 1)):
            bursts[slot].append(burst_figures(kind))
    print(f"RSS growth of the server process, {args.clients} attacking clients, each stopping "
          f"at {args.cap} MB sent, {args.rounds} rounds (pid {os.getpid()}):")
    for name, (lab_values, base_values, nocap_values) in results.items():
        show(name, lab_values, base_values, "MiB", MiB, nocap_values)
    print("  (with capture on, the listener's ring buffer keeps up to max_bytes=32 MiB of data "
          "plus about 200 bytes per event, up to max_events=200,000: bounded, by design)")
    print("burst of 1,000 connections at once to echo (baseline: backlog 50):")
    show("RSS growth", [b[0] for b in bursts[0]], [b[0] for b in bursts[1]], "MiB", MiB)
    show("seconds until every client had its echo", [b[1] for b in bursts[0]],
         [b[1] for b in bursts[1]], "s", 1)
    print(f"    echoed: lab {[b[2] for b in bursts[0]]}, baseline {[b[2] for b in bursts[1]]}")


if __name__ == "__main__":
    main()
