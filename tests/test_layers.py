"""Each layer imports only what the layer table in DEVELOPERS.md allows it, and no import cycle exists.

Two ways, because each misses what the other sees:

- a fresh interpreter imports one module and lists ``sys.modules`` (what
  importing it really drags in, through every layer it passes);
- an AST scan reads every import statement of every module, those inside
  functions included (what a module may import later, when a function runs).
"""

import ast
import graphlib
import json
import pathlib
import re
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
LAB = ROOT / "lab"

# The layer table of DEVELOPERS.md, as data: (folders or modules of the layer,
# lab modules it may import, other packages it may import).  The standard
# library is always allowed; a layer may import its own modules.
ERRORS = ("lab.errors", "lab._version", "lab._checks")  # _checks: argument checks, stdlib only
LAYERS = {
    "lab/protocols/": (ERRORS, ()),
    "lab/deferreds/": (ERRORS + ("lab.display",),
                       ("twisted.internet.defer", "twisted.python.failure")),
    "lab/adapters/": (ERRORS + ("lab.protocols",), ("twisted", "zope.interface")),
    "lab/interfaces.py": (ERRORS, ("twisted.plugin", "zope.interface")),
    "lab/plugin/": (ERRORS + ("lab.interfaces", "lab.dropins", "lab.display"),
                    ("twisted.plugin", "twisted.logger", "zope.interface")),
    "lab/dropins/": (ERRORS + ("lab.interfaces",), ("twisted.plugin",)),
    "lab/simulator/": (ERRORS + ("lab.protocols", "lab.adapters", "lab.interfaces", "lab.plugin",
                                 "lab.display"), ("twisted", "zope.interface")),
    "lab/inspect/": (ERRORS + ("lab.bridge", "lab.deferreds", "lab.display"), ("twisted",)),
    # the bridge tells the Deferred core which thread is the reactor's (a downward arrow)
    "lab/bridge/": (ERRORS + ("lab.deferreds",), ("crochet", "twisted")),
    "lab/model/": (ERRORS + ("lab.bridge", "lab.plugin", "lab.interfaces", "lab.adapters",
                             "lab.protocols", "lab.display", "lab.inspect"), ("twisted",)),
    "lab/widgets/": (ERRORS + ("lab", "lab.model", "lab.plugin", "lab.deferreds", "lab.protocols",
                               "lab.display", "lab.interfaces", "lab.bridge", "lab.simulator",
                               "lab.inspect"),
                     ("ipywidgets", "traitlets", "IPython.display", "anywidget")),
}
# Not in the table, but held to the same idea.
OTHERS = {
    "lab/errors.py": ((), ()),
    "lab/_version.py": ((), ()),
    "lab/_checks.py": ((), ()),
    "lab/display.py": (ERRORS, ()),
    # the checker's simulated driver runs on the simulator (the socket one stays stdlib-only)
    "lab/exercises/_shout_sim.py": (ERRORS + ("lab.simulator",), ()),
    "lab/exercises/": (ERRORS, ()),
    "lab/__init__.py": (ERRORS + ("lab.display",), ()),
    "lab/cli.py": (ERRORS + ("lab", "lab.bridge", "lab.model", "lab.plugin"), ("crochet", "twisted")),
    "lab/__main__.py": (("lab.cli",), ()),
}
# What no module of a layer may import, even where the table above would allow it.
NEVER = {
    "lab/deferreds/": ("twisted.internet.reactor",),
    "lab/adapters/": ("twisted.internet.reactor",),
    "lab/model/": ("twisted.internet.reactor",),
    "lab/simulator/": ("twisted.internet.reactor", "crochet"),
    "lab/exercises/_shout_sim.py": ("twisted.internet.reactor", "crochet"),
    "lab/inspect/": ("twisted.internet.reactor",),
    "lab/widgets/": ("twisted.internet", "crochet"),
}

# A fresh interpreter importing a module of the layer must not hold these.
BELOW_WIDGETS = ["ipywidgets", "lab.widgets"]
FORBIDDEN = {
    "lab": ["twisted.internet.reactor", "crochet", *BELOW_WIDGETS],
    "lab.protocols": ["twisted", "crochet", "zope", "lab.model", "lab.bridge", *BELOW_WIDGETS],
    "lab.deferreds": ["twisted.internet.reactor", "crochet", "lab.model", "lab.bridge",
                      *BELOW_WIDGETS],
    "lab.adapters": ["twisted.internet.reactor", "crochet", "lab.model", "lab.bridge",
                     *BELOW_WIDGETS],
    "lab.interfaces": ["twisted.internet.reactor", "crochet", "lab.model", *BELOW_WIDGETS],
    "lab.plugin": ["twisted.internet.reactor", "crochet", "lab.model", "lab.bridge",
                   *BELOW_WIDGETS],
    "lab.dropins": ["twisted.internet.reactor", "crochet", "lab.model", *BELOW_WIDGETS],
    "lab.display": ["twisted", "crochet", *BELOW_WIDGETS],
    "lab.bridge": ["lab.model", *BELOW_WIDGETS],
    "lab.model": ["twisted.internet.reactor", *BELOW_WIDGETS],
    "lab.simulator": ["twisted.internet.reactor", "crochet", "lab.model", "lab.bridge",
                      *BELOW_WIDGETS],
    "lab.exercises._shout_sim": ["twisted.internet.reactor", "crochet", "lab.model", "lab.bridge",
                                 *BELOW_WIDGETS],
    "lab.inspect": ["twisted.internet.reactor", *BELOW_WIDGETS],
    "lab.exercises": ["twisted", "crochet", *BELOW_WIDGETS],
}


