"""The plugin registry over real temporary plugin folders, scanned by the real twisted.plugin."""

import os
import subprocess
import sys
import textwrap

import pytest
from twisted.logger import globalLogPublisher
from twisted.plugin import getPlugins

import lab
from lab.plugin import PluginRegistry

PLUGIN = """
    from lab import protocol_plugin
    from twisted.internet.protocol import Factory, Protocol

    class {cls}(Factory):
        protocol = Protocol

    {name} = protocol_plugin({name!r}, {description!r}, factory={cls}, requires={requires!r})
"""


def write(folder, module, text):
    """Write a plugin module as a person would, dedented."""
    (folder / f"{module}.py").write_text(textwrap.dedent(text))


def declare(folder, name, requires=(), description=None, module=None):
    """Write a module declaring one protocol plugin ``name``."""
    write(folder, module or name, PLUGIN.format(
        cls=name.title() + "Factory", name=name, requires=list(requires),
        description=description or f"The {name} plugin."))


@pytest.fixture
def folder(tmp_path):
    """A plain folder of plugin modules (no __init__.py), as a user would make one."""
    path = tmp_path / "my_plugins"
    path.mkdir()
    return path


@pytest.fixture
def registry(folder):
    """A registry over the folder only, so tests do not depend on the shipped plugins."""
    return PluginRegistry([folder], shipped=False)


@pytest.fixture
def twisted_log():
    """Every Twisted log event emitted during the test."""
    events = []
    globalLogPublisher.addObserver(events.append)
    yield events
    globalLogPublisher.removeObserver(events.append)


# -- discovery ----------------------------------------------------------------

def test_lab_plugins_is_one_registry_that_keeps_added_folders(folder):
    """lab.plugins() is the same registry every call, and paths= adds folders that stay."""
    declare(folder, "greeter")
    registry = lab.plugins(paths=[folder])
    assert registry is lab.plugins()
    assert "greeter" in lab.plugins().names()
    assert str(folder.resolve()) in registry.paths


def test_shipped_plugins_are_found_and_raw_getplugins_still_works():
    """The echo plugin in lab/dropins is found by the registry and by Twisted's own getPlugins."""
    registry = PluginRegistry()
    assert "echo" in registry.names()
    assert "lab.dropins" == registry.info("echo").origin
    raw = {p.name for p in getPlugins(lab.ILabPlugin, sys.modules["lab.dropins"])}
    assert "echo" in raw


def test_lab_plugins_is_callable_whatever_was_imported_first():
    """Importing a shipped plugin module before lab.plugins() leaves lab.plugins an ordinary function."""
    code = "import lab.dropins.echo, lab, types; assert isinstance(lab.plugins, types.FunctionType); print(lab.plugins().names())"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60, check=True).stdout
    assert "'echo'" in out


def test_info_describes_a_plugin_found_in_a_plain_folder(registry, folder):
    """info() gives name, description, interfaces, requires, file and origin, unloaded."""
    declare(folder, "base")
    declare(folder, "greeter", requires=["base"], description="Says hello.")
    info = registry.info("greeter")
    assert ("greeter", "Says hello.", ("base",)) == (info.name, info.description, info.requires)
    assert {"ILabPlugin", "IProtocolPlugin"} <= set(info.provides)
    assert str(folder.resolve() / "greeter.py") == info.file
    assert (str(folder.resolve()), False, "available", None) == (
        info.origin, info.loaded, info.status, info.error)
    assert info.get("description") == info["description"] == "Says hello."


def test_discovery_does_not_import_the_implementation(registry, folder, tmp_path, monkeypatch):
    """A plugin's implementation module is imported by load(), not by discovery or get()."""
    impl = tmp_path / "impl"
    impl.mkdir()
    (impl / "labtest_lazy_impl.py").write_text(
        "from twisted.internet.protocol import Factory\nclass LazyFactory(Factory):\n    pass\n")
    monkeypatch.syspath_prepend(str(impl))
    write(folder, "lazy", """
        from lab import protocol_plugin
        lazy = protocol_plugin("lazy", "Lazy.", factory="labtest_lazy_impl:LazyFactory")
    """)
    registry.get("lazy")
    assert "labtest_lazy_impl" not in sys.modules
    registry.load("lazy").build_factory()
    assert "labtest_lazy_impl" in sys.modules


