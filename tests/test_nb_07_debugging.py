"""notebooks/07-debugging.ipynb, executed in a real kernel, finds the hang, the leak and the hidden error."""

import re

import pytest

from tests.notebook_runner import cell_text, errors, execute_notebook, find_cell, html_values

pytestmark = pytest.mark.kernel


@pytest.fixture(scope="module")
def notebook():
    """The debugging notebook, executed top to bottom."""
    return execute_notebook("07-debugging.ipynb")


def test_runs_without_errors(notebook):
    """No cell raises."""
    assert [] == errors(notebook)


def test_the_working_request_and_the_hanging_one(notebook):
    """A known symbol is answered; an unknown one is still unanswered after 0.5 s."""
    assert "PRICE TWST 12.50" in cell_text(find_cell(notebook, 'print(lab.call(client.get, "TWST"))'))
    assert "answered after 0.5 s? False" in cell_text(find_cell(notebook, "hung = lab.submit"))


def test_why_names_the_silent_connection(notebook):
    """why() says the request waits on the connection to the server, silent since the last answer."""
    text = cell_text(find_cell(notebook, "request = client.waiting[0]"))
    assert re.search(r"Deferred #\d+ waits on the connection to 127\.0\.0\.1:\d+ \(QuoteClient\), "
                     r"\d+ bytes received, silent for \d+\.\d s\.", text), text


def test_snapshot_text_groups_by_creation_site(notebook):
    """The snapshot's text names the creation site of the request (get in the notebook)."""
    text = cell_text(find_cell(notebook, "snap = lab.pending()\nprint(snap.text())"))
    assert "pending Deferred" in text and "in QuoteClient.get" in text


def test_lost_connection_leaves_an_orphan_that_can_be_cancelled(notebook):
    """After the connection goes, the request is an orphan; cancelling it ends the hung call."""
    text = cell_text(find_cell(notebook, "later = lab.pending()"))
    assert "waits on nothing: nothing in the process can fire it." in text
    assert re.search(r"orphans: \[.*'Deferred #\d+'", text)
    assert "the hung request was cancelled: True" in cell_text(
        find_cell(notebook, "later.entry(request).cancel()"))


def test_the_fix_answers_and_fails_in_flight_requests(notebook):
    """The fixed server answers unknown symbols; the fixed client fails requests on connection loss."""
    assert "ERROR unknown symbol ACME" in cell_text(find_cell(notebook, "class FixedServer"))
    text = cell_text(find_cell(notebook, "def ask_then_drop_the_connection"))
    assert "fails with ConnectionAborted" in text and "Deferreds still waiting in get(): 0" in text


def test_diff_under_load_finds_the_leak_and_the_fix_removes_it(notebook):
    """200 requests leave a group grown by exactly 200 at lineReceived; after the fix none grows."""
    text = cell_text(find_cell(notebook, "report = lab.load_test(target"))
    assert "200 requests answered" in text
    assert re.search(r"growing: .*:\d+ in AuditedEcho.lineReceived: \d+ -> \d+ \(\+200\)", text), text
    why = cell_text(find_cell(notebook, "example = next("))
    assert "the factory of the listening port 127.0.0.1:" in why
    assert "groups that grew: []" in cell_text(find_cell(notebook, "class Echo(LineReceiver)"))


def test_print_time_name_error_shows_under_its_cell(notebook):
    """The seed's print_time shows its NameError notice under the cell that scheduled it."""
    cell = find_cell(notebook, "def print_time():")
    notices = [o.text for o in cell.outputs if o.output_type == "stream" and o.name == "stderr"]
    assert any("NameError in the reactor thread" in n and "print_time" in n for n in notices)
    text = cell_text(find_cell(notebook, "error = lab.reactor_errors()[-1]"))
    assert "NameError: name 'time' is not defined" in text


def test_unhandled_deferred_error_names_its_site(notebook):
    """An unhandled failed Deferred is listed with where it was made, and the errors view shows it."""
    text = cell_text(find_cell(notebook, "def lose_a_failure"))
    assert "ValueError: nobody handled this (Unhandled error in Deferred" in text
    assert "in lose_a_failure]" in text
    views = html_values(notebook, "lab-reactor-errors")
    assert views and "NameError" in views[-1] and "nobody handled this" in views[-1]


def test_wait_graph_widget_and_why_for_a_gathered_list(notebook):
    """The wait-graph view is saved with its SVG; why follows the orphan member of gatherResults."""
    pictures = html_values(notebook, "lab-wait-graph")
    assert pictures and "<svg" in pictures[-1]
    text = cell_text(find_cell(notebook, "print(graph.why(kept[2]))"))
    assert re.search(r"DeferredList #\d+ waits on Deferred #\d+ \(member 2 of 2\) which waits on "
                     r"nothing", text), text
    assert re.search(r"\d+ nodes, \d+ edges", text)
