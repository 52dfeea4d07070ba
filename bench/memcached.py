"""memcaslap against the lab's memcached and a real ``memcached -t 1``, interleaved, in one run.

    .venv/bin/python bench/memcached.py [--seconds 2] [--rounds 5] [--concurrency 16]
                                        [--processes 3] [--baseline DIR]
                                        [--keeps K,...] [--capture-bytes B,...]
    .venv/bin/python bench/memcached.py --instructions 10000 [--warmup 40000] [--caches]

These servers get the same memcaslap load (``-T 1 -c 16``, its default 9:1
get/set mix with ~1 KB values) round by round, so machine noise hits them
alike: the lab's server (the plugin's factory on a plain reactor), the same
through ``python -m lab serve memcached --no-capture`` (unwrapped) and through
``python -m lab serve memcached`` (the wiretap capturing every event; target:
capture on / off >= 0.9), a real memcached with one worker
thread, a naive Twisted ``LineReceiver`` memcached (get/set only) as the
baseline the issue names, and a "floor" Twisted server that answers without
parsing or caching (the ceiling any server on Twisted's reactor can reach).  Printed: median
operations per second of each and the ratios to memcached.  Target: lab /
memcached >= 0.5.  Everything listens on 127.0.0.1 and is stopped at the end.

A recording floor runs beside them: the same server behind the lab's
wiretap, with a recorder that only appends ``(channel, time, data)`` to a
deque bounded in C: what keeping each chunk costs at the least.  And a
passing floor: the same recorder with a deque that keeps nothing (each
chunk is timed, wrapped and let go at once), so recording floor / passing
floor is what keeping 32 MiB of traffic costs, apart from the per-chunk work.
``--keeps 128,2000`` adds recording floors that keep that many chunks, and
``--capture-bytes 262144`` adds ``serve`` with that capture bound
(``-o max_bytes=``), each compared with capture off: how the cost of
keeping grows with what is kept.

Why several processes of ``serve`` with capture and without: on a virtual
machine one process can run 10-20% slower than an identical one for its
whole life (where its memory landed), which biased a one-process-each ratio
by as much as the effect measured.  ``--processes`` of each are loaded every
round; a round's ratio compares their sums.

``--instructions N`` counts instead of timing: ``serve`` with capture off,
with capture on, and the recording floor each run under valgrind's
callgrind, and the instructions the server runs for N memcaslap operations
are divided by N.  Before counting, ``--warmup`` operations (40,000: enough
to fill the capture's default 32 MiB with memcaslap's ~1 KB values) bring
the capture to its steady state, where every new chunk drops an old one:
counted before that, a capture that keeps whatever it records would not
pay for dropping it.  The same count comes out run after run (to a
percent), where ops/s on a shared virtual machine moved by 10-20%; their
ratio is what capture costs in work, not including what keeping each chunk
costs the caches.  Needs Debian's valgrind.

``--caches`` (with ``--instructions``) also simulates the caches and
prints, per operation, the reads and writes that miss one core's own cache
(its L2; see ``_shared.core_cache``), which is what the counted
instructions leave out: a capture that keeps 32 MiB of traffic writes each
byte it keeps to memory no core's cache holds, a line of 64 bytes at a
time.  How much of the time that explains, the timed floors tell
(``--keeps``): keeping 128 chunks already cost nearly what 60,000 did.
Slower (about twice).
"""

import argparse
import os
import pathlib
import signal
import statistics
import subprocess
import sys
import tempfile

from _shared import (callgrind_control, callgrind_totals, core_cache, free_port, memcaslap, need,
                     start_memcached, under_callgrind, wait_listening)

ROOT = pathlib.Path(__file__).resolve().parent.parent
TARGET = 0.5
FLOOR_KEEPS = 60_000  # chunks the recording floor keeps: about 32 MiB of memcaslap's traffic


def _start_this_file(flag, *options):
    """Run this file as one of its servers (``flag`` names which) on a free port."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, __file__, flag, str(port), *options], cwd=ROOT)
    wait_listening(port, proc)
    return proc, port


def start_lab(capture=False, max_bytes=None):
    """The lab's server through the CLI, with or without traffic capture; ``(proc, port)``."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "lab", "serve", "memcached", "tcp:0:interface=127.0.0.1",
         *([] if capture else ["--no-capture"]),
         *([] if max_bytes is None else ["-o", f"max_bytes={max_bytes}"])],
        cwd=ROOT, stdout=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    if not line.startswith("listening on "):
        raise SystemExit(f"lab serve did not start: {line!r}")
    return proc, int(line.rsplit(":", 1)[1])


