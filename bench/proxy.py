"""memcaslap through the lab's proxy and through Twisted's portforward, each against direct.

    .venv/bin/python bench/proxy.py [--seconds 2] [--rounds 5] [--concurrency 16]

One real ``memcached -t 1`` is the target.  memcaslap (``-T 1 -c 16``, its
default 9:1 get/set mix with ~1 KB values) runs, round by round in rotating
order, against: memcached directly; the lab's proxy in a process of its own
(``lab.proxy(..., framer="memcached")``, capture on, nothing intercepted, no
faults: every message framed by the lab's memcached parser and recorded on
both legs); the same proxy with ``framer="raw"`` (what framing costs); and
``twisted.protocols.portforward`` (the plain byte pump Twisted ships) in a
process of its own.  Printed: median operations per second, all rounds, and
ratios as medians of per-round ratios with their spread (min-max).  Target:
lab proxy / portforward >= 0.8.  Everything is on 127.0.0.1 and stopped at
the end.
"""

import argparse
import pathlib
import statistics
import subprocess
import sys

from _shared import free_port, memcaslap_rounds, start_memcached, wait_listening

ROOT = pathlib.Path(__file__).resolve().parent.parent
TARGET = 0.8


def _start_this_file(flag, *args):
    port = free_port()
    proc = subprocess.Popen([sys.executable, __file__, flag, str(port), *map(str, args)],
                            cwd=ROOT)
    wait_listening(port, proc)
    return proc, port


def lab_proxy(port, target, framer):
    """Run the lab's proxy (crochet's reactor thread, like a notebook) until killed."""
    import threading

    import lab

    lab.start()
    lab.proxy(f"tcp:127.0.0.1:{target}", listen=f"tcp:{port}", framer=framer, name="bench")
    threading.Event().wait()


def portforward(port, target):
    """Run Twisted's portforward on a plain reactor until killed."""
    from twisted.internet import reactor
    from twisted.protocols.portforward import ProxyFactory

    reactor.listenTCP(port, ProxyFactory("127.0.0.1", target), interface="127.0.0.1")
    reactor.run()


def _ratios(results, top, bottom):
    return [a / b for a, b in zip(results[top], results[bottom])]


def _line(results, top, bottom, note=""):
    ratios = _ratios(results, top, bottom)
    return (f"  {top} / {bottom} = {statistics.median(ratios):.2f}  "
            f"(spread {min(ratios):.2f}-{max(ratios):.2f}){note}")


def main():
    """Start memcached and the proxies, load each in turn for several rounds, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--lab-proxy", nargs=3, help=argparse.SUPPRESS)
    parser.add_argument("--portforward", nargs=2, type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.lab_proxy:
        return lab_proxy(int(args.lab_proxy[0]), int(args.lab_proxy[1]), args.lab_proxy[2])
    if args.portforward:
        return portforward(*args.portforward)
    memcached, target = start_memcached()
    servers = {"direct": (None, target),
               "lab proxy": _start_this_file("--lab-proxy", target, "memcached"),
               "lab proxy raw": _start_this_file("--lab-proxy", target, "raw"),
               "portforward": _start_this_file("--portforward", target)}
    try:
        results = memcaslap_rounds({name: port for name, (_, port) in servers.items()},
                                   args.rounds, args.seconds, args.concurrency)
    finally:
        for proc, _ in servers.values():
            if proc is not None:
                proc.terminate()
                proc.wait(10)
        memcached.terminate()
        memcached.wait(10)
    print(f"memcaslap -T 1 -c {args.concurrency} -t {args.seconds}s through each, "
          f"{args.rounds} rounds (median ops/s; all rounds in brackets)")
    for name, values in results.items():
        print(f"  {name:14} {statistics.median(values):>9.0f}  {values}")
    print("ratios (median of per-round ratios, spread min-max):")
    print(_line(results, "lab proxy", "portforward", f"  target >= {TARGET}"))
    print(_line(results, "lab proxy", "direct"))
    print(_line(results, "portforward", "direct"))
    print(_line(results, "lab proxy raw", "portforward", "  (no framing: what framing costs)"))


if __name__ == "__main__":
    main()
