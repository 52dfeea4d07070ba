"""The tour notebook, executed in a real kernel, shows a running reactor and its answers."""

import pytest

from tests.notebook_runner import all_text, errors, execute_notebook, find_cell, cell_text

pytestmark = pytest.mark.kernel


@pytest.fixture(scope="module")
def tour():
    """notebooks/00-tour.ipynb, executed top to bottom."""
    return execute_notebook("00-tour.ipynb")


def test_runs_without_errors(tour):
    """No cell of the tour raises."""
    assert [] == errors(tour)


def test_status_shows_a_running_reactor_and_versions(tour):
    """The first cell displays the reactor running with Twisted and crochet versions."""
    text = cell_text(find_cell(tour, "status = lab.start()"))
    assert "reactor running" in text and "twisted" in text and "crochet" in text


def test_call_and_await_give_the_reactor_answers(tour):
    """lab.call and await lab.wait return what the reactor computed."""
    text = all_text(tour)
    assert "the reactor answered 42" in text
    assert "awaited: ready" in text


def test_status_panel_pings_the_reactor(tour):
    """The status panel's ping reports a round-trip time."""
    assert "pong in" in cell_text(find_cell(tour, "StatusPanel()"))
