"""The protocol stepper widget, driven by its buttons without a kernel or a browser."""

import subprocess
import sys

from lab.protocols.memcached import NEED_DATA, Closed
from lab.widgets.protocol_stepper import ProtocolStepper, parse_typed


def test_typed_text_becomes_protocol_bytes():
    """Typed newlines become \\r\\n and backslash escapes are honoured."""
    assert b"get a\r\nmn\r\n" == parse_typed("get a\nmn\n")
    assert b"set k 0 0 1\r\n\x00\r\n" == parse_typed("set k 0 0 1\\r\\n\\x00\\r\\n", False)


def test_step_button_runs_one_command_at_a_time():
    """Feed then Step shows one command and its reply per click, the state after each."""
    stepper = ProtocolStepper()
    stepper.input.value = "set greeting 0 0 5\nhello\nget greeting\n"
    stepper.feed_button.click()
    assert "" == stepper.input.value
    stepper.step_button.click()
    assert 1 == len(stepper.steps)
    assert b"STORED\r\n" == stepper.steps[-1].reply
    assert "set greeting flags=0 exptime=0 (5 bytes)" in stepper.history.value
    assert "reading a command line" in stepper.state_view.value
    stepper.step_button.click()
    assert b"VALUE greeting 0 5\r\nhello\r\nEND\r\n" == stepper.steps[-1].reply


def test_state_shows_a_command_waiting_for_its_data():
    """A storage command whose data has not arrived shows as waiting, with bytes expected."""
    stepper = ProtocolStepper()
    stepper.feed(b"set k 0 0 10\r\nhalf")
    stepper.step()
    summary = stepper.state_summary()
    assert "reading a data block" == summary["state"]
    assert "set k flags=0 exptime=0" == summary["waiting for data of"]
    # "half" is 4 of the 12 bytes (10 data + \r\n) already buffered
    assert "4 of 12 bytes here (with the final \\r\\n), 8 still to come" == summary["data block"]
    assert "needs more data" in stepper.history.value


def test_run_button_steps_to_the_end_and_reset_replays_from_the_start():
    """Run steps until more data is needed; Reset replays the same bytes on a fresh cache."""
    stepper = ProtocolStepper(data=b"")
    stepper.feed("set a 0 0 1\nx\nbogus\nget a\n")
    stepper.run_button.click()
    replies = [b"STORED\r\n", b"ERROR\r\n", b"VALUE a 0 1\r\nx\r\nEND\r\n"]
    assert replies == [s.reply for s in stepper.steps]
    stepper.reset_button.click()
    assert 0 == len(stepper.steps)
    stepper.step_button.click()
    assert "set a flags=0 exptime=0 (1 bytes)" in stepper.history.value
    assert replies == [b"STORED\r\n"] + [s.reply for s in stepper.run()]


def test_clear_button_forgets_the_stream_and_the_cache():
    """Clear leaves a fresh core with nothing fed: a get misses."""
    stepper = ProtocolStepper()
    stepper.feed("set a 0 0 1\nx\n")
    stepper.run()
    stepper.clear_button.click()
    assert NEED_DATA is stepper.step().event
    stepper.feed("get a\n")
    assert [b"END\r\n"] == [s.reply for s in stepper.run()]


def test_quit_shows_the_connection_closing():
    """After quit the stepper says the connection closes and stops running."""
    stepper = ProtocolStepper()
    stepper.feed("quit\nversion\n")
    steps = stepper.run()
    assert [Closed("quit")] == [s.event for s in steps]
    assert "close connection: quit" in stepper.state_view.value


def test_stepper_imports_no_reactor():
    """Importing the stepper pulls in neither twisted.internet nor crochet."""
    code = ("import sys, lab.widgets.protocol_stepper; "
            "print(any(m.startswith(('twisted.internet', 'crochet')) for m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=60)
    assert "False" == result.stdout.strip(), result.stderr
