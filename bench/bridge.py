"""Round trip of a no-op into the reactor thread: lab.call vs crochet.wait_for vs the bare minimum.

    .venv/bin/python bench/bridge.py [--calls N] [--rounds R]

All three run in the same process, interleaved round by round, so machine
noise hits them alike; the ratios are what to read.  The bare round trip is
``reactor.callFromThread`` plus a ``threading.Event``: no error handling, no
Deferred support, no timeout.  Target: lab.call / crochet.wait_for <= 1.0.
"""

import argparse
import statistics
import threading
import time

import crochet

import lab


def _noop():
    return None


@crochet.wait_for(timeout=10)
def _crochet_noop():
    return None


def bare_round_trip(reactor):
    """callFromThread + Event: the floor any bridge pays."""
    done = threading.Event()
    reactor.callFromThread(done.set)
    done.wait(10)


def time_per_call(fn, calls):
    """Mean seconds per call of ``fn()`` over ``calls`` calls."""
    start = time.perf_counter()
    for _ in range(calls):
        fn()
    return (time.perf_counter() - start) / calls


def main():
    """Measure, interleaved, and print microseconds per call and the ratios."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    reactor = lab.start().reactor
    contenders = {
        "bare callFromThread+Event": lambda: bare_round_trip(reactor),
        "crochet.wait_for": _crochet_noop,
        "lab.call": lambda: lab.call(_noop),
    }
    samples = {name: [] for name in contenders}
    for fn in contenders.values():  # warm-up
        time_per_call(fn, 200)
    for _ in range(args.rounds):
        for name, fn in contenders.items():
            samples[name].append(time_per_call(fn, args.calls))
    median = {name: statistics.median(values) for name, values in samples.items()}
    bare, crochet_cost = median["bare callFromThread+Event"], median["crochet.wait_for"]
    print(f"{args.rounds} rounds x {args.calls} calls, median per call:")
    for name, seconds in median.items():
        print(f"  {name:28} {seconds * 1e6:8.1f} us   {seconds / bare:5.2f}x bare")
    ratio = median["lab.call"] / crochet_cost
    print(f"lab.call / crochet.wait_for = {ratio:.2f} (target <= 1.0)")


if __name__ == "__main__":
    main()