def test_unknown_name_suggests_the_closest(registry, folder):
    """Asking for a misspelt plugin names the close match and how to add a plugin."""
    declare(folder, "greeter")
    with pytest.raises(lab.PluginError, match="Did you mean 'greeter'.*rescan"):
        registry.load("greter")


def test_a_folder_that_does_not_exist_is_refused(tmp_path):
    """Naming a missing folder fails at once, saying what to do."""
    with pytest.raises(lab.PluginError, match="does not exist.*create it"):
        PluginRegistry([tmp_path / "nope"], shipped=False)


def test_two_plugins_with_one_name_are_reported(registry, folder):
    """A name declared twice keeps the first and reports the clash."""
    declare(folder, "greeter", module="a_greeter", description="first")
    declare(folder, "greeter", module="b_greeter", description="second")
    assert "first" == registry.info("greeter").description
    assert any("two plugins are named 'greeter'" in str(p) for p in registry.problems())


# -- dependencies -------------------------------------------------------------

def test_load_brings_dependencies_first(registry, folder):
    """load() loads what a plugin requires, in topological order, and returns the plugin."""
    declare(folder, "app", requires=["auth", "db"])
    declare(folder, "auth", requires=["db"])
    declare(folder, "db")
    assert ["db", "auth", "app"] == registry.order(["app"])
    plugin = registry.load("app")
    assert "app" == plugin.name
    assert [True] * 3 == [registry.info(n).loaded for n in ("app", "auth", "db")]


def test_a_missing_dependency_names_the_chain(registry, folder):
    """A missing dependency raises MissingDependency with 'a -> b -> c'; other plugins still load."""
    declare(folder, "app", requires=["auth"])
    declare(folder, "auth", requires=["ldap"])
    declare(folder, "other")
    with pytest.raises(lab.MissingDependency, match="app -> auth -> ldap") as raised:
        registry.load("app")
    assert ("app", "auth", "ldap") == raised.value.chain
    info = registry.info("app")
    assert "missing dependency" == info.status and "app -> auth -> ldap" in str(info.error)
    assert "other" == registry.load("other").name


def test_a_cycle_names_the_loop(registry, folder):
    """Plugins requiring each other raise DependencyCycle with 'x -> y -> x', shown on info too."""
    declare(folder, "x", requires=["y"])
    declare(folder, "y", requires=["x"])
    with pytest.raises(lab.DependencyCycle, match="x -> y -> x") as raised:
        registry.load("x")
    assert ("x", "y", "x") == raised.value.chain
    assert "cycle" == registry.info("y").status
    assert isinstance(registry.info("y").error, lab.PluginError)


def test_unload_refuses_while_a_loaded_plugin_needs_it(registry, folder):
    """unload() of a dependency says which loaded plugin needs it; unloading in order works."""
    declare(folder, "app", requires=["db"])
    declare(folder, "db")
    registry.load("app")
    with pytest.raises(lab.PluginError, match="require it \\(app\\)"):
        registry.unload("db")
    registry.unload("app")
    registry.unload("db")
    assert ("available", "available") == (registry.info("app").status, registry.info("db").status)


# -- broken plugins -----------------------------------------------------------

def test_a_syntax_error_is_reported_on_its_plugin(registry, folder, twisted_log):
    """A module with a syntax error shows as broken with file and line; the rest still work."""
    declare(folder, "good")
    write(folder, "typo", "x = (\n")
    info = registry.info("typo")
    assert "broken" == info.status
    assert "SyntaxError" in str(info.error) and "typo.py" in info.error.traceback
    assert "good" == registry.load("good").name
    assert [] == [e for e in twisted_log if e.get("isError")]


