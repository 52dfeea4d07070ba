"""Cost of live inspection: snapshots of 10,000 pending Deferreds, and creation tracking.

    .venv/bin/python bench/debugging.py [--pending N] [--deferreds N] [--rounds R]

Three figures, each against a baseline measured in the same run, rounds
interleaved so machine noise hits both sides alike; medians and the spread
(min-max of the per-round ratios) are printed.

1. ``lab.pending()`` with N pending Deferreds (default 10,000) of mixed
   leaves: a quarter orphans, a quarter on timers, a quarter paused on another
   Deferred, a quarter held by a connection's protocol.  Time per snapshot, and
   the kernel's ``lab.call`` round trip p99 while a thread takes snapshots back
   to back, against the p99 with no snapshots running.
2. Creation tracking on versus off over creating, chaining and firing N
   Deferreds (default 100,000).  Target: at most 1.5x.
3. Tracking off (after it was on) versus a process that never imported the
   lab, same loop, each in a fresh interpreter.  Target: 1.0x.
"""

import argparse
import statistics
import subprocess
import sys
import threading
import time

LOOP = """
import time
from twisted.internet.defer import Deferred

def step(value):
    return value + 1

def loop(count):
    started = time.perf_counter()
    for _ in range(count):
        d = Deferred()
        d.addCallback(step)
        d.callback(1)
    return time.perf_counter() - started
"""


def _loop():
    namespace = {}
    exec(LOOP, namespace)  # the same code object shape as in the subprocesses
    return namespace["loop"]


def _spread(ratios):
    return f"median {statistics.median(ratios):.2f}x (min {min(ratios):.2f}, max {max(ratios):.2f})"


def _p99(samples):
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


def _make_pending(count):
    """N pending Deferreds with mixed leaves, made in the reactor thread; returns what holds them."""
    from twisted.internet import defer, reactor
    from twisted.internet.protocol import Factory, Protocol

    quarter = count // 4
    held = {"orphans": [defer.Deferred() for _ in range(quarter)]}
    timers = []
    for _ in range(quarter):
        d = defer.Deferred()
        timers.append(reactor.callLater(3600, d.callback, None))
    held["timers"] = timers
    chained = []
    for _ in range(quarter):
        inner, outer = defer.Deferred(), defer.Deferred()
        outer.addCallback(lambda _, inner=inner: inner)
        outer.callback(None)
        chained.append((outer, inner))
    held["chained"] = chained

    class Holder(Protocol):
        def connectionMade(self):
            self.waiting = [defer.Deferred() for _ in range(count - 3 * quarter)]

    port = reactor.listenTCP(0, Factory.forProtocol(Holder), interface="127.0.0.1")
    held["port"] = port
    return held


def _drop_pending(held):
    for call in held["timers"]:
        call.cancel()
    for outer, inner in held["chained"]:
        inner.callback(None)
    return held["port"].stopListening()


def snapshot_figures(count, rounds):
    """Time per snapshot and lab.call p99 with and without snapshots running."""
    import lab
    from twisted.internet import reactor

    lab.start()
    held = lab.call(_make_pending, count)
    client = lab.connect(held["port"].getHost().port)
    times, ratios, idle_p99s, busy_p99s = [], [], [], []
    for _ in range(rounds):
        started = time.perf_counter()
        snap = lab.pending()
        times.append(time.perf_counter() - started)
        assert len(snap) >= count, len(snap)
        del snap
        idle = _round_trips(0.5)
        stop = threading.Event()

        def snapshots():
            while not stop.is_set():
                lab.pending(collect_garbage=False)

        runner = threading.Thread(target=snapshots)
        runner.start()
        busy = _round_trips(0.5 + 2 * times[-1])
        stop.set()
        runner.join()
        idle_p99s.append(_p99(idle))
        busy_p99s.append(_p99(busy))
        ratios.append(busy_p99s[-1] / idle_p99s[-1])
    client.close()
    lab.call(_drop_pending, held)
    print(f"1. lab.pending() with {count:,} pending Deferreds (mixed leaves), {rounds} rounds")
    print(f"   time per snapshot: median {statistics.median(times) * 1000:.0f} ms "
          f"(min {min(times) * 1000:.0f}, max {max(times) * 1000:.0f})")
    print(f"   lab.call p99 idle: {statistics.median(idle_p99s) * 1000:.2f} ms; while snapshots "
          f"run: {statistics.median(busy_p99s) * 1000:.1f} ms; ratio {_spread(ratios)}")
    print("   (a snapshot runs in the reactor thread, so a call arriving meanwhile waits for it: "
          "the p99 under back-to-back snapshots is about one snapshot's time)")
    del reactor


def _round_trips(seconds):
    import lab

    samples, deadline = [], time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        started = time.perf_counter()
        lab.call(lambda: None)
        samples.append(time.perf_counter() - started)
        time.sleep(0.002)
    return samples


def tracking_figures(count, rounds):
    """Creating and firing ``count`` Deferreds with tracking off and on, interleaved."""
    from lab import inspect

    loop = _loop()
    ratios, offs, ons = [], [], []
    loop(count // 10)  # warm up
    for _ in range(rounds):
        inspect.track_deferreds(False)
        off = loop(count)
        inspect.track_deferreds(True)
        on = loop(count)
        inspect.track_deferreds(False)
        offs.append(off)
        ons.append(on)
        ratios.append(on / off)
    print(f"2. creating, chaining and firing {count:,} Deferreds, {rounds} rounds")
    print(f"   tracking off: median {statistics.median(offs) * 1000:.0f} ms; on: "
          f"{statistics.median(ons) * 1000:.0f} ms; on/off {_spread(ratios)} (target <= 1.5x)")


_CHILD = LOOP + """
import statistics, sys
if sys.argv[1] == "lab":
    import lab.inspect
    lab.inspect.track_deferreds(True)
    lab.inspect.track_deferreds(False)
loop(int(sys.argv[2]) // 10)
print(statistics.median(loop(int(sys.argv[2])) for _ in range(int(sys.argv[3]))))
"""


def _child(kind, count, repeats):
    out = subprocess.run([sys.executable, "-c", _CHILD, kind, str(count), str(repeats)],
                         capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def untouched_figures(count, rounds):
    """Tracking off after on, against a fresh process that never imported the lab."""
    ratios, plain_times, lab_times = [], [], []
    for index in range(rounds):
        order = ("plain", "lab") if index % 2 == 0 else ("lab", "plain")
        found = {kind: _child(kind, count, 3) for kind in order}
        plain_times.append(found["plain"])
        lab_times.append(found["lab"])
        ratios.append(found["lab"] / found["plain"])
    print(f"3. tracking off vs a process that never imported the lab ({count:,} Deferreds, "
          f"{rounds} rounds, fresh interpreters)")
    print(f"   never imported: median {statistics.median(plain_times) * 1000:.0f} ms; lab "
          f"imported, tracking on then off: {statistics.median(lab_times) * 1000:.0f} ms; "
          f"ratio {_spread(ratios)} (target 1.0x)")


def main():
    """Run the three figures and print them."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pending", type=int, default=10_000)
    parser.add_argument("--deferreds", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    tracking_figures(args.deferreds, args.rounds)
    untouched_figures(args.deferreds, args.rounds)
    snapshot_figures(args.pending, args.rounds)


if __name__ == "__main__":
    main()