def _module_name(path):
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for p in sorted(LAB.rglob("*.py"))}


def _imports(path):
    """Every module ``path`` imports, anywhere in it; ``from a import b`` is ``a.b`` if that is a module."""
    module = _module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parts, *([node.module] if node.module else [])])
            for alias in node.names:
                name = f"{base}.{alias.name}"
                yield name if name in MODULES or not base.startswith("lab") else base


def _layer_of(path, table):
    relative = path.relative_to(ROOT).as_posix()
    for where in table:
        if relative == where or (where.endswith("/") and relative.startswith(where)):
            return where
    return None


def _within(name, prefixes):
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def _scan_cases():
    for path in sorted(LAB.rglob("*.py")):
        table = LAYERS if _layer_of(path, LAYERS) else OTHERS
        where = _layer_of(path, table)
        yield pytest.param(path, where, table[where], id=path.relative_to(ROOT).as_posix())


@pytest.mark.parametrize("path, where, rule", list(_scan_cases()))
def test_every_import_statement_is_allowed_by_the_layer_table(path, where, rule):
    """Every import of a module, including those inside functions, is one its layer may make."""
    own = where.rstrip("/").removesuffix(".py").replace("/", ".")
    lab_allowed, others_allowed = rule
    offenders = []
    for name in _imports(path):
        if _within(name, NEVER.get(where, ())):
            offenders.append(name)
        elif name.split(".")[0] in sys.stdlib_module_names or _within(name, (own,)):
            continue
        elif name == "lab" or name.startswith("lab."):
            if not (name in lab_allowed or _within(name, [p for p in lab_allowed if p != "lab"])):
                offenders.append(name)
        elif not _within(name, others_allowed):
            offenders.append(name)
    assert [] == offenders, f"{where} may not import {offenders}"


def test_every_module_is_under_a_rule():
    """No module of the package escapes the rules (a new folder gets a row in the table)."""
    assert [] == [p.relative_to(ROOT).as_posix() for p in sorted(LAB.rglob("*.py"))
                  if _layer_of(p, LAYERS) is None and _layer_of(p, OTHERS) is None]


def test_the_rules_here_are_the_rows_of_the_table_in_developers_md():
    """Each folder in DEVELOPERS.md's layer table has a rule here, and each rule a row there."""
    text = (ROOT / "DEVELOPERS.md").read_text()
    table = text.split("## Layout", 1)[1].split("\n\n", 2)[1]
    rows = [line.split("|")[1] for line in table.splitlines() if line.startswith("| `")]
    named = {m for row in rows for m in re.findall(r"`(lab/[^`]*)`", row)}
    assert set(LAYERS) == named


def test_no_import_cycle_among_the_package_modules():
    """The modules' imports (inside functions included) form no cycle: arrows point one way."""
    graph = {name: {i for i in _imports(path) if i in MODULES and i != name}
             for name, path in MODULES.items()}
    try:
        graphlib.TopologicalSorter(graph).prepare()
    except graphlib.CycleError as error:
        pytest.fail(f"import cycle: {' -> '.join(reversed(error.args[1]))}")


def _modules_under(prefix):
    """Every importable module of the package ``prefix`` (or the module itself)."""
    return [m for m in MODULES if m == prefix or m.startswith(prefix + ".")]


def _rule_of(module):
    """The most specific FORBIDDEN prefix that covers ``module``."""
    return max((p for p in FORBIDDEN if module == p or module.startswith(p + ".")), key=len)


def _cases():
    for prefix, forbidden in FORBIDDEN.items():
        modules = ["lab"] if prefix == "lab" else _modules_under(prefix)
        for module in modules:
            if module == "lab" or _rule_of(module) == prefix:
                yield pytest.param(module, forbidden, id=module)


def _imported_after(module):
    code = f"import sys, json, {module}; print(json.dumps(sorted(sys.modules)))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("module, forbidden", list(_cases()))
def test_layer_does_not_import_what_it_must_not(module, forbidden):
    """Importing a layer alone, in a fresh interpreter, never drags in a layer above it."""
    loaded = _imported_after(module)
    offenders = [m for m in loaded for f in forbidden if m == f or m.startswith(f + ".")]
    assert [] == offenders, f"{module} imports {offenders}"
