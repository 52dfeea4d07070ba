"""notebooks/01-reactor.ipynb, executed in a real kernel, shows what each lesson promises."""

import pytest

from tests.notebook_runner import (cell_text, errors, execute_notebook, find_cell, html_values,
                                   widget_states)

pytestmark = pytest.mark.kernel


@pytest.fixture(scope="module")
def notebook():
    """The reactor notebook, executed top to bottom."""
    return execute_notebook("01-reactor.ipynb")


def test_runs_without_errors(notebook):
    """No cell raises."""
    assert [] == errors(notebook)


def test_call_runs_in_the_reactor_thread_and_cancel_works(notebook):
    """lab.call runs in crochet's thread and a cancelled callLater is no longer active."""
    text = cell_text(find_cell(notebook, "def in_which_thread"))
    assert "this cell runs in: MainThread" in text
    assert "lab.call runs in:  CrochetReactor" in text
    assert "active: True | due in about 60 s" in text and "active after cancel: False" in text


def test_print_time_done_right_ticks_five_times_into_its_label(notebook):
    """The fixed print_time runs five times and its last tick reached the label widget."""
    text = cell_text(find_cell(notebook, "count = await lab.wait(finished"))
    assert "print_time ran 5 times, about 0.2 s apart" in text
    assert "(0 ticks to go)" in text
    labels = [s["value"] for s in widget_states(notebook).values()
              if s.get("_model_name") == "LabelModel"]
    assert any(v.startswith("Current time:") and v.endswith("(0 ticks to go)") for v in labels)


def test_looping_call_stops(notebook):
    """The LoopingCall version beats and then stops."""
    text = cell_text(find_cell(notebook, "LoopingCall(lambda"))
    assert text.startswith("LoopingCall beat") and "then stopped" in text


def test_blocking_the_reactor_makes_timers_late(notebook):
    """Sleeping in the reactor thread makes a due timer fire late, and the notebook says so."""
    assert "the reactor was blocked" in cell_text(find_cell(notebook, "lab.call(time.sleep, 0.5)"))


def test_reactor_state_shows_the_reminder_and_where_it_was_made(notebook):
    """The snapshot lists the reminder, hides crochet's timer, and shows the creating line."""
    text = cell_text(find_cell(notebook, "def schedule_reminder"))
    assert "1 delayed calls (1 internal hidden)" in text
    assert "__main__.remind('stretch your legs')" in text
    assert 'created by: return reactor.callLater(30, remind, "stretch your legs")' in text


def test_internal_timers_are_labelled_on_request(notebook):
    """With include_internal the crochet reaper and the waker appear, labelled."""
    text = cell_text(find_cell(notebook, "include_internal=True"))
    assert "crochet: reaps finished child processes (internal)" in text
    assert "reactor waker" in text


def test_reactor_view_widget_shows_the_snapshot(notebook):
    """The reactor view widget is displayed and its saved state holds a rendered snapshot."""
    assert "ReactorView" in cell_text(find_cell(notebook, "view = ReactorView("))
    bodies = html_values(notebook, "lab-reactor-state")
    assert bodies and "EPollReactor running" in bodies[-1]
    assert "pending after cancel: []" in cell_text(find_cell(notebook, "lab.call(reminder.cancel)"))


def _svg(cell):
    """The SVG a cell displayed (empty if none)."""
    return "".join(o.get("data", {}).get("image/svg+xml", "") for o in cell.get("outputs", []))


def test_the_simulation_steps_print_time_one_turn_at_a_time(notebook):
    """The seed's print_time is queued, stepped once (scheduling the next tick), then run to the end in virtual time."""
    queued = cell_text(find_cell(notebook, "sim.callLater(1, print_time, sim, 3)"))
    assert "t=1.000000 timer    local: print_time(sim, 3)" in queued
    one = cell_text(find_cell(notebook, "happened = sim.step()"))
    assert "Current time: 1.0 (virtual)" in one
    assert "scheduled t=2.000000 timer    local: print_time(sim, 2)" in one
    rest = cell_text(find_cell(notebook, "print(sim.run_until_idle())"))
    assert "Current time: 3.0 (virtual)" in rest and "the clock says 3.0" in rest


def test_the_simulated_echo_exchange_is_shown_event_by_event(notebook):
    """Each step of the echo exchange prints: SYN, SYN-ACK, the bytes in, the bytes back."""
    text = cell_text(find_cell(notebook, 'client.send("hello, reactor")'))
    order = ["connect  server #1: client\u2192server SYN", "accept   client #1: server\u2192client SYN-ACK",
             "data     server #1: client\u2192server b'hello, reactor'",
             "data     client #1: server\u2192client b'hello, reactor'"]
    positions = [text.index(line) for line in order]
    assert positions == sorted(positions)
    assert "client got: b'hello, reactor'" in text


def test_the_sequence_diagram_and_the_simulation_view_are_shown(notebook):
    """The diagram cell shows an SVG with both hosts; the view's saved state has the clock and the queue."""
    svg = _svg(find_cell(notebook, 'client.send("again")'))
    assert "lab-sequence" in svg and ">client<" in svg and ">server<" in svg
    clocks = html_values(notebook, "lab-sim-clock")
    assert clocks and "virtual time t=3.040000" in clocks[-1]


def test_the_simulation_runs_each_chained_timer_at_its_own_time_unlike_task_clock(notebook):
    """task.Clock runs one tick at the final time; the simulation runs all four at 1, 2, 3, 4."""
    text = cell_text(find_cell(notebook, "clock, on_clock = task.Clock(), []"))
    assert "task.Clock().advance(10) ran the ticks at: [10.0]" in text
    assert "simulation.advance(10) ran the ticks at:   [1.0, 2.0, 3.0, 4.0]" in text


def test_the_seeds_print_time_shows_its_name_error(notebook):
    """The seed's print_time, without `import time`, shows its NameError under its own cell."""
    cell = find_cell(notebook, "def seed_print_time")
    notices = [o.text for o in cell.outputs if o.output_type == "stream" and o.name == "stderr"]
    assert any("NameError in the reactor thread" in n and "seed_print_time" in n for n in notices)
    assert "captured: " in cell_text(cell) and "NameError: name 'time' is not defined" in \
        cell_text(cell)
