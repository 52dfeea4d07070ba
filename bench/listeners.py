"""Echo throughput with capture off and on, and drawing the conversation view over 100,000 events.

    .venv/bin/python bench/listeners.py [--rounds R] [--connections C] [--requests N]
                                        [--size B] [--small-size B]
    .venv/bin/python bench/listeners.py --instructions [--requests N]

Throughput: the same load test (C concurrent clients, N requests each, every
reply checked) against four echo servers in one process, in rounds whose
order rotates so machine noise hits them alike: a bare ``reactor.listenTCP``
(no lab at all), a lab listener with ``wiretap=False`` (unwrapped, what
``serve --no-capture`` runs), one with ``capture=False`` (wiretap, counts
only) and one with ``capture=True`` (every event kept), and a fifth whose
capture keeps only its last :data:`FEW` events: how much of capture's cost
is keeping events at all rather than keeping many.  Twice: with B-byte
payloads (1 KB) and with small ones (32 bytes, where the cost per event
shows).  The clients run in the same reactor as the servers, as they do in a
notebook.  Each ratio is the median of the per-round ratios, with their
spread.  Targets: capture on / capture off >= 0.95 for 1 KB.

Drawing: a listener's capture is filled with 100,000 events, then the
conversation view is built and drawn (text, hex, a no-change refresh, and
decoding all of it through the chat plugin's decoder, refresh by refresh).

Memory: what a capture of as many events holds beyond their data (the
ring's bound is on data; this is what each event costs beside it).

``--instructions`` counts instead of timing: the same load test against a
capture-off and a capture-on listener, each in its own process under
valgrind's callgrind, and the instructions that process runs (servers and
clients, as in a notebook) per request after a warm-up.  The count repeats
run after run where requests/s on a shared virtual machine did not; the
ratio is what capture costs in work, not what keeping each chunk costs the
caches.  Needs Debian's valgrind.
"""

import argparse
import os
import pathlib
import statistics
import subprocess
import sys
import tempfile
import time

from _shared import callgrind_control, callgrind_summary, under_callgrind

import lab
from lab.model import load_test, stop_all

FEW = 128  # events the fifth server's capture keeps: one sealed chunk of the ring


def bare_echo(port_holder):
    """Listen with plain Twisted (no wiretap) in the reactor thread; return the port."""
    from twisted.internet import reactor

    from lab.adapters.echo import EchoFactory

    return reactor.listenTCP(0, EchoFactory(), interface="127.0.0.1")


