"""The lab command's install step gives a fresh environment everything the shipped notebooks import."""

import ast
import json
import os
import subprocess
import sys

from tests.conftest import ROOT

# Modules a notebook writes itself before importing them (not installed by anyone).
MADE_BY_THE_NOTEBOOKS = {"raw_demo_plugins"}


def notebook_imports():
    """The top-level modules every code cell of every shipped notebook imports."""
    modules = set()
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        for cell in json.loads(path.read_text())["cells"]:
            source = "".join(cell["source"])
            if cell["cell_type"] != "code" or source.startswith("%%"):
                continue  # a %%writefile cell is a file's text, not the notebook's code
            lines = [line for line in source.splitlines() if not line.lstrip().startswith(("%", "!"))]
            for node in ast.walk(ast.parse("\n".join(lines), str(path))):
                if isinstance(node, ast.Import):
                    modules.update(alias.name.split(".")[0] for alias in node.names)
                elif isinstance(node, ast.ImportFrom) and node.level == 0:
                    modules.add(node.module.split(".")[0])
    return modules - MADE_BY_THE_NOTEBOOKS - set(sys.stdlib_module_names)


def test_notebooks_import_the_real_clients():
    """The scan sees the memcached clients notebook 05 imports (the scan itself works)."""
    assert {"pymemcache", "memcache", "lab", "ipywidgets"} <= notebook_imports()


def test_fresh_environment_from_the_lab_install_step_imports_every_notebook_import(tmp_path):
    """`tasks.py install` (the lab command without JupyterLab) into a new venv can import all notebook imports."""
    venv = tmp_path / "venv"
    env = dict(os.environ, LAB_VENV=str(venv))
    env.pop("VIRTUAL_ENV", None)
    result = subprocess.run([sys.executable, str(ROOT / "tasks.py"), "install"], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=600)
    assert 0 == result.returncode, result.stdout[-2000:] + result.stderr[-4000:]
    modules = sorted(notebook_imports())
    check = ("import importlib, sys\n"
             "failed = []\n"
             f"for name in {modules!r}:\n"
             "    try:\n"
             "        importlib.import_module(name)\n"
             "    except Exception as error:\n"
             "        failed.append(f'{name}: {type(error).__name__}: {error}')\n"
             "print('\\n'.join(failed)); sys.exit(1 if failed else 0)\n")
    imported = subprocess.run([str(venv / "bin" / "python"), "-c", check], cwd=tmp_path,
                              capture_output=True, text=True, timeout=300)
    assert 0 == imported.returncode, imported.stdout + imported.stderr
