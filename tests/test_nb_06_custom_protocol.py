"""The custom-protocol exercise, executed in a real kernel: the checker fails the naive server, passes the fix."""

import pytest

from tests.notebook_runner import (
    all_text, cell_text, errors, execute_notebook, find_cell, widget_states,
)

pytestmark = pytest.mark.kernel


@pytest.fixture(scope="module")
def exercise():
    """notebooks/06-custom-protocol.ipynb, executed top to bottom."""
    return execute_notebook("06-custom-protocol.ipynb")


def test_runs_without_errors(exercise):
    """No cell of the exercise raises."""
    assert [] == errors(exercise)


def test_plugin_written_in_the_notebook_is_discovered(exercise):
    """The %%writefile'd module is found by the registry as plugin 'shout'."""
    text = cell_text(find_cell(exercise, "registry.rescan()\nprint('added:'"))
    assert "'shout'" in text and "status='available'" in text


def test_naive_server_answers_one_request_but_fails_the_framing_checks(exercise):
    """By hand PING works; the checker then reports the framing and bound failures with hints."""
    assert "reply to PING: b'4:PONG,'" in all_text(exercise)
    first = cell_text(find_cell(exercise, "first = check_shout(server)"))
    assert "3/8 passed" in first
    assert "FAIL two requests in one segment" in first
    assert "FAIL an oversized frame closes" in first
    assert "NetstringReceiver" in first


def test_fixed_server_passes_every_check_after_rescan(exercise):
    """After editing the module and rescanning, the replaced server passes all 8 checks."""
    second = cell_text(find_cell(exercise, "second = check_shout(server)"))
    assert "reloaded: ('shout',)" in second
    assert "8/8 passed" in second


def test_stepping_a_request_shows_both_paths(exercise):
    """The good request ends OK on the callback path; the bogus one goes through the errback."""
    text = all_text(exercise)
    assert "first stage: bytes.decode -> 'OK:HELLO'" in text
    assert "result: HELLO" in text
    assert "path: ['callback', 'callback', 'errback']" in text
    assert "refused: server said 'ERR:unknown command BOGUS'" in text


def test_the_checker_in_a_simulation_gives_the_same_verdict_and_fragments_break_it(exercise):
    """In a simulation the naive server gets the same 3/8; with one-byte fragments it gets 0/8."""
    text = cell_text(find_cell(exercise, "check_shout('shout', simulation=True)"))
    assert "in a simulation (seed 0)" in text and "3/8 passed" in text
    assert "writes in 1-byte pieces" in text and "0/8 passed" in text
    assert "FAIL answers PING" in text


def test_the_fixed_server_survives_one_byte_fragments(exercise):
    """After the fix, even one-byte pieces pass every check."""
    text = cell_text(find_cell(exercise, "fragmented = check_shout('shout'"))
    assert "8/8 passed" in text


def test_what_the_checker_sent_is_shown_as_a_conversation(exercise):
    """The cell promising what the checker sent shows its traffic in a conversation view, not a repr."""
    assert "<Capture" not in cell_text(find_cell(exercise, "ConversationView(server"))
    logs = [s["value"] for s in widget_states(exercise).values() if "lab-conversation" in
            str(s.get("value"))]
    assert any("client &rarr; server" in log and "PING" in log for log in logs)
