"""One scan of one plugin source: Twisted's discovery, each failure attributed to its module."""

import importlib
import sys
import time
import types
from contextlib import contextmanager

from twisted.plugin import getCache
from zope.interface.interface import Method

from lab.errors import PluginError
from lab.interfaces import ILabPlugin, IProtocolPlugin
from lab.plugin._freshness import (
    evict, forget_stale_cache, invalidate_finders, record_signatures, stale_modules, with_dependents)
from lab.plugin._packages import SCAN_LOCK
from lab.plugin._records import Entry, iterable, summary, trimmed_traceback
from lab.plugin._twisted_log import captured_twisted_log, read_log


def scan(source, previous_names):
    """Re-discover ``source``'s plugins if any of its files changed; True if it did."""
    with SCAN_LOCK:
        return _scan_unlocked(source, previous_names)


def _scan_unlocked(source, previous_names):
    started = time.time_ns()
    folders = source.folders()
    current = source.current_signatures(folders)
    removed = set(source.signatures) - set(current)
    stale = stale_modules(current, removed)
    unchanged = {m: s for m, (_, s) in current.items()} == {
        m: s for m, (_, s) in source.signatures.items()}
    if source.scanned and unchanged and not stale:
        record_signatures(current, started)  # racy files age out of the window
        return False
    if stale:
        stale = with_dependents(stale, set(current))
        evict(stale, current)
        forget_stale_cache(folders, current, stale)
    invalidate_finders(folders)
    record_signatures(current, started)
    source.entries, source.notes = _discover(source, folders, current, previous_names)
    source.signatures = current
    source.scanned = True
    return True


def _discover(source, folders, current, previous_names):
    """Run Twisted's discovery over ``source`` and turn everything it did into entries and notes."""
    broken = _import_missing(current)
    with captured_twisted_log() as events, _placeholders(broken):
        try:
            dropins = getCache(source.package)
        except Exception as error:  # e.g. an unlistable folder
            note = PluginError(
                f"Twisted could not scan {source.origin}: {summary(error)}",
                traceback=trimmed_traceback(error, folders))
            return [], [note]
    logged, notes = read_log(events, current, folders, source.origin) if events else ({}, [])
    broken.update((m, e) for m, e in logged.items() if m not in broken)
    entries = []
    for dropin in dropins.values():
        if dropin.moduleName in broken:
            continue  # an empty stand-in, or a cache entry from before it broke
        for cached in dropin.plugins:
            entry = _adapt(cached, dropin.moduleName, source, current, folders)
            if entry is not None:
                entries.append(entry)
    for module, failure in broken.items():
        entries.extend(_broken_entries(module, failure, source, current, previous_names))
    return entries, notes


def _import_missing(current):
    """Import each plugin module not imported yet; module -> the error of each one that fails.

    Why here and not in Twisted's getCache: an import error is then known
    exactly, with its module and traceback, instead of being parsed back out
    of Twisted's log (where it would also be printed as "Unhandled Error").
    """
    failed = {}
    for module in sorted(current):
        if module not in sys.modules:
            try:
                importlib.import_module(module)
            except (Exception, SystemExit) as error:
                failed[module] = error
    return failed


@contextmanager
def _placeholders(broken):
    """Stand an empty module in for each broken one while Twisted scans: no re-import, no log.

    Twisted then caches the broken module as providing no plugins, which is
    true until its file changes (and a changed file is newer than the cache).
    """
    stand_ins = {}
    for module in broken:
        parent, _, child = module.rpartition(".")
        stand_ins[module] = types.ModuleType(module)
        sys.modules[module] = stand_ins[module]
        setattr(sys.modules[parent], child, stand_ins[module])  # namedAny walks attributes
    try:
        yield
    finally:
        for module, stand_in in stand_ins.items():
            if sys.modules.get(module) is stand_in:
                del sys.modules[module]
            parent, _, child = module.rpartition(".")
            if getattr(sys.modules.get(parent), child, None) is stand_in:
                delattr(sys.modules[parent], child)


def _broken_entries(module, error, source, current, previous_names):
    """Entries for a module that failed to import: its plugins' previous names, else its own name."""
    path = current.get(module, (None,))[0]
    short = module.rpartition(".")[2]
    names = previous_names.get(module) or [(short, None)]
    message = (f"plugin module {short!r} ({path}) failed to import: {summary(error)}. "
               "Fix the file, then call rescan().")
    return [Entry(name, None, module, attribute, path, source.origin,
                   PluginError(message, plugin=name,
                               traceback=trimmed_traceback(error, source.folders())))
            for name, attribute in names]


def _adapt(cached, module, source, current, folders):
    """Adapt one cached plugin to ILabPlugin, as getPlugins does; None if it is not a lab plugin."""
    path = current.get(module, (None,))[0]
    try:
        plugin = _adapted(cached, module)
    except Exception as error:
        message = (f"plugin {cached.name!r} in {module} could not be loaded from its module: "
                   f"{summary(error)}. Fix the module, then call rescan().")
        return Entry(cached.name, None, module, cached.name, path, source.origin,
                      PluginError(message, plugin=cached.name,
                                  traceback=trimmed_traceback(error, folders)))
    if plugin is None:
        return None
    name = getattr(plugin, "name", None)
    name = name if isinstance(name, str) and name else cached.name
    return Entry(name, plugin, module, cached.name, path, source.origin,
                  _invalid(plugin, name, module, cached.name))


def _adapted(cached, module):
    """``ILabPlugin(cached, None)``, reading an imported module's attribute directly.

    Twisted's CachedPlugin.load() goes through namedAny, which re-runs the
    import machinery for every plugin; for a module already imported (every
    warm scan) the attribute is the same object, fetched for a fraction.
    """
    imported = sys.modules.get(module)
    if imported is not None and any(i.isOrExtends(ILabPlugin) for i in cached.provided):
        return getattr(imported, cached.name)
    return ILabPlugin(cached, None)


def _invalid(plugin, name, module, attribute):
    """A PluginError if ``plugin`` claims the lab's interfaces without what they promise, else None."""
    lacking = [label for interface, members in _members() if interface.providedBy(plugin)
               for member, label in members
               if not hasattr(plugin, member) and (interface, member) not in OPTIONAL]
    wrong = []
    if not isinstance(getattr(plugin, "name", None), str) or not name.strip():
        wrong.append("name must be a non-empty string")
    requires = getattr(plugin, "requires", ())
    if isinstance(requires, str) or not all(isinstance(r, str) for r in iterable(requires)):
        wrong.append("requires must be a tuple of plugin names, e.g. ('echo',)")
    if not lacking and not wrong:
        return None
    problems = ([f"lacks {', '.join(lacking)}"] if lacking else []) + wrong
    return PluginError(
        f"plugin object {attribute!r} in {module} claims ILabPlugin but {'; '.join(problems)}. "
        "Declare it with lab.protocol_plugin(...) or give it every attribute of "
        "lab.ILabPlugin, then call rescan().", plugin=name)


_member_table: list = []
# Members a plugin may leave out: with no load(), there is nothing to import.
OPTIONAL = {(ILabPlugin, "load")}


def _members():
    """(interface, [(member, label)]) of the lab's interfaces in declaration order; computed once."""
    if not _member_table:
        for interface in (ILabPlugin, IProtocolPlugin):
            members = [(n, f"{n}()" if isinstance(interface[n], Method) else n)
                       for n in interface.names(all=True)]
            _member_table.append((interface, members))
    return _member_table
