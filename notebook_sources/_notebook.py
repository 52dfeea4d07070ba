"""What every notebook source shares: cells as ``(kind, text)`` pairs, written without outputs.

Cell ids are derived from the notebook's name and the cell's position, so
regenerating a notebook changes only the cells whose text changed.
"""

import pathlib

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

NOTEBOOKS = pathlib.Path(__file__).resolve().parent.parent / "notebooks"
KERNELSPEC = {"name": "python3", "display_name": "Python 3", "language": "python"}


def md(text):
    """A markdown cell."""
    return ("md", text)


def code(text):
    """A code cell."""
    return ("code", text)


def build(cells, stem):
    """The notebook made of ``cells`` (a list of ``(kind, text)``), with no outputs."""
    made = [new_markdown_cell(text) if kind == "md" else new_code_cell(text)
            for kind, text in cells]
    for index, cell in enumerate(made):
        cell.id = f"{stem}-{index:02d}"
    return new_notebook(cells=made, metadata={"kernelspec": KERNELSPEC})


def write(cells, name):
    """Write ``notebooks/<name>`` from ``cells``."""
    path = NOTEBOOKS / name
    nbformat.write(build(cells, path.stem), path)
    print(f"wrote {path}")