def start_lab_factory():
    """The plugin's factory on a plain reactor (no listener, no wiretap); ``(proc, port)``."""
    return _start_this_file("--lab-server")


def start_baseline(tree):
    """The plugin's factory of another checkout ``tree``, on a plain reactor; ``(proc, port)``."""
    port = free_port()
    env = dict(os.environ, PYTHONPATH=str(tree))
    proc = subprocess.Popen([sys.executable, str(tree / "bench" / "memcached.py"),
                             "--lab-server", str(port)], cwd=tree, env=env)
    wait_listening(port, proc)
    return proc, port


def lab_server(port):
    """Serve the memcached plugin's factory alone on the default reactor."""
    from twisted.internet import reactor

    import lab

    factory = lab.plugins().get("memcached").build_factory()
    reactor.listenTCP(port, factory, interface="127.0.0.1")
    reactor.run()


def start_recording_floor(keep=FLOOR_KEEPS):
    """``serve`` as the CLI runs it, behind the wiretap with the cheapest recorder; ``(proc, port)``.

    It keeps the last ``keep`` chunks (see :func:`recording_floor_server`).
    """
    return _start_this_file("--recording-floor-server", "--keep", str(keep))


def recording_floor_server(port, keep=FLOOR_KEEPS):
    """The memcached plugin behind the lab's wiretap, whose recorder only appends to a deque.

    The floor for capture on: every chunk is kept as ``(channel, time,
    data)`` in a deque bounded in C (no offsets, no counts, no byte bound,
    no seq), with the reactor in crochet's thread as ``serve`` has it.  What
    the lab's capture costs beyond this is its bookkeeping.  ``keep``
    chunks are kept (by default about the capture's 32 MiB of memcaslap's
    traffic); with ``keep=0`` the deque drops each chunk as it comes (the
    passing floor).
    """
    import threading
    import time
    from collections import deque

    from twisted.internet import reactor

    import lab
    from lab.adapters.wiretap import WiretapFactory

    class FloorRecorder:
        """Keeps each chunk and nothing else (a recorder as the wiretap expects one)."""

        def __init__(self):
            self.kept, self.ids = deque(maxlen=keep), iter(range(1, 1 << 62))

        def opened(self, transport, peer, local, tap):
            return next(self.ids)

        def recorders(self, cid, deliver=None, failed=None):
            keep, now, into, out_of = self.kept.append, time.time, ("in", cid), ("out", cid)
            deliver = deliver or (lambda data: None)

            def record_in(data):  # then passes the chunk on, as the capture's does
                keep((into, now(), data))
                deliver(data)

            return record_in, (lambda data: keep((out_of, now(), data)))

        def reader(self, cid, receive, deliver, failed, at_end, refused):
            keep, now, into = self.kept.append, time.time, ("in", cid)

            def read():  # the transport's doRead, as the capture's reader is
                try:
                    data = receive()
                except OSError as error:
                    return refused(error)
                if not data:
                    return at_end
                keep((into, now(), data))
                deliver(data)

            return read

        def sender(self, cid, send, gate, otherwise, rest):
            keep, now, out_of = self.kept.append, time.time, ("out", cid)
            thread, get_ident = threading.get_ident(), threading.get_ident

            def write(data):  # the same checks as the capture's, then keep and send
                if not gate.plain or type(data) is not bytes or get_ident() != thread:
                    return otherwise(data)
                keep((out_of, now(), data))
                try:
                    sent = send(data)
                except OSError:
                    sent = 0
                if sent != len(data):
                    rest(data[sent:])

            return write

        def record(self, kind, cid, data):
            self.kept.append(((kind, cid), time.time(), data))

        def closed(self, cid, reason):
            self.kept.append((("close", cid), time.time(), reason))

    lab.start()
    factory = lab.plugins().get("memcached").build_factory()
    lab.call(reactor.listenTCP, port, WiretapFactory(factory, FloorRecorder()),
             interface="127.0.0.1")
    threading.Event().wait()


def start_naive():
    """The naive LineReceiver baseline (this file with --naive-server); ``(proc, port)``."""
    return _start_this_file("--naive-server")


