"""A print in reactor work goes to the cell that scheduled it, read from a real kernel's iopub messages."""

import queue
import time

import pytest
from jupyter_client.manager import start_new_kernel

pytestmark = pytest.mark.kernel

START = "import lab, time\nfrom twisted.internet import reactor\nlab.start()\nNone"
SCHEDULE = ("def late():\n"
            "    print('printed-by-the-timer')\n"
            "lab.call(reactor.callLater, 0.8, late)\n"
            "print('scheduled')")
BUSY = "time.sleep(2.0)\nprint('busy cell done')"
BROKEN = ("def print_time():\n"
          "    print('Current time:', time_module.time())\n"
          "lab.call(reactor.callLater, 0.8, print_time)\n"
          "print('scheduled the broken timer')")


@pytest.fixture(scope="module")
def kernel():
    """A fresh python3 kernel and its client, shut down after the module."""
    manager, client = start_new_kernel(kernel_name="python3")
    yield client
    client.stop_channels()
    manager.shutdown_kernel(now=True)


def _run(client, code):
    """Execute ``code``, wait for its reply; return its msg_id."""
    msg_id = client.execute(code)
    client.get_shell_msg(timeout=60)
    return msg_id


def _streams(client, *expected, limit=15.0):
    """Stream messages on iopub, (parent msg_id, name, text), until every expected text was seen.

    Reading goes on 0.5 s past the last expected text, so a stray copy would be seen too.
    """
    found, deadline = [], time.monotonic() + limit
    while time.monotonic() < deadline:
        try:
            msg = client.get_iopub_msg(timeout=0.2)
        except queue.Empty:
            continue
        if msg["msg_type"] == "stream":
            found.append((msg["parent_header"].get("msg_id"), msg["content"]["name"],
                          msg["content"]["text"]))
            seen = "".join(text for _, _, text in found)
            if all(e in seen for e in expected):
                deadline = min(deadline, time.monotonic() + 0.5)
    return found


def test_timer_output_goes_to_the_cell_that_scheduled_it(kernel):
    """The timer's print carries the scheduling cell's msg_id, not the busy cell's that runs then."""
    _run(kernel, START)
    scheduler = _run(kernel, SCHEDULE)
    busy = _run(kernel, BUSY)
    streams = _streams(kernel, "printed-by-the-timer", "busy cell done")
    timer = [parent for parent, _, text in streams if "printed-by-the-timer" in text]
    assert [scheduler] == timer
    busy_text = "".join(text for parent, _, text in streams if parent == busy)
    assert "busy cell done" in busy_text and "printed-by-the-timer" not in busy_text


def test_reactor_error_notice_goes_to_the_scheduling_cell(kernel):
    """The seed's print_time without its import shows a NameError notice under its own cell."""
    _run(kernel, START)
    scheduler = _run(kernel, BROKEN)
    busy = _run(kernel, BUSY)
    streams = _streams(kernel, "NameError in the reactor thread", "busy cell done")
    notices = [(parent, name) for parent, name, text in streams
               if "NameError in the reactor thread" in text]
    assert [(scheduler, "stderr")] == notices
    assert not any("NameError" in text for parent, _, text in streams if parent == busy)
