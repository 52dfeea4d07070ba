"""The tour notebook, executed in a real kernel, shows every part of the lab working."""

import pytest

from tests.notebook_runner import all_text, cell_text, errors, execute_notebook, find_cell, widget_states

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


def test_plugins_include_the_shipped_ones(tour):
    """The registry lists the shipped protocol plugins."""
    text = cell_text(find_cell(tour, "registry = lab.plugins()"))
    for name in ("echo", "chat", "memcached"):
        assert name in text


def test_echo_listener_echoes_and_its_traffic_is_shown(tour):
    """The echo listener sends the line back, and the conversation view holds it."""
    assert "echoed: b'hello, lab\\r\\n'" in all_text(tour)
    html = [str(s.get("value", "")) for s in widget_states(tour).values()]
    assert any("hello, lab" in v for v in html)


def test_the_stepper_is_left_for_the_learner(tour):
    """The chain waits before its first stage, halve, for the reader to press Step."""
    assert "paused before stage #0 (press Step below)" in all_text(tour)
    values = [str(s.get("value", "")) for s in widget_states(tour).values()]
    ladders = [v for v in values if "lab-ladder" in v]
    assert ladders and all("paused before stage #0" in v and "halve" in v for v in ladders)


def test_reactor_view_lists_the_timer_and_the_listening_port(tour):
    """The reactor snapshot counts the user's timer and lists the echo port."""
    text = cell_text(find_cell(tour, "state = lab.reactor_state()"))
    assert "1 delayed calls" in text
    assert "listening 127.0.0.1:" in text


def test_dashboard_is_built(tour):
    """The dashboard shows as a widget."""
    assert "Dashboard(" in cell_text(find_cell(tour, "lab.dashboard("))


def test_status_panel_pings_the_reactor(tour):
    """The status panel's ping reports a round-trip time."""
    assert "pong in" in cell_text(find_cell(tour, "StatusPanel()"))
