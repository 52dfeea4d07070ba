"""The public surface is fully annotated, mypy (configured in pyproject.toml) passes, and py.typed ships."""

import importlib
import inspect
import pathlib

import pytest
from mypy import api

ROOT = pathlib.Path(__file__).resolve().parent.parent
# The packages whose __all__ is the public surface: every lab.* name and the
# classes of the objects they return (registry, listener, capture, client,
# trace, stage, report, view...).
SURFACE = ["lab", "lab.bridge", "lab.errors", "lab.model", "lab.deferreds", "lab.plugin",
           "lab.display", "lab.interfaces", "lab.widgets", "lab.simulator", "lab.inspect"]


def test_mypy_passes_on_the_package():
    """mypy, with the project's configuration, finds no error in lab/."""
    out, err, status = api.run(["--config-file", str(ROOT / "pyproject.toml"),
                                "--cache-dir", str(ROOT / ".mypy_cache")])
    assert 0 == status, out + err


def test_the_package_says_it_is_typed():
    """lab/py.typed exists, so type checkers read the package's annotations."""
    assert (ROOT / "lab" / "py.typed").is_file()


def _missing_annotations(qualname, function):
    """Names of the parameters (and 'return') of ``function`` that have no annotation."""
    try:
        parameters = inspect.signature(function).parameters.values()
    except (TypeError, ValueError):
        return []
    annotations = getattr(function, "__annotations__", {})
    missing = [p.name for p in parameters
               if p.name not in ("self", "cls") and p.name not in annotations]
    missing += [] if "return" in annotations else ["return"]
    return [f"{qualname}({', '.join(missing)})"] if missing else []


def _methods(cls):
    """The public methods and properties a user calls on an instance of ``cls``.

    Those of its private base classes too: a big class split into parts
    (``Simulation``'s ``_Topology``, ``_Stepping``...) keeps one surface.
    """
    members = {}
    for klass in reversed(cls.__mro__):
        if klass is cls or (klass.__name__.startswith("_") and klass.__module__.startswith("lab.")):
            members.update(vars(klass))
    for name, member in members.items():
        if name.startswith("_") and name not in ("__init__", "__call__"):
            continue
        if isinstance(member, (staticmethod, classmethod)):
            member = member.__func__
        if isinstance(member, property):
            yield name, member.fget
        elif inspect.isfunction(member):
            yield name, member


def _surface(package):
    module = importlib.import_module(package)
    for name in getattr(module, "__all__", []):
        value = getattr(module, name)
        if inspect.isfunction(value):
            yield f"{package}.{name}", value
        elif inspect.isclass(value) and not issubclass(value, BaseException):
            if type(value).__name__ == "InterfaceClass":  # zope.interface declarations
                continue
            for attr, member in _methods(value):
                yield f"{package}.{name}.{attr}", member


@pytest.mark.parametrize("package", SURFACE)
def test_every_public_name_and_method_is_annotated(package):
    """Each public function and each public method of a public class annotates its parameters and return."""
    missing = [m for qualname, function in _surface(package)
               for m in _missing_annotations(qualname, function)]
    assert [] == missing
