"""Each layer imports only what DESIGN.md allows it, checked in a fresh interpreter.

Lower layers are checked by importing them alone and reading ``sys.modules``;
views (which import the model, and so Twisted, through it) are checked by
reading their own import statements.
"""

import ast
import json
import pathlib
import subprocess
import sys

import pytest

LAB = pathlib.Path(__file__).resolve().parent.parent / "lab"

FORBIDDEN = {  # layer (module prefix) -> modules it must not pull in
    "lab": ["twisted.internet.reactor", "crochet", "ipywidgets"],
    "lab.protocols": ["twisted", "crochet", "ipywidgets", "zope"],
    "lab.deferreds": ["twisted.internet.reactor", "crochet", "ipywidgets"],
    "lab.adapters": ["twisted.internet.reactor", "crochet", "ipywidgets"],
    "lab.interfaces": ["twisted.internet.reactor", "crochet", "ipywidgets"],
    "lab.plugin": ["twisted.internet.reactor", "crochet", "ipywidgets"],
    "lab.dropins": ["twisted.internet.reactor", "crochet", "ipywidgets"],
    "lab.bridge": ["ipywidgets"],
    "lab.model": ["twisted.internet.reactor", "ipywidgets"],
    "lab.exercises": ["twisted", "crochet", "ipywidgets"],
}
VIEW_FORBIDDEN = ("twisted.internet", "crochet")


def _modules_under(prefix):
    """Every importable module of the package ``prefix`` (or the module itself)."""
    relative = pathlib.Path(*prefix.split(".")[1:])
    target = LAB / relative
    if target.with_suffix(".py").exists():
        return [prefix]
    if not target.is_dir():
        return []
    found = []
    for path in sorted(target.rglob("*.py")):
        parts = path.relative_to(LAB).with_suffix("").parts
        parts = parts[:-1] if parts[-1] == "__init__" else parts
        found.append(".".join(("lab", *parts)))
    return found


def _cases():
    for prefix, forbidden in FORBIDDEN.items():
        modules = ["lab"] if prefix == "lab" else _modules_under(prefix)
        for module in modules:
            yield pytest.param(module, forbidden, id=module)


def _imported_after(module):
    code = f"import sys, json, {module}; print(json.dumps(sorted(sys.modules)))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("module, forbidden", list(_cases()))
def test_layer_does_not_import_what_it_must_not(module, forbidden):
    """Importing a layer alone never drags in a layer above it."""
    loaded = _imported_after(module)
    offenders = [m for m in loaded for f in forbidden if m == f or m.startswith(f + ".")]
    assert [] == offenders, f"{module} imports {offenders}"


def _view_imports(path):
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            yield node.module


@pytest.mark.parametrize("path", sorted((LAB / "widgets").glob("*.py")), ids=lambda p: p.name)
def test_views_do_not_import_the_reactor_or_crochet(path):
    """Views talk to the model only: no twisted.internet, no crochet in their imports."""
    offenders = [m for m in _view_imports(path) if m.startswith(VIEW_FORBIDDEN)]
    assert [] == offenders
