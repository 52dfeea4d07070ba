"""Write every notebook in notebooks/ from its source here (or only the ones named).

    .venv/bin/python notebook_sources/build.py          # all of them
    .venv/bin/python notebook_sources/build.py 03 05    # 03-deferreds.ipynb and 05-memcached.ipynb

Each ``NN_name.py`` source is a list of cells, ``CELLS``, and writes
``notebooks/NN-name.ipynb`` (without outputs) when run as a script; this runs
each of them that way.  tests/test_notebook_sources.py checks that every
notebook is what its source writes, so a notebook edited by hand is caught.
"""

import pathlib
import runpy
import sys

HERE = pathlib.Path(__file__).resolve().parent


def sources(prefixes=()):
    """The notebook sources, in order; only those whose name starts with one of ``prefixes`` if any."""
    found = sorted(p for p in HERE.glob("[0-9]*.py"))
    return [p for p in found if not prefixes or p.name.startswith(tuple(prefixes))]


def main(argv):
    """Run each chosen source as a script, so it writes its notebook."""
    chosen = sources(argv)
    if not chosen:
        sys.exit(f"no notebook source starts with {' or '.join(argv)}; see {HERE}")
    sys.path.insert(0, str(HERE))
    for path in chosen:
        runpy.run_path(str(path), run_name="__main__")


if __name__ == "__main__":
    main(sys.argv[1:])
