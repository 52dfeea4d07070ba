"""The plugin browser widget, driven as a user would: choose, click Load/Unload/Rescan, read it."""

import xml.etree.ElementTree as ET

import pytest

from lab.plugin import DependencyGraph, PluginRegistry
from lab.widgets.plugin_browser import STATUS_COLOURS, PluginBrowser, dependency_svg
from tests.test_plugin import declare, write

SVG = "{http://www.w3.org/2000/svg}"


@pytest.fixture
def folder(tmp_path):
    """A plugin folder with a dependency chain, a missing dependency, a cycle and a broken module."""
    path = tmp_path / "plugins"
    path.mkdir()
    declare(path, "app", requires=["db"], description="The app.")
    declare(path, "db")
    declare(path, "auth", requires=["ldap"])
    declare(path, "x", requires=["y"])
    declare(path, "y", requires=["x"])
    write(path, "typo", "x = (\n")
    return path


@pytest.fixture
def browser(folder):
    """A browser over a registry of that folder only."""
    return PluginBrowser(PluginRegistry([folder], shipped=False))


def nodes(svg):
    """name -> (status, fill) of each node drawn in the SVG."""
    root = ET.fromstring(svg)
    return {g.get("data-name"): (g.get("data-status"), g.find(f"{SVG}rect").get("fill"))
            for g in root.iter(f"{SVG}g") if g.get("class") == "node"}


def test_table_lists_every_plugin_with_its_status(browser):
    """The table shows each plugin's name, description, requires and status."""
    table = browser.table.value
    for text in ("app", "The app.", "db", "missing dependency", "cycle", "broken"):
        assert text in table
    assert ["app", "auth", "db", "typo", "x", "y"] == list(browser.chooser.options)
    assert "6 plugins" in browser.summary.value


def test_details_show_the_error_and_its_traceback(browser):
    """Choosing a broken plugin shows its error and the traceback pointing at the file."""
    browser.chooser.value = "typo"
    assert "SyntaxError" in browser.details.value
    assert "typo.py" in browser.details.value and "<pre" in browser.details.value


def test_load_and_unload_buttons_change_the_status(browser):
    """Clicking Load loads the plugin and its dependency; Unload takes it back."""
    browser.chooser.value = "app"
    browser.load_button.click()
    assert "app loaded" in browser.message.value
    assert ("loaded", STATUS_COLOURS["loaded"]) == nodes(browser.graph.value)["db"]
    browser.unload_button.click()
    assert "available" == browser.registry.info("app").status


def test_loading_a_plugin_with_a_missing_dependency_says_why(browser):
    """Load on a plugin whose dependency is missing shows the chain instead of raising."""
    browser.chooser.value = "auth"
    browser.load_button.click()
    assert "auth -&gt; ldap" in browser.message.value


def test_loads_made_in_code_show_in_the_browser(browser):
    """Loading a plugin from code, not the button, updates the table and graph."""
    browser.registry.load("db")
    assert ("loaded", STATUS_COLOURS["loaded"]) == nodes(browser.graph.value)["db"]


def test_rescan_button_shows_new_plugins(browser, folder):
    """A plugin written after the browser opened appears after Rescan, and the report says so."""
    declare(folder, "late")
    browser.rescan_button.click()
    assert "late" in browser.chooser.options
    assert "1 added (late)" in browser.message.value


def test_graph_colours_nodes_and_shows_missing_and_cycles(browser):
    """The SVG has a node per plugin coloured by status, a dashed missing node, red cycle edges."""
    drawn = nodes(browser.graph.value)
    assert ("available", STATUS_COLOURS["available"]) == drawn["app"]
    assert ("broken", STATUS_COLOURS["broken"]) == drawn["typo"]
    assert "missing" == drawn["ldap"][0]
    root = ET.fromstring(browser.graph.value)
    cycle_edges = [p for p in root.iter(f"{SVG}path") if p.get("class") == "edge cycle"]
    assert 2 == len(cycle_edges)


def test_a_self_requiring_plugin_is_a_cycle_edge():
    """A plugin that requires itself is drawn with a red loop edge."""
    svg = dependency_svg(DependencyGraph({"me": ("me",)}), {"me": "cycle"})
    assert 'class="edge cycle"' in svg


def test_the_registry_shows_as_its_browser_in_a_notebook(folder):
    """A registry displayed in a notebook gives the widget plus a text summary."""
    registry = PluginRegistry([folder], shipped=False)
    bundle = registry._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle
    assert "x                cycle" in bundle["text/plain"]
    assert registry.browser() is registry.browser()


def test_something_is_chosen_from_the_start_and_buttons_fit_its_state(browser):
    """A new browser shows a plugin with a problem; Load and Unload are enabled only when they can act."""
    assert browser.chooser.value is not None and browser.details.value
    assert browser.registry.info(browser.chooser.value).status != "available"
    browser.chooser.value = "db"
    assert not browser.load_button.disabled and browser.unload_button.disabled
    browser.load_button.click()
    assert browser.load_button.disabled and not browser.unload_button.disabled


def test_a_folder_is_added_from_the_view(tmp_path):
    """Add folder scans a new folder and lists its plugins."""
    browser = PluginBrowser(PluginRegistry([], shipped=False))
    extra = tmp_path / "more"
    extra.mkdir()
    declare(extra, "extra")
    browser.folder.value = str(extra)
    browser.add_button.click()
    assert "extra" in browser.chooser.options and "added" in browser.message.value


@pytest.mark.reactor
def test_unload_of_a_plugin_a_listener_serves_is_refused(lab_reactor):
    """Unload says which listener still serves the plugin, and leaves both running."""
    import lab

    registry = lab.plugins()
    listener = lab.listen("echo", name="served")
    try:
        browser = PluginBrowser(registry)
        browser.chooser.value = "echo"
        browser.unload_button.click()
        assert "still serves served on 127.0.0.1:" in browser.message.value
        assert "loaded" == registry.info("echo").status and listener.running
    finally:
        listener.stop()
