"""The plugins notebook, executed in a real kernel, shows what it teaches."""

import pytest

from tests.notebook_runner import (
    all_text, cell_text, errors, execute_notebook, find_cell, widget_states)

pytestmark = pytest.mark.kernel


@pytest.fixture(scope="module")
def notebook():
    """notebooks/04-plugins.ipynb, executed top to bottom."""
    return execute_notebook("04-plugins.ipynb")


def test_runs_without_errors(notebook):
    """No cell of the notebook raises."""
    assert [] == errors(notebook)


def test_twisted_has_no_dependency_mechanism(notebook):
    """The correction of the article is shown: IPlugin has no methods, no dependency helpers."""
    text = cell_text(find_cell(notebook, "methods of IPlugin"))
    assert "methods of IPlugin: []" in text and "dependency helpers in twisted.plugin: []" in text


def test_raw_getplugins_finds_the_shipped_plugins_and_caches(notebook):
    """Raw getPlugins over lab.dropins lists echo and writes dropin.cache."""
    text = cell_text(find_cell(notebook, "getPlugins found"))
    assert "echo" in text and "cache written next to the modules: True" in text


def test_raw_getplugins_logs_a_broken_module_instead_of_raising(notebook):
    """The broken module disappears from getPlugins' answer and shows up only in the log."""
    text = cell_text(find_cell(notebook, "import raw_demo_plugins"))
    assert "getPlugins returned: ['good']" in text
    assert "Twisted logged: [\"SyntaxError: '(' was never closed (bad.py, line 1)\"]" in text
    assert "and printed on its stderr: Unhandled Error" in text  # reported, not a traceback here


def test_a_plugin_written_in_the_notebook_is_found_and_serves(notebook):
    """%%writefile then rescan finds 'hello' in the folder, and its factory greets."""
    text = cell_text(find_cell(notebook, 'info = registry.info("hello")'))
    assert "1 added (hello)" in text
    assert "hello | Greets every client, then listens. | available" in text
    served = cell_text(find_cell(notebook, "StringTransport()"))
    assert "the server said: b'hello, plugin world\\r\\n'" in served and "status: loaded" in served


def test_missing_dependency_and_cycle_name_their_chains(notebook):
    """Loading 'fancy' without 'auth', and 'ping' with 'pong', name the chains."""
    missing = cell_text(find_cell(notebook, 'registry.load("fancy")\nexcept'))
    assert "fancy -> auth" in missing and "status: missing dependency" in missing
    cycle = cell_text(find_cell(notebook, 'registry.load("ping")'))
    assert "ping -> pong -> ping" in cycle and "statuses: cycle cycle" in cycle


def test_adding_the_dependency_loads_in_order(notebook):
    """With 'auth' written, fancy loads after hello and auth, and hello stays loaded."""
    text = cell_text(find_cell(notebook, "load order:"))
    assert "1 added (auth), 0 removed, 0 reloaded" in text
    assert "load order: ['hello', 'auth', 'fancy']" in text and "fancy is loaded" in text
    assert "hello is still loaded" in text


def test_a_broken_plugin_is_reported_then_fixed_by_rescan(notebook):
    """The typo shows as broken with its traceback, other plugins load, and the fix loads."""
    broken = cell_text(find_cell(notebook, 'info = registry.info("shout")'))
    assert "status: broken" in broken and "SyntaxError: unterminated string literal" in broken
    assert 'shout.py", line 3' in broken and "hello still loads: hello" in broken
    fixed = cell_text(find_cell(notebook, 'registry.load("shout")'))
    assert "1 reloaded (shout)" in fixed and "shout is loaded" in fixed


def test_editing_a_loaded_plugin_loads_its_new_version(notebook):
    """After the edit of hello.py, rescan serves the new greeting and hello is loaded."""
    text = cell_text(find_cell(notebook, "the server says now"))
    assert "1 reloaded (hello)" in text
    assert "b'hello again, edited plugin\\r\\n' | status: loaded" in text


def test_browser_and_graph_show_statuses(notebook):
    """The browser's saved state lists the plugins; the graph draws the cycle and loaded nodes."""
    tables = [s.get("value", "") for s in widget_states(notebook).values()]
    assert any("<table>" in t and "fancy" in t and "cycle" in t for t in tables)
    graph = cell_text(find_cell(notebook, "HTML(browser.graph.value)"))
    assert 'data-name="ping" data-status="cycle"' in graph
    assert 'data-name="fancy" data-status="loaded"' in graph
    assert 'class="edge cycle"' in graph


def test_scratch_folders_are_removed(notebook):
    """The notebook cleans up the folders it wrote plugins into."""
    assert "removed the scratch folders" in all_text(notebook)
