"""Reactor-thread events reach the right widget in a real ipykernel, not whichever cell runs now."""

import nbformat
import pytest
from nbclient import NotebookClient

from tests.notebook_runner import cell_text, widget_states

pytestmark = pytest.mark.kernel

CELLS = [
    # 0: a widget pair shown in this cell
    "import lab, ipywidgets as w\n"
    "lab.start()\n"
    "out = w.Output(); label = w.Label('before')\n"
    "display(out, label)",
    # 1: the reactor thread will update them later, through the bridge
    "from twisted.internet import reactor\n"
    "from lab import bridge\n"
    "def from_reactor():\n"
    "    print('printed-by-reactor')  # a learner's print: must not reach the running cell\n"
    "    bridge.deliver(out.append_stdout, 'written-by-reactor\\n')\n"
    "    bridge.deliver(setattr, label, 'value', 'after')\n"
    "lab.call(reactor.callLater, 0.3, from_reactor)\n"
    "None",
    # 2: a different cell is running (and blocking) when the update happens
    "import time\n"
    "time.sleep(1.5)\n"
    "print('third cell')",
    # 3: the kernel side sees the new value
    "print('label is', label.value)",
]


@pytest.fixture(scope="module")
def executed():
    """The notebook above, executed in a fresh python3 kernel."""
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in CELLS])
    NotebookClient(notebook, timeout=60, kernel_name="python3", store_widget_state=True).execute()
    return notebook


def test_update_lands_in_the_widget(executed):
    """The Output widget holds the text the reactor thread appended."""
    outputs = [s for s in widget_states(executed).values()
               if s.get("_model_name") == "OutputModel"]
    assert any("written-by-reactor" in str(s.get("outputs")) for s in outputs)


def test_update_does_not_leak_into_the_running_cell(executed):
    """The cell that was running at the time shows only its own output, not even the timer's print."""
    assert "third cell" == cell_text(executed.cells[2]).strip()


def test_trait_assignment_from_the_reactor_is_seen(executed):
    """A trait set from the reactor thread is visible to the kernel and saved in the widget state."""
    assert "label is after" in cell_text(executed.cells[3])
    labels = [s for s in widget_states(executed).values() if s.get("_model_name") == "LabelModel"]
    assert ["after"] == [s["value"] for s in labels]
