"""The command line: ``python -m lab`` (or ``protocol-lab``).

    python -m lab version
    python -m lab plugins
    python -m lab serve PLUGIN ENDPOINT [--option NAME=VALUE ...] [--allow-remote]

``serve`` runs a protocol plugin's server without Jupyter, on the same
listener machinery the notebooks use, until SIGINT or SIGTERM.  When the
server is ready it prints exactly one line, ``listening on HOST:PORT`` (or
``listening on unix:PATH``), so scripts can wait for it and read the port.
"""

import argparse
import signal
import sys
import threading

__all__ = ["main", "parse_option"]


def parse_option(text):
    """Turn ``NAME=VALUE`` into ``(name, value)``; VALUE becomes an int or float when it is one."""
    name, sep, value = text.partition("=")
    if not sep or not name.isidentifier():
        raise argparse.ArgumentTypeError(
            f"option {text!r} is not NAME=VALUE; write e.g. --option memory_limit=1048576"
        )
    for convert in (int, float):
        try:
            return name, convert(value)
        except ValueError:
            pass
    return name, value


def _parser():
    parser = argparse.ArgumentParser(prog="python -m lab", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("version", help="print the versions of the lab, Twisted and crochet")
    commands.add_parser("plugins", help="list the protocol plugins found, with their status")
    serve = commands.add_parser("serve", help="run a plugin's server until SIGINT/SIGTERM")
    serve.add_argument("plugin", help="plugin name, e.g. echo or memcached")
    serve.add_argument("endpoint", nargs="?", default=None,
                       help="Twisted server endpoint string, e.g. tcp:0:interface=127.0.0.1 "
                            "(default: the plugin's own)")
    serve.add_argument("--option", "-o", action="append", type=parse_option, default=[],
                       metavar="NAME=VALUE", help="an option for the plugin's factory")
    serve.add_argument("--allow-remote", action="store_true",
                       help="allow an interface other than loopback")
    serve.add_argument("--backlog", type=int, default=None,
                       help="listen queue length for stream endpoints (default 1024)")
    serve.add_argument("--no-capture", action="store_true",
                       help="serve the protocol unwrapped: record and count nothing "
                            "(for benchmarks)")
    return parser


def _version():
    import crochet
    import twisted

    from lab._version import __version__

    print(f"protocol-lab {__version__} (twisted {twisted.__version__}, "
          f"crochet {crochet.__version__}, python {sys.version.split()[0]})")
    return 0


def _plugins():
    import lab

    registry = lab.plugins()
    for name in registry.names():
        info = registry.info(name)
        status = "broken" if info.get("error") else "ok"
        print(f"{name:16} {status:7} {info.get('description', '')}")
    return 0


def _serve(args):
    import lab

    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    lab.start()
    options = dict(args.option)
    if args.no_capture:
        options["capture"] = options["wiretap"] = False
    if args.backlog is not None:
        options["backlog"] = args.backlog
    try:
        if args.endpoint is not None:
            options["endpoint"] = args.endpoint
        listener = lab.listen(args.plugin, allow_remote=args.allow_remote, **options)
    except (lab.LabError, ValueError, TypeError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    where = f"unix:{listener.path}" if listener.path else f"{listener.host}:{listener.port}"
    print(f"listening on {where}", flush=True)
    while not stop.wait(0.5):  # a timed wait so that signals are handled promptly
        pass
    listener.stop()
    return 0


def main(argv=None):
    """Run the command line; returns (and exits with) its exit code."""
    args = _parser().parse_args(argv)
    handlers = {"version": _version, "plugins": _plugins}
    code = handlers[args.command]() if args.command in handlers else _serve(args)
    sys.exit(code)