def throughput(target, args, size):
    """Requests per second of one load test against ``target``."""
    payload = bytes(range(256)) * (size // 256) + b"x" * (size % 256)
    report = load_test(target, connections=args.connections, requests=args.requests,
                       payload=payload, verify=True, timeout=120)
    assert report.errors == 0, report.error_samples
    return report.throughput


def measure_throughput(args, size, target):
    """Rotating rounds over the five servers; print medians, ratios and their spread."""
    bare = lab.call(bare_echo, None)
    servers = {"bare twisted": bare.getHost().port,
               "no wiretap": lab.listen("echo", name="bench-raw", capture=False, wiretap=False),
               "capture off": lab.listen("echo", name="bench-off", capture=False),
               "capture on": lab.listen("echo", name="bench-on", capture=True),
               f"keeping {FEW}": lab.listen("echo", name="bench-few", capture=True,
                                             max_events=FEW)}
    results = {name: [] for name in servers}
    order = list(servers)
    for _ in range(args.rounds):
        for name in order:
            results[name].append(throughput(servers[name], args, size))
        order = order[1:] + order[:1]
    lab.call(bare.stopListening)
    stop_all()
    print(f"echo throughput, {args.connections} connections x {args.requests} requests of "
          f"{size} bytes, {args.rounds} rotating rounds (requests/s):")
    for name, values in results.items():
        print(f"  {name:13} median {statistics.median(values):10.0f}   "
              f"[{min(values):.0f}..{max(values):.0f}]")
    ratios = {}
    for top, bottom in (("capture on", "capture off"), (f"keeping {FEW}", "capture off"),
                        ("capture on", "no wiretap"),
                        ("capture off", "no wiretap"), ("no wiretap", "bare twisted")):
        each = [a / b for a, b in zip(results[top], results[bottom])]
        ratios[top, bottom] = median = statistics.median(each)
        verdict = ""
        if (top, bottom) == ("capture on", "capture off") and target:
            verdict = f" (target >= {target}) {'OK' if median >= target else 'BELOW TARGET'}"
        print(f"  ratio {top} / {bottom}: {median:.3f} [{min(each):.2f}..{max(each):.2f}]"
              f"{verdict}")
    return ratios


def fill(capture, events, port):
    """Record ``events`` chat-like events (half in, half out) on one connection."""
    cid = capture.opened("tcp", ("127.0.0.1", 40000), ("127.0.0.1", port), None)
    for n in range(events // 2):
        capture.record("in", cid, b"line number %d from the client\r\n" % n)
        capture.record("out", cid, b"<guest> line number %d to the room\r\n" % n)


def timed(fn):
    """Seconds ``fn()`` takes."""
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def measure_view(events):
    """Build and draw the conversation view over ``events`` captured events; print the times."""
    from lab.widgets.conversation import MAX_DECODE_PER_REFRESH, ConversationView

    listener = lab.listen("chat", name="bench-view", max_events=events + 10)
    fill(listener.capture, events, listener.port)
    holder = {}
    build = timed(lambda: holder.setdefault("view", ConversationView(listener, live=False)))
    view = holder["view"]
    hexed = timed(lambda: setattr(view.mode, "value", "hex"))
    idle = timed(view.refresh)
    refreshes = 0

    def decode_all():
        nonlocal refreshes
        view.mode.value = "decoded"
        refreshes = 1
        while "events to go" in view.status.value:
            view._drawn_key = None
            view.refresh()
            refreshes += 1

    decoded = timed(decode_all)
    print(f"conversation view over {len(listener.capture):,} captured events "
          f"({view.rows.html.count('<tr style')} rows drawn):")
    print(f"  build and first draw (text): {build * 1000:8.1f} ms")
    print(f"  switch to hex dump:          {hexed * 1000:8.1f} ms")
    print(f"  refresh with nothing new:    {idle * 1000:8.3f} ms")
    print(f"  decode all ({refreshes} refreshes):    {decoded * 1000:8.1f} ms "
          f"(each refresh decodes at most {MAX_DECODE_PER_REFRESH:,} events)")
    view.close()
    stop_all()


def report_instructions(args):
    """Print instructions per echo request with capture off and on, at both sizes."""
    print(f"instructions per echo request ({args.connections} connections x {args.requests} "
          "requests, servers and clients in one process as in a notebook), counted by callgrind:")
    for size, target in ((args.size, 0.95), (args.small_size, None)):
        counts = {mode: instructions_per_request(mode, args, size) for mode in ("off", "on")}
        verdict = f" (target for requests/s >= {target})" if target else ""
        print(f"  {size:>5} bytes: capture off {counts['off']:>9,.0f}   capture on "
              f"{counts['on']:>9,.0f}   off / on = {counts['off'] / counts['on']:.3f}{verdict}")


def instructions_per_request(mode, args, size):
    """Instructions one process runs per request of the load test, capture ``mode`` on or off."""
    with tempfile.TemporaryDirectory() as folder:
        out = pathlib.Path(folder, "callgrind.out")
        subprocess.run(
            under_callgrind(out, [sys.executable, __file__, "--counted", mode, "--size", str(size),
                                  "--connections", str(args.connections),
                                  "--requests", str(args.requests)]),
            check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=3600)
        return callgrind_summary(pathlib.Path(f"{out}.1")) / (args.connections * args.requests)


def counted(mode, args):
    """Under callgrind: warm up, zero the counters, run the load test, dump them."""
    lab.start()
    listener = lab.listen("echo", name="bench-counted", capture=(mode == "on"))
    warm = argparse.Namespace(connections=args.connections, requests=max(args.requests // 5, 1))
    throughput(listener, warm, args.size)
    callgrind_control(os.getpid(), "-z")
    throughput(listener, args, args.size)
    callgrind_control(os.getpid(), "-d")
    stop_all()


def measure_memory(events):
    """What a capture of ``events`` chat events holds in memory beyond their data; print it.

    Traced by ``tracemalloc`` (the Python heap the capture grows by), against
    the data itself: the ring's bound is on data, and what each event costs
    beside it is what a full ring of small events really holds.
    """
    import tracemalloc

    from lab.model import Capture

    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    capture = Capture(max_events=events + 10)
    fill(capture, events, 0)
    kept = len(capture)  # seals what is pending
    held = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    print(f"capture memory over {kept:,} events ({capture.size:,} bytes of data): "
          f"{held / 1e6:.1f} MB, {held / capture.size:.2f}x the data, "
          f"{(held - capture.size) / kept:.0f} bytes per event beside it")


def main():
    """Run the measurements and print them."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--size", type=int, default=1024)
    parser.add_argument("--small-size", type=int, default=32)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--instructions", action="store_true",
                        help="count instructions per request under callgrind instead (see above)")
    parser.add_argument("--counted", choices=("off", "on"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.counted:
        return counted(args.counted, args)
    if args.instructions:
        return report_instructions(args)
    lab.start()
    measure_throughput(args, args.size, 0.95)
    measure_throughput(args, args.small_size, None)
    measure_view(args.events)
    measure_memory(args.events)


if __name__ == "__main__":
    main()