def test_an_import_error_keeps_the_plugin_name_it_had(registry, folder):
    """A plugin whose module breaks later is reported under its plugin name, with the traceback."""
    declare(folder, "greeter", module="hello")
    assert ["greeter"] == registry.names()
    write(folder, "hello", "import labtest_no_such_module\n")
    registry.rescan()
    error = registry.info("greeter").error
    assert "No module named 'labtest_no_such_module'" in str(error)
    assert 'hello.py", line 1' in error.traceback
    with pytest.raises(lab.PluginError, match="failed to import"):
        registry.load("greeter")


def test_an_object_lacking_the_interface_is_named(registry, folder):
    """An object claiming ILabPlugin without its attributes is reported with what it lacks."""
    write(folder, "half", """
        from twisted.plugin import IPlugin
        from zope.interface import implementer
        from lab import ILabPlugin

        @implementer(IPlugin, ILabPlugin)
        class Half:
            pass

        half = Half()
    """)
    info = registry.info("half")
    assert "broken" == info.status
    assert "lacks name, description, requires;" in str(info.error)


def test_a_plugin_with_only_name_description_and_requires_loads_what_it_requires(
        registry, folder):
    """A plugin with nothing to import (no load()) is accepted; loading it loads its needs."""
    declare(folder, "greeter")
    write(folder, "course", """
        from twisted.plugin import IPlugin
        from zope.interface import implementer
        from lab import ILabPlugin

        @implementer(IPlugin, ILabPlugin)
        class Course:
            name = "course"
            description = "Everything the first lesson needs."
            requires = ("greeter",)

        course = Course()
    """)
    info = registry.info("course")
    assert ("available", None, ("greeter",)) == (info.status, info.error, info.requires)
    assert "course" == registry.load("course").name
    assert (True, True) == (registry.info("course").loaded, registry.info("greeter").loaded)
    registry.unload("course")
    assert not registry.info("course").loaded


def test_a_factory_that_raises_is_reported_at_load(registry, folder):
    """load() of a plugin whose factory raises fails with the traceback, and marks it broken."""
    write(folder, "boom", """
        from lab import protocol_plugin

        class BoomFactory:
            def __init__(self):
                raise RuntimeError("no boom today")

        boom = protocol_plugin("boom", "Explodes.", factory=BoomFactory)
    """)
    with pytest.raises(lab.PluginError, match="failed to load: RuntimeError: no boom today"):
        registry.load("boom")
    info = registry.info("boom")
    assert ("broken", False) == (info.status, info.loaded)
    assert "boom.py" in info.error.traceback


def test_a_plugin_needing_a_broken_one_is_blocked(registry, folder):
    """A plugin whose dependency is broken shows 'blocked' and its load names the broken one."""
    declare(folder, "app", requires=["typo"])
    write(folder, "typo", "x = (\n")
    assert "blocked" == registry.info("app").status
    with pytest.raises(lab.PluginError, match="requires 'typo', which is broken"):
        registry.load("app")


# -- rescan -------------------------------------------------------------------

def test_rescan_finds_new_changed_and_deleted_plugins(registry, folder, monkeypatch):
    """Plugins written, edited (same size, same second) and deleted are all picked up."""
    monkeypatch.setattr(sys, "dont_write_bytecode", False)  # so a stale .pyc could bite
    write(folder, "versioned", """
        from lab import protocol_plugin
        versioned = protocol_plugin("versioned", "version 1", factory=dict)
    """)
    assert "version 1" == registry.info("versioned").description
    declare(folder, "newcomer")
    (folder / "versioned.py").write_text(
        (folder / "versioned.py").read_text().replace("version 1", "version 2"))
    report = registry.rescan()
    assert ("newcomer",) == report.added and "versioned" in report.reloaded
    assert "version 2" == registry.info("versioned").description
    (folder / "newcomer.py").unlink()
    assert ("newcomer",) == registry.rescan().removed


def test_rescan_after_fixing_a_broken_plugin_makes_it_loadable(registry, folder):
    """Fixing a syntax error and rescanning turns the broken plugin into a loadable one."""
    write(folder, "typo", "x = (\n")
    assert "broken" == registry.info("typo").status
    declare(folder, "typo")
    registry.rescan()
    assert "typo" == registry.load("typo").name