def naive_server(port):
    """Serve get/set like a first Twisted attempt would: LineReceiver, a dict, raw mode."""
    from twisted.internet import reactor
    from twisted.internet.protocol import Factory
    from twisted.protocols.basic import LineReceiver

    store = {}

    class Naive(LineReceiver):
        pending, block = None, b""

        def lineReceived(self, line):
            parts = line.split()
            if parts[:1] == [b"get"]:
                out = [b"VALUE %s %s %d\r\n%s\r\n" % (k, store[k][0], len(store[k][1]),
                                                      store[k][1]) for k in parts[1:]
                       if k in store]
                self.transport.write(b"".join(out) + b"END\r\n")
            elif parts[:1] == [b"set"] and len(parts) >= 5:
                self.pending, self.block = (parts[1], parts[2], int(parts[4])), b""
                self.setRawMode()
            else:
                self.sendLine(b"ERROR")

        def rawDataReceived(self, data):
            self.block += data
            key, flags, size = self.pending
            if len(self.block) >= size + 2:
                store[key] = (flags, self.block[:size])
                rest, self.pending = self.block[size + 2:], None
                self.sendLine(b"STORED")
                self.setLineMode(rest)

    reactor.listenTCP(port, Factory.forProtocol(Naive), interface="127.0.0.1")
    reactor.run()


def start_floor():
    """The no-logic Twisted server (this file with --floor-server); ``(proc, port)``."""
    return _start_this_file("--floor-server")


def floor_server(port):
    """Answer without parsing: a canned 1 KB hit per ``get``, STORED per ``set``.

    Wrong as a cache, right as a measure: the fastest any Twisted-reactor
    server can answer memcaslap here, i.e. the ceiling for the lab's server.
    """
    from twisted.internet import reactor
    from twisted.internet.protocol import Factory, Protocol

    hit = b"VALUE k 0 1024\r\n" + b"x" * 1024 + b"\r\nEND\r\n"

    class Floor(Protocol):
        def dataReceived(self, data):
            reply = hit * data.count(b"get ") + b"STORED\r\n" * data.count(b"set ")
            sent = self.transport.socket.send(reply)  # the same direct send as the lab's adapter
            if sent < len(reply):
                self.transport.write(reply[sent:])

    reactor.listenTCP(port, Factory.forProtocol(Floor), interface="127.0.0.1")
    reactor.run()


