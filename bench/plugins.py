"""Plugin discovery: the lab's registry against raw ``twisted.plugin.getPlugins``, same folder, same run.

    python bench/plugins.py [--modules 200] [--rounds 15]

A temporary folder gets 200 generated plugin modules (one protocol plugin
each, its implementation a dotted path, as shipped plugins declare them).
Both sides scan the same plugin package, so they read and write the same
``dropin.cache``:

- cold: no dropin.cache and no plugin module imported (Twisted imports every
  module and writes the cache);
- warm: dropin.cache fresh and the modules imported, as on every call after
  the first; the lab side is a *new* registry, so it really discovers (a
  registry that already scanned answers ``names()`` from memory, and its
  ``rescan()`` only stats the files: shown on its own line).

The files are dated a minute back: a file modified within RACY_SECONDS of a
scan is re-imported at the next one on purpose (an edit inside the file
system's timestamp granularity would be invisible otherwise), which is not
what a warm scan of a settled folder measures.

Rounds alternate the two sides; each figure is the median of its rounds.
Warm discovery must cost at most 1.2x raw getPlugins; the exit code says.
"""

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time

from twisted.plugin import getPlugins

from lab.plugin import _freshness, _packages
from lab.interfaces import ILabPlugin
from lab.plugin import PluginRegistry

LIMIT = 1.2
MODULE = '''"""Generated plugin {index}."""
from lab.interfaces import protocol_plugin

plugin_{index:03d} = protocol_plugin(
    "bench_{index:03d}", "Generated plugin number {index}.",
    factory="collections:OrderedDict", requires={requires!r},
)
'''


def generate(folder, count):
    """Write ``count`` plugin modules (each requiring its predecessor) dated a minute back."""
    past = time.time() - 60
    for index in range(count):
        requires = [f"bench_{index - 1:03d}"] if index else []
        path = os.path.join(folder, f"mod_{index:03d}.py")
        with open(path, "w") as file:
            file.write(MODULE.format(index=index, requires=requires))
        os.utime(path, (past, past))


def make_cold(folder, package):
    """Remove dropin.cache and every imported plugin module of ``package``, for both sides."""
    cache = os.path.join(folder, "dropin.cache")
    if os.path.exists(cache):
        os.remove(cache)
    prefix = package.__name__ + "."
    for name in [n for n in sys.modules if n.startswith(prefix)]:
        del sys.modules[name]
        if hasattr(package, name[len(prefix):]):
            delattr(package, name[len(prefix):])
        _freshness.module_signatures.pop(name, None)
        _freshness.racy_modules.pop(name, None)


def timed(function):
    """Seconds that one call of ``function`` takes."""
    started = time.perf_counter()
    function()
    return time.perf_counter() - started


def raw(package, count):
    """Twisted's own discovery of the package's lab plugins."""
    found = list(getPlugins(ILabPlugin, package))
    assert count == len(found), f"raw getPlugins found {len(found)}, not {count}"


def lab_fresh(folder, count):
    """A new registry's discovery of the folder."""
    found = PluginRegistry([folder], shipped=False).names()
    assert count == len(found), f"the registry found {len(found)}, not {count}"


def measure(folder, count, rounds):
    """Median seconds of each side, cold and warm, alternating in every round."""
    package = _packages.folder_package(os.path.realpath(folder))
    times = {k: [] for k in ("raw cold", "lab cold", "raw warm", "lab warm", "lab rescan")}
    settled = PluginRegistry([folder], shipped=False)
    for _ in range(rounds):
        make_cold(folder, package)
        times["raw cold"].append(timed(lambda: raw(package, count)))
        make_cold(folder, package)
        times["lab cold"].append(timed(lambda: lab_fresh(folder, count)))
        settled.names()
        for _ in range(3):
            times["raw warm"].append(timed(lambda: raw(package, count)))
            times["lab warm"].append(timed(lambda: lab_fresh(folder, count)))
            times["lab rescan"].append(timed(settled.rescan))
    return {k: statistics.median(v) for k, v in times.items()}


def report(medians, count):
    """Print the figures and ratios; True when warm discovery is within the limit."""
    print(f"plugin discovery over {count} generated modules (median of rounds)")
    for name, seconds in medians.items():
        print(f"  {name:11} {seconds * 1000:8.2f} ms")
    cold = medians["lab cold"] / medians["raw cold"]
    warm = medians["lab warm"] / medians["raw warm"]
    rescan = medians["lab rescan"] / medians["raw warm"]
    print(f"  ratio cold   lab/raw = {cold:.2f}x")
    print(f"  ratio warm   lab/raw = {warm:.2f}x  (limit {LIMIT}x)")
    print(f"  ratio rescan lab/raw warm = {rescan:.2f}x")
    ok = warm <= LIMIT
    print("OK" if ok else f"FAIL: warm discovery costs {warm:.2f}x raw getPlugins (> {LIMIT}x)")
    return ok


def main(argv=None):
    """Run the benchmark in a temporary folder; exit 1 if warm discovery is over the limit."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--modules", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args(argv)
    folder = tempfile.mkdtemp(prefix="lab-bench-plugins-")
    try:
        generate(folder, args.modules)
        ok = report(measure(folder, args.modules, args.rounds), args.modules)
    finally:
        shutil.rmtree(folder)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
