"""notebooks/05-memcached.ipynb, executed in a real kernel: what each section shows a reader."""

import pytest

from tests.notebook_runner import (all_text, cell_text, errors, execute_notebook, find_cell,
                                   widget_states)

pytestmark = pytest.mark.kernel


@pytest.fixture(scope="module")
def notebook():
    """The memcached notebook, executed top to bottom."""
    return execute_notebook("05-memcached.ipynb")


def test_runs_without_errors(notebook):
    """No cell raises."""
    assert [] == errors(notebook)


def test_parser_gives_one_event_per_call(notebook):
    """The parser cell shows a Storage, two Commands, then NEED_DATA with the set pending."""
    text = cell_text(find_cell(notebook, "parser = Parser()"))
    assert ("Storage('set', key=b'greeting', flags=0, exptime=0, cas=0, data=b'hello', "
            "noreply=False)\nCommand(b'get greeting')\nCommand(b'GET greeting')\nNEED_DATA") in text
    assert "state: reading a data block" in text and "bytes expected: 5" in text


def test_injected_clock_expires_items(notebook):
    """After moving the clock 30 s, only the item without expiry is left."""
    text = cell_text(find_cell(notebook, "clock = Clock()"))
    assert "b'VALUE session 0 4\\r\\nabcd\\r\\nVALUE forever 0 1\\r\\nx\\r\\nEND\\r\\n'" in text
    assert text.rstrip().endswith("b'VALUE forever 0 1\\r\\nx\\r\\nEND\\r\\n'")


def test_memcached_errors_and_arithmetic(notebook):
    """The error cell shows the extra ERROR, a bad data chunk, 64-bit wrap and in-place decr."""
    text = cell_text(find_cell(notebook, "for request in"))
    assert "-> b'CLIENT_ERROR bad command line format\\r\\nERROR\\r\\n'" in text
    assert "-> b'CLIENT_ERROR bad data chunk\\r\\nERROR\\r\\n'" in text
    assert "-> b'STORED\\r\\n1\\r\\n'" in text
    assert "VALUE m 0 2\\r\\n7 \\r\\nEND" in text
    assert "VA 2 c1 f3 t-1 kn\\r\\nhi\\r\\nEN\\r\\nMN\\r\\n" in text


def test_slab_classes_evict_their_own_items(notebook):
    """The slab cell shows each class's pages and evictions, and memcached's free first page."""
    text = cell_text(find_cell(notebook, "cache_memory = Connection"))
    assert "class 1: chunk 96 B, 1 pages, 10922 items, 1078 evicted" in text
    assert "class 32: chunk 103496 B, 8 pages, 80 items, 20 evicted" in text
    assert "total_malloced: 9437184 | limit: 8388608" in text


def test_crawler_lists_and_reclaims_expired_items(notebook):
    """metadump lists the three items; after the TTL the crawl reclaims the expired one."""
    text = cell_text(find_cell(notebook, "crawled = Connection"))
    assert "key=page%3Ahome exp=1700000090 la=1700000030 cas=1 fetch=yes cls=1 size=73" in text
    assert "key=session%3A42 exp=1700000040" in text
    assert "items before the crawl: 3" in text
    assert "items after: 2 | crawler_reclaimed: 1" in text


def test_real_clients_work(notebook):
    """pymemcache and python-memcached store and read through the lab's server."""
    text = cell_text(find_cell(notebook, "PyMemcache((cache.host"))
    for expected in ("pymemcache get: b'hello'", "pymemcache incr: 42",
                     "cas with the right token: True", "cas with a stale token: False",
                     "python-memcached get: {'pickled': [1, 2, 3]}", "server version: 1.6.18"):
        assert expected in text


def test_traffic_is_decoded(notebook):
    """The decoder names the commands sent and the replies, values included."""
    text = cell_text(find_cell(notebook, "decoder = cache.decoder()"))
    for expected in ("-> rejected: flags, exptime or bytes is not a number",
                     "-> set k flags=0 exptime=0 (2 bytes)", "-> mg k v t Oreq1",
                     "<- CLIENT_ERROR bad command line format", "<- VALUE k 0 2 = 'ok'",
                     "<- VA 2 t-1 Oreq1 = 'ok'", "<- MN"):
        assert expected in text


def test_stepper_replays_the_captured_stream(notebook):
    """The stepper runs the captured bytes one event at a time, with the server's replies."""
    text = cell_text(find_cell(notebook, "in_code.feed_capture"))
    assert ("step 1: rejected: flags, exptime or bytes is not a number -> "
            "b'CLIENT_ERROR bad command line format\\r\\n'") in text
    assert "step: ab -> b'ERROR\\r\\n'" in text
    assert "step: mn -> b'MN\\r\\n'" in text


def test_the_protocol_stepper_is_left_for_the_learner(notebook):
    """The shown stepper holds the captured bytes and has run nothing: Step is the reader's."""
    values = [str(s.get("value", "")) for s in widget_states(notebook).values()]
    logs = [v for v in values if "lab-stepper-log" in v]
    states = [v for v in values if "lab-stepper-state" in v]
    # two steppers: the one shown, with an empty log, and the code form's (not shown)
    assert 2 == len(logs) and "<ol class='lab-stepper-log'></ol>" in logs
    assert any("set k 0 0 x" in state for state in states)  # the shown one: all still buffered


def test_the_deferred_chain_is_left_for_the_learner(notebook):
    """The shown chain holds the server's reply before stage #0, value_only, unstepped."""
    assert "paused before stage #0 (press Step below)" in cell_text(
        find_cell(notebook, "chain = lab.step(fetch"))
    values = [str(s.get("value", "")) for s in widget_states(notebook).values()]
    ladders = [v for v in values if "lab-ladder" in v]
    assert 1 == len(ladders) and "paused before stage #0" in ladders[0]
    assert "value_only" in ladders[0] and "result:" not in ladders[0]


def test_deferred_chain_of_twisted_client_is_stepped(notebook):
    """The Twisted client's get chain is stepped in code: first stage value_only, result hello!."""
    text = cell_text(find_cell(notebook, "in_code = lab.step(fetch"))
    assert "first stage: value_only -> b'hello!'" in text
    assert "result: hello!" in text


def test_load_test_completes_without_errors(notebook):
    """2000 gets over 8 connections all complete, and the server's stats count them."""
    text = cell_text(find_cell(notebook, "report = lab.load_test"))
    assert "requests: 2000 of 2000 | errors: 0" in text
    assert "cmd_get >= 2000: True" in text


def test_server_stops(notebook):
    """The last cell stops the listener."""
    assert "stopped: True" in all_text(notebook)