def main():
    """Start the three servers, load them in turn for several rounds, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--processes", type=int, default=3,
                        help="processes of each serve and floor server (default 3)")
    parser.add_argument("--naive-server", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--lab-server", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--recording-floor-server", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--keep", type=int, default=FLOOR_KEEPS, help=argparse.SUPPRESS)
    parser.add_argument("--keeps", type=_counts, default=[], metavar="K,...",
                        help="also recording floors that keep K chunks each")
    parser.add_argument("--capture-bytes", type=_counts, default=[], metavar="B,...",
                        help="also serve with capture bounded to B bytes (-o max_bytes=B)")
    parser.add_argument("--floor-server", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--baseline", metavar="DIR",
                        help="also load the lab server of another checkout (e.g. `git archive "
                             "main | tar -x -C DIR`) in the same rounds, and print lab / baseline")
    parser.add_argument("--instructions", type=int, metavar="N",
                        help="count instructions per operation under callgrind instead (see above)")
    parser.add_argument("--warmup", type=int, default=40_000, metavar="W",
                        help="with --instructions: operations before counting (default 40000)")
    parser.add_argument("--caches", action="store_true",
                        help="with --instructions: also count cache misses (see above)")
    args = parser.parse_args()
    if args.instructions:
        return report_instructions(args.instructions, args.concurrency, args.warmup, args.caches)
    if args.floor_server:
        return floor_server(args.floor_server)
    if args.naive_server:
        return naive_server(args.naive_server)
    if args.lab_server:
        return lab_server(args.lab_server)
    if args.recording_floor_server:
        return recording_floor_server(args.recording_floor_server, args.keep)
    servers = {"lab": start_lab_factory(), "memcached -t 1": start_memcached(),
               "naive": start_naive(), "twisted floor": start_floor()}
    for n in range(1, args.processes + 1):
        servers[f"{SERVE_OFF} #{n}"] = start_lab()
        servers[f"{SERVE_ON} #{n}"] = start_lab(capture=True)
        servers[f"{RECORDING_FLOOR} #{n}"] = start_recording_floor()
        servers[f"{PASSING_FLOOR} #{n}"] = start_recording_floor(keep=0)
        for keep in args.keeps:
            servers[f"{_floor_keeping(keep)} #{n}"] = start_recording_floor(keep)
        for size in args.capture_bytes:
            servers[f"{_capture_bounded(size)} #{n}"] = start_lab(capture=True, max_bytes=size)
    if args.baseline:
        servers["lab @baseline"] = start_baseline(pathlib.Path(args.baseline).resolve())
    results = {name: [] for name in servers}
    order = list(servers)
    try:
        for _ in range(args.rounds):
            for name in order:
                results[name].append(memcaslap(servers[name][1], args.seconds, args.concurrency))
            order = order[1:] + order[:1]  # rotate, so no server always runs first
    finally:
        for proc, _ in servers.values():
            proc.terminate()
            proc.wait(10)
    groups = (SERVE_OFF, SERVE_ON, RECORDING_FLOOR, PASSING_FLOOR,
              *map(_floor_keeping, args.keeps), *map(_capture_bounded, args.capture_bytes))
    report(_summed(results, groups), args)


def _counts(text):
    """``"128,2000"`` as ``[128, 2000]`` (an argparse type): whole numbers >= 0."""
    parts = text.split(",")
    if not all(part.isascii() and part.isdigit() for part in parts):
        raise argparse.ArgumentTypeError(f"{text!r} is not whole numbers separated by commas, "
                                         "e.g. 128,2000")
    return [int(part) for part in parts]


def _floor_keeping(keep):
    """The name of the recording floors that keep ``keep`` chunks."""
    return f"floor keeping {keep}"


def _capture_bounded(size):
    """The name of the ``serve`` processes whose capture keeps at most ``size`` bytes."""
    return f"capture {size} B"


SERVE_OFF, SERVE_ON = "lab serve (cli)", "lab serve capture"
RECORDING_FLOOR, PASSING_FLOOR = "recording floor", "passing floor"


def report_instructions(ops, concurrency, warmup, caches=False):
    """Print instructions (and with ``caches``, misses) per operation of serve off, on and the floor."""
    serve = [sys.executable, "-m", "lab", "serve", "memcached", "tcp:0:interface=127.0.0.1"]
    floor_port = free_port()
    commands = {SERVE_OFF: (serve + ["--no-capture"], None), SERVE_ON: (serve, None),
                RECORDING_FLOOR: ([sys.executable, __file__, "--recording-floor-server",
                                   str(floor_port)], floor_port)}
    counts = {name: per_op(command, port, ops, concurrency, warmup, caches)
              for name, (command, port) in commands.items()}
    print(f"instructions per memcaslap operation (-T 1 -c {concurrency} -x {ops}, after "
          f"{warmup} to warm up), counted by callgrind in the server process:")
    for name, count in counts.items():
        misses = (f"   misses beyond one core's cache: {count['DLmr']:5.1f} reads "
                  f"{count['DLmw']:5.1f} writes" if caches else "")
        print(f"  {name:18} {count['Ir']:>9,.0f}{misses}")
    off = counts[SERVE_OFF]["Ir"]
    print(f"  lab serve (cli) / lab serve capture = {off / counts[SERVE_ON]['Ir']:.3f}  "
          "(capture on / off in work; target for ops/s >= 0.9)")
    print(f"  lab serve (cli) / recording floor   = {off / counts[RECORDING_FLOOR]['Ir']:.3f}")
    if caches:
        print(f"  (one core's cache is {core_cache()[0] // 1024} KiB: a miss there goes to the "
              "cache the cores share, or to memory)")


def per_op(command, port, ops, concurrency, warmup, caches=False):
    """What callgrind counts per op in ``command``, a server (printing ``listening on H:P`` if ``port`` is None).

    ``{"Ir": instructions, ...}``, with the cache misses when ``caches``.
    Counted from callgrind's zeroed counters to its dump, so start-up and
    warm-up are not in it.
    """
    with tempfile.TemporaryDirectory() as folder:
        out = pathlib.Path(folder, "callgrind.out")
        proc = subprocess.Popen(under_callgrind(out, command, caches), cwd=ROOT,
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        try:
            if port is None:
                line = proc.stdout.readline()
                if not line.startswith("listening on "):
                    raise SystemExit(f"{' '.join(command)} did not start: {line!r}")
                port = int(line.rsplit(":", 1)[1])
            else:
                wait_listening(port, proc, seconds=300)  # valgrind starts it many times slower
            _operations(port, warmup, concurrency)
            callgrind_control(proc.pid, "-z")
            _operations(port, ops, concurrency)
            callgrind_control(proc.pid, "-d")
            totals = callgrind_totals(pathlib.Path(f"{out}.1"))
            return {event: total / ops for event, total in totals.items()}
        finally:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _operations(port, count, concurrency):
    """Run ``count`` memcaslap operations against 127.0.0.1:``port``."""
    subprocess.run([need("memcaslap", "libmemcached-tools"), "-s", f"127.0.0.1:{port}",
                    "-T", "1", "-c", str(concurrency), "-x", str(count)],
                   check=True, capture_output=True, timeout=3600)


def _summed(results, groups):
    """``results`` with each group's processes (``NAME #n``) summed round by round under NAME."""
    merged = {name: values for name, values in results.items()
              if not any(name.startswith(group + " #") for group in groups)}
    for group in groups:
        members = [values for name, values in results.items() if name.startswith(group + " #")]
        merged[group] = [sum(each) for each in zip(*members)]
    return merged


