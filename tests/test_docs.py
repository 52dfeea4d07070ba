"""Every public name has a docstring, and the README shows the two commands."""

import importlib
import inspect
import pathlib

import pytest

import lab

ROOT = pathlib.Path(__file__).resolve().parent.parent
PACKAGES = ["lab", "lab.model", "lab.deferreds", "lab.plugin", "lab.interfaces", "lab.errors",
            "lab.bridge", "lab.exercises", "lab.widgets", "lab.cli",
            "lab.simulator"]


def _public(module_name):
    module = importlib.import_module(module_name)
    for name in getattr(module, "__all__", []):
        if name.startswith("__"):
            continue
        value = getattr(module, name)
        if inspect.isclass(value) or inspect.isfunction(value) or inspect.ismodule(value):
            yield pytest.param(value, id=f"{module_name}.{name}")


@pytest.mark.parametrize("value", [p for m in PACKAGES for p in _public(m)])
def test_public_name_has_a_docstring(value):
    """Each public class, function and module says what it is for."""
    assert (inspect.getdoc(value) or "").strip()


def _members(cls):
    """``vars(cls)`` and those of its private base classes (the parts a big class is split into)."""
    members = {}
    for klass in reversed(cls.__mro__):
        if klass is cls or (klass.__name__.startswith("_") and klass.__module__.startswith("lab.")):
            members.update(vars(klass))
    return members


def test_public_methods_of_public_classes_have_docstrings():
    """The methods a notebook user calls on lab's main objects are documented."""
    undocumented = []
    for name in ("Listener", "Client", "Trace", "Stepper", "Simulation"):
        cls = getattr(lab, name)
        for attr, member in _members(cls).items():
            if attr.startswith("_") or not callable(member):
                continue
            if not (inspect.getdoc(member) or "").strip():
                undocumented.append(f"{name}.{attr}")
    assert [] == undocumented


def test_readme_shows_the_two_commands_first():
    """The README names both commands, and what the lab does, near its top."""
    text = (ROOT / "README.md").read_text()
    head = text[:3000]
    assert "step through Deferred chains" in head.lower() or "deferred" in head.lower()
    assert "python3 tasks.py lab" in text and "python3 tasks.py test" in text
    assert (ROOT / ".ci" / "run").read_text().strip().endswith("python3 tasks.py test")
