"""The chain widget without a kernel: buttons clicked programmatically, traits read back."""

from twisted.internet.defer import Deferred

import lab
from lab.widgets.deferreds import ChainView


def parse(text):
    """A stage that raises ValueError on bad input."""
    return int(text)


def handle(failure):
    """An errback that recovers from ValueError."""
    failure.trap(ValueError)
    return 0


def fired_stepper(value):
    """A stepper over parse -> str -> handle, fired with ``value``."""
    d = Deferred()
    d.addCallback(parse).addCallback(str).addErrback(handle)
    stepper = lab.step(d)
    d.callback(value)
    return stepper


def test_step_button_runs_one_stage_and_shows_it():
    """Step moves the gate marker down one row and selects the stage that ran."""
    view = fired_stepper("7").widget()
    assert "paused before stage #0" in view.status.value
    view.step_button.click()
    assert "paused before stage #1" in view.status.value
    assert 0 == view.stage_picker.value and "parse" in view.detail.value
    assert "7" in view.detail.value


def test_run_to_next_failure_then_detail_shows_the_traceback():
    """Run to next Failure stops after the raising stage; the detail pane shows its traceback."""
    view = fired_stepper("seven").widget()
    view.failure_button.click()
    assert "paused before stage #1" in view.status.value
    assert "ValueError" in view.detail.value and "in parse" in view.detail.value


def test_run_then_step_shows_the_finished_error_in_the_status_line():
    """Run goes to the end; a further Step reports the finished chain instead of raising."""
    view = fired_stepper("seven").widget()
    view.run_button.click()
    assert "result: 0" in view.status.value
    view.step_button.click()
    assert "nothing is left to step" in view.status.value


def test_reset_button_replays_from_the_start():
    """Reset replays the chain and the view keeps following the new run."""
    view = fired_stepper("3").widget()
    view.run_button.click()
    view.reset_button.click()
    assert "paused before stage #0" in view.status.value
    view.step_button.click()
    assert "paused before stage #1" in view.status.value


def test_picking_a_stage_shows_its_detail_and_outlines_it():
    """Moving the stage picker shows that stage's input and output."""
    view = fired_stepper("5").widget()
    view.run_button.click()
    view.stage_picker.value = 1
    assert "str" in view.detail.value and "&#x27;5&#x27;" in view.detail.value


def test_a_click_on_a_ladder_stage_selects_it():
    """The ladder's pick message (a click on a stage) outlines that stage and shows its detail."""
    d = Deferred()
    d.addCallback(parse).addCallback(str)
    view = ChainView(lab.step(d))
    d.callback("5")
    view.run_button.click()
    assert 'data-stage="0"' in view.ladder.value and 1 == view.stage_picker.value
    view.ladder._handle_custom_msg({"event": "pick", "index": 0}, [])  # as the browser sends it
    assert 0 == view.stage_picker.value and "#0 (addCallback)" in view.detail.value
    stage_0 = view.ladder.value.split('data-stage="0"', 1)[1].split("</g>", 1)[0]
    assert 'stroke-width="2" rx="6"' in stage_0  # the selection outline moved to stage 0
    view.ladder._handle_custom_msg({"event": "pick", "index": 99}, [])  # no such stage
    assert 0 == view.stage_picker.value
    view.close()


def test_trace_view_has_no_step_buttons_and_updates_live():
    """A plain trace's view has no controls and redraws as stages run in this thread."""
    d = Deferred()
    view = ChainView(lab.trace(d))
    shown = [c for box in view.children for c in getattr(box, "children", ())]
    assert view.step_button not in shown
    d.addCallback(parse)
    d.callback("9")
    assert "result: 9" in view.status.value and "parse" in view.ladder.value


def test_a_deferred_that_fired_before_stepping_says_why_no_stage_shows():
    """Stepping an already-fired Deferred explains that its callbacks ran before the lab saw it."""
    import lab
    from twisted.internet import defer

    d = defer.Deferred()
    d.addCallback(lambda n: n + 1)
    d.callback(1)
    view = lab.step(d).widget()
    assert "already fired" in view.detail.value and "add callbacks to the Deferred" not in \
        view.detail.value