def _ratio(results, top, bottom):
    """Median over rounds of the per-round ratio: robust to load that changes between rounds."""
    return statistics.median(a / b for a, b in zip(results[top], results[bottom]))


def _spread(results, top, bottom, scale=1):
    """The median per-round ratio (``top`` divided by ``scale``) and its lowest and highest."""
    each = [a / scale / b for a, b in zip(results[top], results[bottom])]
    return f"{statistics.median(each):.2f} [{min(each):.2f}..{max(each):.2f}]"


def report(results, args):
    """Print medians and ratios (each ratio is the median of per-round ratios)."""
    median = {name: statistics.median(values) for name, values in results.items()}
    print(f"memcaslap -T 1 -c {args.concurrency} -t {args.seconds}s, {args.rounds} rounds "
          f"(median ops/s; all rounds in brackets; the serve and floor lines sum "
          f"{args.processes} processes each)")
    for name, values in results.items():
        print(f"  {name:16} {median[name]:>9.0f}  {values}")
    mc = "memcached -t 1"
    print("ratios (median of per-round ratios):")
    print(f"  lab / memcached   = {_ratio(results, 'lab', mc):.2f}  (target >= {TARGET})")
    print(f"  lab serve (cli) / memcached = "
          f"{_ratio(results, 'lab serve (cli)', mc) / args.processes:.2f}  "
          "(serve --no-capture: unwrapped)")
    print(f"  lab serve (cli) / lab = {_spread(results, SERVE_OFF, 'lab', args.processes)}  "
          "(what --no-capture costs over the bare factory)")
    print(f"  lab serve capture / lab serve (cli) = "
          f"{_spread(results, 'lab serve capture', 'lab serve (cli)')}  "
          "(capture on / off, target >= 0.9)")
    print(f"  recording floor / lab serve (cli) = "
          f"{_spread(results, RECORDING_FLOOR, SERVE_OFF)}  "
          "(the wiretap keeping each chunk in a bare deque: the floor for capture on)")
    print(f"  lab serve capture / recording floor = "
          f"{_spread(results, SERVE_ON, RECORDING_FLOOR)}  (what the capture's bookkeeping costs)")
    print(f"  passing floor / lab serve (cli) = {_spread(results, PASSING_FLOOR, SERVE_OFF)}  "
          "(the same recorder keeping nothing: what timing and handing on each chunk costs)")
    print(f"  recording floor / passing floor = "
          f"{_spread(results, RECORDING_FLOOR, PASSING_FLOOR)}  "
          "(what keeping 32 MiB of traffic costs beside that)")
    for name in [*map(_floor_keeping, args.keeps), *map(_capture_bounded, args.capture_bytes)]:
        print(f"  {name} / lab serve (cli) = {_spread(results, name, SERVE_OFF)}")
    print(f"  naive / memcached = {_ratio(results, 'naive', mc):.2f}")
    print(f"  lab / naive       = {_ratio(results, 'lab', 'naive'):.2f}")
    print(f"  twisted floor / memcached = {_ratio(results, 'twisted floor', mc):.2f}  "
          "(no parsing, no cache: the ceiling for a Twisted-reactor server)")
    print(f"  lab / twisted floor = {_ratio(results, 'lab', 'twisted floor'):.2f}")
    if "lab @baseline" in results:
        print(f"  lab / lab @baseline = {_ratio(results, 'lab', 'lab @baseline'):.2f}  "
              f"(this checkout against {args.baseline})")


if __name__ == "__main__":
    main()
