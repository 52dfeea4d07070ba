"""The proxy notebook, executed in a real kernel against real memcached and redis-server."""

import pytest

from tests.notebook_runner import all_text, cell_text, errors, execute_notebook, find_cell

pytestmark = pytest.mark.kernel


@pytest.fixture(scope="module")
def notebook():
    """notebooks/08-proxy.ipynb, executed top to bottom."""
    return execute_notebook("08-proxy.ipynb")


def test_runs_without_errors(notebook):
    """No cell of the proxy notebook raises."""
    assert [] == errors(notebook)


def test_memcached_conversation_is_decoded(notebook):
    """pymemcache through the proxy: the decoded conversation shows the set, get and replies."""
    text = cell_text(find_cell(notebook, 'mc = lab.proxy('))
    assert "get: b'hello'" in text
    assert "-> set greeting flags=0" in text and "<- STORED" in text
    assert "VALUE greeting 0 5 = 'hello'" in text


def test_the_static_picture_shows_both_legs(notebook):
    """The proxy's repr shows a client leg and a server leg side by side."""
    cell = next(c for c in notebook.cells if c.cell_type == "code" and c.source == "mc")
    text = cell_text(cell)
    assert "client leg #1" in text and "server leg #2" in text


def test_redis_commands_and_replies_are_decoded(notebook):
    """redis-py's SET, HSET and a pipeline show as RESP commands and typed replies."""
    text = cell_text(find_cell(notebook, "rp = lab.proxy("))
    assert "pipeline: [1, 2, {b'name': b'ada', b'lang': b'python'}]" in text
    assert "-> SET colour blue" in text and "<- OK" in text and "<- (integer) 2" in text


def test_an_edited_reply_reaches_the_client(notebook):
    """The held GET reply is replaced: the client reads 'orange', Redis still has 'blue'."""
    text = cell_text(find_cell(notebook, 'rp.intercept("to_client"'))
    assert "held: to_client b'$4\\r\\nblue\\r\\n'" in text
    assert "the client read: b'orange'" in text
    assert "Redis still says: b'blue'" in text


def test_one_byte_fragmentation_breaks_the_naive_server_only(notebook):
    """The naive shout server answers every byte; the NetstringReceiver one answers PONG."""
    text = cell_text(find_cell(notebook, "class NaiveShout"))
    assert "naive-shout: b'20:ERR:unknown command ," in text
    assert "fixed-shout: b'4:PONG,'" in text


def test_replay_shows_the_changed_reply(notebook):
    """Replaying after the value changed: no difference first, then the get's reply differs."""
    text = cell_text(find_cell(notebook, "session = mc.legs()"))
    assert "0 with different replies" in text and "2 with different replies" in text
    assert "+#1 <- VALUE greeting 0 7 = 'bonjour'" in text


def test_faults_and_panel(notebook):
    """A 50 ms delay shows in the timing, and the panel is a live widget."""
    text = all_text(notebook)
    assert "a get through 50 ms of delay each way took" in text
    assert "stopped; running listeners: 0" in text
