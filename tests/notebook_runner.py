"""Execute a notebook in a real Jupyter kernel and read what its cells showed.

Used by the kernel tier: each notebook's test runs it once (module-scoped
fixture) and asserts on the outputs a reader would see.
"""

import pathlib

import nbformat
from nbclient import NotebookClient

NOTEBOOKS = pathlib.Path(__file__).resolve().parent.parent / "notebooks"


def execute_notebook(name, timeout=120):
    """Run ``notebooks/<name>`` top to bottom in a fresh python3 kernel; return the notebook."""
    path = NOTEBOOKS / name
    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(
        notebook,
        timeout=timeout,
        kernel_name="python3",
        resources={"metadata": {"path": str(NOTEBOOKS)}},
        store_widget_state=True,
        coalesce_streams=True,  # a busy kernel may split one print() into several chunks
    )
    client.execute()
    found = stderr_tracebacks(notebook)
    assert not found, f"{name} printed a traceback on stderr: {found}"
    return notebook


def stderr_tracebacks(notebook):
    """Tracebacks a cell printed on stderr (Twisted's "Unhandled Error", a thread's crash)."""
    return [f"cell {index}: {output.text[:400]}"
            for index, cell in enumerate(notebook.cells) if cell.cell_type == "code"
            for output in cell.get("outputs", [])
            if output.output_type == "stream" and output.name == "stderr"
            and ("Traceback" in output.text or "Unhandled Error" in output.text)]


def cell_text(cell):
    """Everything a code cell printed or displayed, as one string (text/plain, html, errors)."""
    parts = []
    for output in cell.get("outputs", []):
        if output.output_type == "stream":
            parts.append(output.text)
        elif output.output_type == "error":
            parts.append(f"{output.ename}: {output.evalue}")
        else:
            data = output.get("data", {})
            parts.append(data.get("text/plain", ""))
            parts.append(data.get("text/html", ""))
    return "\n".join(parts)


def all_text(notebook):
    """The text of every code cell's outputs, joined."""
    return "\n".join(cell_text(c) for c in notebook.cells if c.cell_type == "code")


def find_cell(notebook, marker):
    """The first code cell whose source contains ``marker`` (fails loudly if none)."""
    for cell in notebook.cells:
        if cell.cell_type == "code" and marker in cell.source:
            return cell
    raise AssertionError(f"no code cell contains {marker!r}")


def errors(notebook):
    """Error outputs of every cell, as 'ename: evalue' strings."""
    return [
        f"{o.ename}: {o.evalue}"
        for c in notebook.cells if c.cell_type == "code"
        for o in c.get("outputs", []) if o.output_type == "error"
    ]


def widget_states(notebook):
    """The saved ipywidgets state: model id -> state dict.

    A live log (``lab.widgets._live.LiveLog``) keeps its rows in ``html``; its
    state also gets them as ``value`` so tests read every view's HTML alike.
    """
    state = notebook.metadata.get("widgets", {}).get(
        "application/vnd.jupyter.widget-state+json", {})
    found = {k: v.get("state", {}) for k, v in state.get("state", {}).items()}
    for widget in found.values():
        if "html" in widget and "following" in widget:
            widget.setdefault("value", widget["html"])
    return found


def html_values(notebook, marker, models=("HTMLModel",)):
    """Saved ``value`` of each widget of ``models`` whose value contains ``marker``, in saved order."""
    return [s["value"] for s in widget_states(notebook).values()
            if s.get("_model_name") in models and marker in str(s.get("value"))]