def test_rescan_sees_an_edited_helper_module(registry, folder):
    """A plugin importing a sibling helper sees the helper's new version after rescan."""
    write(folder, "words", "GREETING = 'hello'\n")
    write(folder, "greeter", """
        from . import words
        from lab import protocol_plugin
        greeter = protocol_plugin("greeter", words.GREETING, factory=dict)
    """)
    assert "hello" == registry.info("greeter").description
    write(folder, "words", "GREETING = 'howdy'\n")
    registry.rescan()
    assert "howdy" == registry.info("greeter").description


def test_rescan_sees_a_file_copied_with_an_old_date(registry, folder):
    """A file replaced by one dated before Twisted's dropin.cache is still re-read."""
    declare(folder, "greeter", description="old")
    registry.names()
    declare(folder, "greeter", description="new, with an old date")
    os.utime(folder / "greeter.py", (1_000_000_000, 1_000_000_000))
    registry.rescan()
    assert "new, with an old date" == registry.info("greeter").description


def test_a_loaded_plugin_edited_is_loaded_again_in_its_new_version(registry, folder):
    """After its module changes, rescan() loads the plugin's new version in place of the old."""
    declare(folder, "greeter", description="one")
    old = registry.load("greeter")
    declare(folder, "greeter", description="two")
    assert ("greeter",) == registry.rescan().reloaded
    assert (True, "two") == (registry.info("greeter").loaded, registry.info("greeter").description)
    assert old is not registry.get("greeter")


def test_rescan_reloads_only_what_changed(registry, folder):
    """Writing or editing one plugin leaves its unrelated neighbours as they were, still loaded."""
    declare(folder, "steady")
    declare(folder, "edited")
    steady = registry.load("steady")
    declare(folder, "newcomer")
    assert ((), ()) == (registry.rescan().reloaded, registry.rescan().reloaded)
    declare(folder, "edited", description="edited")
    assert ("edited",) == registry.rescan().reloaded
    assert steady is registry.get("steady") and registry.info("steady").loaded


def test_an_unwritable_cache_is_reported_once_not_on_every_call(registry, folder, twisted_log):
    """When Twisted cannot write dropin.cache, the registry says so once and stays quiet after."""
    declare(folder, "greeter")
    (folder / "dropin.cache").mkdir()  # unwritable even for root, unlike chmod
    assert ["greeter"] == registry.names()
    assert 1 == sum("cannot save dropin.cache" in str(p) for p in registry.problems())
    logged = len(twisted_log)
    for _ in range(3):
        registry.rescan()
    os.utime(folder / "greeter.py", (1_000_000_000, 1_000_000_000))  # leave the racy window
    registry.rescan()
    before = len(twisted_log)
    registry.rescan()
    assert logged >= 1 and before == len(twisted_log)
    assert "greeter" == registry.load("greeter").name


def test_rescan_extends_the_shipped_package_with_new_sys_path_entries(tmp_path, monkeypatch):
    """A lab/dropins folder that appears on sys.path after import is found by rescan()."""
    extra = tmp_path / "site" / "lab" / "dropins"
    extra.mkdir(parents=True)
    declare(extra, "labtest_extra")
    shipped = sys.modules["lab.dropins"]
    monkeypatch.setattr(shipped, "__path__", list(shipped.__path__))
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    registry = PluginRegistry()
    assert "labtest_extra" in registry.names()
    assert str(extra) == os.path.dirname(registry.info("labtest_extra").file)


def test_rescan_sees_an_edit_that_left_the_timestamp_unchanged(registry, folder):
    """An edit within the file system's timestamp granularity (same mtime, same size) is seen."""
    write(folder, "tick", """
        from lab import protocol_plugin
        tick = protocol_plugin("tick", "tick", factory=dict)
    """)
    path = folder / "tick.py"
    assert "tick" == registry.info("tick").description
    before = path.stat()
    path.write_text(path.read_text().replace('"tick", factory', '"tock", factory'))
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))  # a coarse clock's view
    registry.rescan()
    assert "tock" == registry.info("tick").description
