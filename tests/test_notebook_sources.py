"""Every notebook is what its source in notebook_sources/ writes: none is edited by hand."""

import json
import pathlib
import runpy
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
SOURCES = ROOT / "notebook_sources"
NOTEBOOKS = ROOT / "notebooks"


def _notebook_of(source):
    """notebooks/NN-name.ipynb for notebook_sources/NN_name.py."""
    return NOTEBOOKS / (source.stem.replace("_", "-") + ".ipynb")


def test_every_notebook_has_a_source_and_the_sources_are_out_of_the_learners_way():
    """Each notebook has a source, and no generator sits in the folder JupyterLab opens."""
    sources = {_notebook_of(p).name for p in SOURCES.glob("[0-9]*.py")}
    notebooks = {p.name for p in NOTEBOOKS.glob("*.ipynb")}
    assert notebooks == sources
    assert [] == sorted(p.name for p in NOTEBOOKS.rglob("*.py"))


@pytest.mark.parametrize("source", sorted(SOURCES.glob("[0-9]*.py")), ids=lambda p: p.stem)
def test_notebook_matches_its_source(source, monkeypatch):
    """The notebook's cells (kind, text, id) are exactly those its source builds."""
    monkeypatch.syspath_prepend(str(SOURCES))
    module = runpy.run_path(str(source))
    built = sys.modules["_notebook"].build(module["CELLS"], _notebook_of(source).stem)
    saved = json.loads(_notebook_of(source).read_text())
    assert ([(c.cell_type, c.id, c.source) for c in built.cells]
            == [(c["cell_type"], c["id"], "".join(c["source"])) for c in saved["cells"]])
