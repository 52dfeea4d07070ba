"""The Deferreds notebook, executed in a real kernel, shows each concept by stepping a chain."""

import re

import pytest

from tests.notebook_runner import (
    cell_text,
    errors,
    execute_notebook,
    widget_states,
)

pytestmark = pytest.mark.kernel


@pytest.fixture(scope="module")
def notebook():
    """notebooks/03-deferreds.ipynb, executed top to bottom."""
    return execute_notebook("03-deferreds.ipynb")


def printed(notebook):
    """Everything the cells printed, joined without separators.

    A busy kernel may flush one print() as two stream messages; joining them
    with nothing in between gives back the printed lines whole.
    """
    return "".join(o.text for c in notebook.cells if c.cell_type == "code"
                   for o in c.get("outputs", []) if o.output_type == "stream")


def test_runs_without_errors(notebook):
    """No cell raises."""
    assert [] == errors(notebook)


def test_stepping_callbacks_pauses_then_runs_to_the_result(notebook):
    """Two steps leave the chain before stage 2 holding 42; run finishes it."""
    text = printed(notebook)
    assert "paused before stage 2 holding 42" in text
    assert "result: the answer is 42" in text


def test_ladder_picture_shows_the_path_and_result(notebook):
    """The stepper displayed as a picture is an SVG ladder with each stage and the result."""
    html = cell_text(_cell_that_is(notebook, "stepped"))
    assert "<svg" in html and "callbacks" in html and "errbacks" in html
    assert "parse" in html and "double" in html and "the answer is 42" in html


def _cell_that_is(notebook, source):
    """The code cell whose whole source is ``source``."""
    return next(c for c in notebook.cells if c.cell_type == "code" and c.source.strip() == source)


def test_failure_skips_callbacks_and_is_flagged_until_handled(notebook):
    """A bad input fails in parse, skips both callbacks, and is unhandled until an errback runs."""
    text = printed(notebook)
    assert "stopped after parse with ValueError" in text
    assert "path: ('callback', 'skipped', 'skipped')" in text
    assert "unhandled: True" in text
    assert "unhandled with an errback: False | result: handled ValueError" in text


def test_the_first_widget_is_left_for_the_learner(notebook):
    """The first stepper's saved ladder waits before stage #0: nothing was clicked for the reader."""
    values = [state.get("value") for state in widget_states(notebook).values()]
    ladders = [v for v in values if isinstance(v, str) and "lab-ladder" in v]
    assert any("paused before stage #0" in html for html in ladders)


def test_a_shown_failing_chain_is_not_changed_by_a_later_cell(notebook):
    """The failing chain's widget waits for the reader; the handled version is a chain of its own."""
    values = [state.get("value") for state in widget_states(notebook).values()]
    ladders = [v for v in values if isinstance(v, str) and "lab-ladder" in v]
    assert 2 <= sum("paused before stage #0" in html for html in ladders)  # 1. and 2., unclicked
    assert any("result: &#x27;handled ValueError&#x27;" in html for html in ladders)


def test_seed_example_fails_as_written_and_recovers_done_right(notebook):
    """The article's errback raises AttributeError (.message); trap + str(value) recovers."""
    text = printed(notebook)
    assert ("as written: AttributeError: 'CustomException' object has no attribute 'message' "
            "| unhandled: True") in text
    assert "done right: 'recovered from: A custom error occurred'" in text
    assert "done right result: RECOVERED FROM: A CUSTOM ERROR OCCURRED" in text


def test_check_trap_and_recovery_take_the_expected_paths(notebook):
    """check() recovers InvalidKey, trap() recovers StoreDown, a forced TypeError is unhandled."""
    text = printed(notebook)
    assert ("'bad key'  path=('callback', 'errback', 'skipped', 'callback') "
            "result='DEFAULT-VALUE'") in text
    assert ("'down'     path=('callback', 'errback', 'errback', 'callback') "
            "result='CACHED-VALUE'") in text
    assert "recovered to: 'default-value'" in text
    assert ("forced TypeError path: ('callback', 'errback', 'errback', 'skipped') "
            "| unhandled: True") in text


def test_chained_deferred_waits_then_steps_on(notebook):
    """A stage returning a Deferred waits, stepping says why, and the inner result flows on."""
    text = printed(notebook)
    assert "stage 0 state: waiting" in text
    assert "cannot step: stage #0 returned a Deferred that has not fired" in text
    assert "chained result: 5" in text


def test_coroutines_show_each_await(notebook):
    """async def and inlineCallbacks show one stage per await/yield and the right results."""
    text = printed(notebook)
    assert "async result: 12" in text
    assert "resume after await at line 7: ran callback, 10 -> 2" in text
    # where each segment is: the cell that defined total_price, not a temporary file
    assert re.search(r"where each segment is: cell \[\d+\], line 6, cell \[\d+\], line 7, "
                     r"cell \[\d+\], line 8", text), text[-2000:]
    assert "inlineCallbacks path: ('callback', 'callback', 'errback') | result: a-default" in text


def test_timeout_and_cancellation_show_as_what_they_are(notebook):
    """addTimeout's stages and the cancel() it made show up; a cancel is recovered by an errback."""
    text = printed(notebook)
    assert ("timeout: gave up after 5 s | stages: ['addTimeout', 'addTimeout', 'addErrback'] "
            "| notes: ('cancel() was called',)") in text
    assert "cancelled: cancelled | path: ('skipped', 'errback')" in text


def test_reactor_chain_is_stepped_from_the_cell(notebook):
    """The reactor's chain is stepped from the cell: deferLater's stage first, then the result."""
    text = printed(notebook)
    assert "first reactor stage: deferLater: call your function -> 41" in text
    assert "reactor result: 42" in text


def test_saved_widgets_show_the_finished_ladders(notebook):
    """The saved widget state holds the ladders of chains run in code, finished."""
    values = [state.get("value") for state in widget_states(notebook).values()]
    ladders = [v for v in values if isinstance(v, str) and "lab-ladder" in v]
    assert any("result: 12" in html for html in ladders)
