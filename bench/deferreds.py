"""Cost of tracing and stepping a long Deferred chain, against the same chain untraced.

    .venv/bin/python bench/deferreds.py [--stages N] [--rounds R]

Each round builds a fresh N-stage chain (``addCallback`` of a small
function, N times) and fires it, three ways, interleaved so machine noise
hits them alike: untraced; traced with ``lab.trace`` (recording only); and
stepped with ``lab.step`` and ``step()`` in a loop.  Each round times
creation and firing together, and (on a chain built apart) the firing
alone.  Times are CPU seconds of this thread (``time.thread_time``: on a
shared machine, time spent waiting for a core is not the chain's), the
median of the rounds; each ratio is the median of the per-round ratios, with
their spread.  Target: traced / untraced <= 2, both ways.

Memory is measured apart (tracemalloc slows everything): the peak while the
chain runs and what stays held by the trace afterwards, per stage; and the
same traced chain carrying a 10 MB value, whose trace must not hold it.
"""

import argparse
import statistics
import time
import tracemalloc

from twisted.internet.defer import Deferred

import lab


def bump(value):
    """The stage function: small, so the chain machinery dominates."""
    return value + 1


def untraced(stages, start=0):
    """Build and fire the plain chain; return the Deferred."""
    d = Deferred()
    for _ in range(stages):
        d.addCallback(bump)
    d.callback(start)
    return d


def traced(stages, start=0, stage=bump):
    """The same chain, recorded by lab.trace (attached before the stages are added)."""
    d = Deferred()
    trace = lab.trace(d)
    for _ in range(stages):
        d.addCallback(stage)
    d.callback(start)
    return trace


def stepped(stages):
    """The same chain under lab.step, run by step() calls, one per stage."""
    d = Deferred()
    stepper = lab.step(d)
    for _ in range(stages):
        d.addCallback(bump)
    d.callback(0)
    for _ in range(stages):
        stepper.step()
    return stepper


def seconds(fn, *args):
    """CPU time of this thread for one call."""
    start = time.thread_time()
    fn(*args)
    return time.thread_time() - start


def firing(make, stages):
    """CPU time of the firing alone: the chain (and its trace) are built first."""
    d = Deferred()
    kept = make(d)
    for _ in range(stages):
        d.addCallback(bump)
    start = time.thread_time()
    d.callback(0)
    elapsed = time.thread_time() - start
    assert d.result == stages, kept
    return elapsed


def memory(fn, *args):
    """(peak bytes while running, bytes still held by what ``fn`` returned)."""
    tracemalloc.start()
    kept = fn(*args)
    held, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    del kept
    return peak, held


def check(stages):
    """Refuse to report numbers for chains that did not compute the right thing."""
    assert untraced(stages).result == stages
    assert traced(stages).result == stages
    assert stepped(stages).result == stages


def main():
    """Measure, interleaved, and print times, ratios and memory."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stages", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=9)
    args = parser.parse_args()
    n = args.stages
    check(min(n, 100))
    samples = {"untraced": [], "traced": [], "stepped": [], "untraced firing": [],
               "traced firing": []}
    for _ in range(args.rounds):
        samples["untraced"].append(seconds(untraced, n))
        samples["traced"].append(seconds(traced, n))
        samples["stepped"].append(seconds(stepped, n))
        samples["untraced firing"].append(firing(lambda d: None, n))
        samples["traced firing"].append(firing(lab.trace, n))
    print(f"{n:,}-stage chain, CPU time, median of {args.rounds} interleaved rounds")
    for name, times in samples.items():
        median = statistics.median(times)
        print(f"  {name:16s} {median * 1e3:8.2f} ms  {median / n * 1e6:6.2f} us/stage")
    print("ratios (median of per-round ratios [lowest..highest]):")
    for top, bottom, target in (("traced", "untraced", 2), ("traced firing", "untraced firing", 2),
                                ("stepped", "untraced", None)):
        ratios = [a / b for a, b in zip(samples[top], samples[bottom])]
        median = statistics.median(ratios)
        verdict = "" if target is None else (
            f"  (target <= {target}) {'OK' if median <= target else 'ABOVE TARGET'}")
        print(f"  {top} / {bottom}: {median:5.2f}x [{min(ratios):.2f}..{max(ratios):.2f}]{verdict}")
    _report_memory(n)


def _report_memory(n):
    print("memory (tracemalloc)")
    base_peak, _ = memory(untraced, n)
    for name, fn in (("untraced", untraced), ("traced", traced), ("stepped", stepped)):
        peak, held = memory(fn, n)
        print(f"  {name:9s} peak {peak / 1e6:6.2f} MB ({(peak - base_peak) / n:7.1f} B/stage "
              f"over untraced); held afterwards {held / n:6.1f} B/stage")
    big = b"x" * 10_000_000
    peak, held = memory(traced, 100, big, bytes)
    print(f"  traced 100 stages carrying a 10 MB value: peak {peak / 1e6:.1f} MB, "
          f"held afterwards {held / 1e3:.1f} kB (the value itself is not kept per stage)")


if __name__ == "__main__":
    main()
