"""The plugin registry: Twisted's plugin discovery, plus the dependencies and error reports it lacks.

    registry = lab.plugins()                 # the process-wide registry
    registry.names()                         # ['chat', 'echo', 'memcached', ...]
    registry.info("echo")                    # name, description, provides, requires, status, error...
    echo = registry.load("echo")             # its dependencies first, then the plugin
    lab.plugins(paths=["my_plugins"])        # the same registry, now also scanning a folder

Discovery is ``twisted.plugin``'s: for each plugin package, ``getCache`` reads
(and rewrites) ``dropin.cache`` and imports the modules it has no fresh entry
for; then each cached plugin is adapted to :class:`~lab.interfaces.ILabPlugin`,
the loop of ``getPlugins``.  That loop is inlined here so that a plugin that
fails is attributed to its module and attribute, not only logged (and so that
an already-imported module's plugin is read without re-entering the import
machinery: warm discovery costs less than ``getPlugins``, see bench/plugins.py).
Twisted's own log output during the scan is captured and turned into
per-plugin errors (import failures) or registry notes (an unwritable cache).

A plain folder of plugin modules becomes a plugin package by a module object
made for it, ``lab.plugins.<folder>_<hash>``, whose ``__path__`` is the
folder; its modules import as ``lab.plugins.<folder>_<hash>.<module>``, and
may import each other with ``from . import helper``.

Twisted's traps that :meth:`PluginRegistry.rescan` steps around (DESIGN.md):
an edited module still in ``sys.modules`` would be used as it was, so changed
modules are evicted; a stale ``__pycache__`` file may survive an edit made in
the same second with the same size, so it is removed; a file edited within
the file system's timestamp granularity of a scan looks unchanged, so such
"racy" files are re-imported at the next scan; an unchanged package is not
re-scanned at all, so a read-only folder costs Twisted's "unable to write
dropin.cache" once, not on every call; and ``lab.plugins.__path__`` is
extended with folders that appeared on ``sys.path`` since it was computed.
"""

import difflib
import hashlib
import importlib
import importlib.machinery
import importlib.util
import os
import re
import sys
import threading
import time
import traceback
import types
import weakref
from collections.abc import Mapping
from contextlib import contextmanager
from dataclasses import dataclass, fields

from twisted.logger import formatEvent, globalLogPublisher
from twisted.plugin import getCache, pluginPackagePaths

from zope.interface import providedBy
from zope.interface.interface import Method

from lab.errors import DependencyCycle, MissingDependency, PluginError
from lab.interfaces import ILabPlugin, IProtocolPlugin

__all__ = ["plugins", "registry", "PluginRegistry", "PluginInfo", "ScanReport", "RACY_SECONDS"]

_shipped = importlib.import_module("lab.plugins")

# A file modified this close (seconds) before a scan may be edited again
# without its timestamp changing (coarse clocks, 1-2 s file systems).
RACY_SECONDS = 2.0
_RACY_NS = int(RACY_SECONDS * 1e9)

# Process-wide, shared by every registry: the file signature (mtime_ns, size)
# of each plugin module when it was last let into sys.modules, and for the
# modules that were "racy" then, a digest of their content.  A module with no
# record is trusted as imported.
_module_signatures = {}
_racy_modules = {}
# sys.modules and the records above are process-wide: one scan at a time.
_scan_lock = threading.RLock()


# --------------------------------------------------------------------------
# what the registry tells

@dataclass(frozen=True)
class PluginInfo(Mapping):
    """What the registry knows of one plugin; read it as attributes or as a mapping.

    ``status`` is one of ``available``, ``loaded``, ``broken`` (its own error),
    ``missing dependency``, ``cycle`` or ``blocked`` (a dependency is broken);
    ``error`` is None or a :class:`lab.PluginError` with ``.traceback``.
    """

    name: str
    description: str
    provides: tuple
    requires: tuple
    module: str
    file: str
    origin: str
    loaded: bool
    status: str
    error: PluginError = None
    transports: tuple = ()
    attribute: str = None

    def __getitem__(self, key):
        if key not in self._keys():
            raise KeyError(key)
        return getattr(self, key)

    def __iter__(self):
        return iter(self._keys())

    def __len__(self):
        return len(self._keys())

    @classmethod
    def _keys(cls):
        return [f.name for f in fields(cls)]


@dataclass(frozen=True)
class ScanReport:
    """What a :meth:`PluginRegistry.rescan` changed: names added, removed, reloaded, broken."""

    added: tuple = ()
    removed: tuple = ()
    reloaded: tuple = ()
    broken: tuple = ()

    def __str__(self):
        parts = [f"{len(v)} {k} ({', '.join(v)})" if v else f"0 {k}"
                 for k, v in (("added", self.added), ("removed", self.removed),
                              ("reloaded", self.reloaded), ("broken", self.broken))]
        return "rescan: " + ", ".join(parts)


@dataclass
class _Entry:
    """One discovered plugin (or a module that failed before it could show its plugins)."""

    name: str
    obj: object
    module: str
    attribute: str
    file: str
    origin: str
    error: PluginError = None


# --------------------------------------------------------------------------
# errors with their tracebacks

def _trimmed_traceback(error, folders):
    """The traceback of ``error`` from the first frame in a plugin folder on (all of it if none)."""
    if isinstance(error, SyntaxError):
        return "".join(traceback.format_exception_only(type(error), error))
    tb = error.__traceback__
    while tb is not None and not _in_folders(tb.tb_frame.f_code.co_filename, folders):
        tb = tb.tb_next
    return "".join(traceback.format_exception(type(error), error, tb or error.__traceback__))


def _in_folders(path, folders):
    path = os.path.realpath(path) if path else ""
    return any(path.startswith(folder + os.sep) for folder in folders)


def _summary(error):
    return f"{type(error).__name__}: {error}"


# --------------------------------------------------------------------------
# Twisted's log, captured during a scan

@contextmanager
def _captured_twisted_log():
    """Collect the Twisted log events this thread emits inside the block (other threads' are left alone)."""
    events = []
    me = threading.get_ident()

    def observer(event):
        if threading.get_ident() == me:
            events.append(event)

    globalLogPublisher.addObserver(observer)
    try:
        yield events
    finally:
        globalLogPublisher.removeObserver(observer)


# --------------------------------------------------------------------------
# plugin packages: lab.plugins, and one made for each user folder

def _folder_package(folder):
    """The plugin package whose ``__path__`` is ``folder`` (made once per folder and process)."""
    slug = re.sub(r"\W+", "_", os.path.basename(folder)).strip("_").lower() or "folder"
    slug = f"f_{slug}" if slug[0].isdigit() else slug  # module names may not start with a digit
    digest = hashlib.sha1(folder.encode()).hexdigest()[:8]
    name = f"{_shipped.__name__}.{slug}_{digest}"
    with _scan_lock:
        return sys.modules.get(name) or _new_folder_package(name, folder)


def _new_folder_package(name, folder):
    package = types.ModuleType(name, f"Lab plugins in the folder {folder}.")
    package.__path__ = [folder]
    package.__package__ = name
    package.__spec__ = importlib.machinery.ModuleSpec(name, None, is_package=True)
    package.__spec__.submodule_search_locations = package.__path__
    # twisted.python.modules treats a module as a package only if its
    # __file__ is an existing __init__ file; the folders come from __path__.
    package.__file__ = _shipped.__file__
    sys.modules[name] = package
    # Twisted's namedAny walks attributes: lab.plugins.<name>.<module>.
    setattr(_shipped, name.rpartition(".")[2], package)
    return package


class _Source:
    """One plugin package and what its last scan found."""

    def __init__(self, package, origin):
        self.package = package
        self.origin = origin
        self.scanned = False
        self.signatures = {}    # module name -> (path, (mtime_ns, size))
        self.entries = []
        self.notes = []         # PluginErrors not tied to one plugin

    def folders(self):
        """The existing folders of the package, as real paths, in search order."""
        if self.package is _shipped:
            _extend_shipped_path()
        seen = []
        for folder in self.package.__path__:
            real = os.path.realpath(folder)
            if real not in seen and os.path.isdir(real):
                seen.append(real)
        return seen

    def current_signatures(self, folders):
        """Module name -> (file, (mtime_ns, size)) for every plugin module in ``folders``."""
        found = {}
        for folder in folders:
            for name, path in _module_files(folder):
                module = f"{self.package.__name__}.{name}"
                if module not in found:
                    stat = os.stat(path)
                    found[module] = (path, (stat.st_mtime_ns, stat.st_size))
        return found


def _module_files(folder):
    """(module name, file) of each module Twisted would find in ``folder``: ``*.py`` and packages."""
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return []
    found = []
    for entry in sorted(entries, key=lambda e: e.name):
        stem, ext = os.path.splitext(entry.name)
        if ext == ".py" and stem.isidentifier() and stem != "__init__":
            found.append((stem, entry.path))
        elif not ext and entry.name.isidentifier() and entry.is_dir():
            init = os.path.join(entry.path, "__init__.py")
            if os.path.exists(init):
                found.append((entry.name, init))
    return found


def _extend_shipped_path():
    """Add to ``lab.plugins.__path__`` the plugin folders that appeared on sys.path since import."""
    for folder in pluginPackagePaths(_shipped.__name__):
        if folder not in _shipped.__path__ and os.path.isdir(folder):
            _shipped.__path__.append(folder)


# --------------------------------------------------------------------------
# stale modules, stale bytecode, stale dropin.cache

def _stale_modules(current, removed):
    """Modules that sys.modules holds from an older file: changed stat, or (if racy) changed content."""
    stale = set(removed)
    for module, (path, signature) in current.items():
        recorded = _module_signatures.get(module)
        if recorded is not None and recorded != signature:
            stale.add(module)
        elif module in _racy_modules and _racy_modules[module] != _digest(path):
            stale.add(module)
    return stale


def _digest(path):
    try:
        with open(path, "rb") as file:
            return hashlib.blake2b(file.read(), digest_size=16).digest()
    except OSError:
        return None


def _with_dependents(stale, modules):
    """``stale`` plus every imported module of ``modules`` holding one of them or an object from one.

    Why: after ``from . import helper`` or ``from .helper import Thing`` a
    sibling keeps the old helper's objects, so it must be imported again too.
    """
    stale = set(stale)
    grew = True
    while grew:
        holders = {m for m in modules - stale
                   if m in sys.modules and _refers_to(sys.modules[m], stale)}
        stale |= holders
        grew = bool(holders)
    return stale


def _refers_to(module, names):
    for value in list(vars(module).values()):
        try:
            owner = (value.__name__ if isinstance(value, types.ModuleType)
                     else getattr(value, "__module__", None))
        except Exception:  # an object whose attributes raise is no reference we can follow
            continue
        if isinstance(owner, str) and owner in names:
            return True
    return False


def _evict(modules, current):
    """Forget ``modules`` (and their submodules) so the next import reads their files again."""
    prefixes = tuple(m + "." for m in modules)
    for name in [n for n in sys.modules if n in modules or n.startswith(prefixes)]:
        module = sys.modules.pop(name)
        parent, _, child = name.rpartition(".")
        # `from . import helper` returns the parent's attribute if there is one.
        if getattr(sys.modules.get(parent), child, None) is module:
            delattr(sys.modules[parent], child)
    for module in modules:
        path = current.get(module, (None,))[0]
        if path:
            _remove_quietly(importlib.util.cache_from_source(path))


def _forget_stale_cache(folders, current, changed):
    """Remove a folder's dropin.cache if a changed file is dated before it (copied with its old mtime)."""
    for folder in folders:
        cache = os.path.join(folder, "dropin.cache")
        try:
            cached_at = os.stat(cache).st_mtime_ns
        except OSError:
            continue
        for module in changed:
            path, signature = current.get(module, (None, None))
            if path and os.path.dirname(path) == folder and signature[0] < cached_at:
                _remove_quietly(cache)
                break


def _remove_quietly(path):
    try:
        os.remove(path)
    except OSError:
        pass  # absent, or a read-only folder: nothing stale was written there by us


def _record_signatures(current, scan_started_ns):
    """Remember each module's file as it is now, and the content of those that may change unseen."""
    for module, (path, signature) in current.items():
        _module_signatures[module] = signature
        if signature[0] >= scan_started_ns - _RACY_NS:
            _racy_modules[module] = _digest(path)
        else:
            _racy_modules.pop(module, None)


def _invalidate_finders(folders):
    """Make Python's import system list the folders again (a new file can share the folder's mtime)."""
    for folder in folders:
        finder = sys.path_importer_cache.get(folder)
        if finder is not None:
            finder.invalidate_caches()


# --------------------------------------------------------------------------
# one scan of one source

def _scan(source, previous_names):
    """Re-discover ``source``'s plugins if any of its files changed; True if it did."""
    with _scan_lock:
        return _scan_unlocked(source, previous_names)


def _scan_unlocked(source, previous_names):
    started = time.time_ns()
    folders = source.folders()
    current = source.current_signatures(folders)
    removed = set(source.signatures) - set(current)
    stale = _stale_modules(current, removed)
    unchanged = {m: s for m, (_, s) in current.items()} == {
        m: s for m, (_, s) in source.signatures.items()}
    if source.scanned and unchanged and not stale:
        _record_signatures(current, started)  # racy files age out of the window
        return False
    if stale:
        stale = _with_dependents(stale, set(current))
        _evict(stale, current)
        _forget_stale_cache(folders, current, stale)
    _invalidate_finders(folders)
    _record_signatures(current, started)
    source.entries, source.notes = _discover(source, folders, current, previous_names)
    source.signatures = current
    source.scanned = True
    return True


def _discover(source, folders, current, previous_names):
    """Run Twisted's discovery over ``source`` and turn everything it did into entries and notes."""
    broken = _import_missing(current)
    with _captured_twisted_log() as events, _placeholders(broken):
        try:
            dropins = getCache(source.package)
        except Exception as error:  # e.g. an unlistable folder
            note = PluginError(
                f"Twisted could not scan {source.origin}: {_summary(error)}",
                traceback=_trimmed_traceback(error, folders))
            return [], [note]
    logged, notes = _read_log(events, current, folders, source.origin) if events else ({}, [])
    broken.update((m, e) for m, e in logged.items() if m not in broken)
    entries = []
    for dropin in dropins.values():
        if dropin.moduleName in broken:
            continue  # an empty stand-in, or a cache entry from before it broke
        for cached in dropin.plugins:
            entry = _adapt(cached, dropin.moduleName, source, current, folders)
            if entry is not None:
                entries.append(entry)
    for module, error in broken.items():
        entries.extend(_broken_entries(module, error, source, current, previous_names))
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


def _read_log(events, current, folders, origin):
    """Split captured log events into module import failures and other notes."""
    files = {os.path.realpath(path): module for module, (path, _) in current.items()}
    broken, notes = {}, []
    for event in events:
        failure = event.get("log_failure") or event.get("failure")
        if failure is not None:
            module = _module_of(failure.value, files)
            if module is not None and module not in broken:
                broken[module] = failure.value
                continue
            notes.append(PluginError(
                f"Twisted logged an error while scanning {origin}: {_summary(failure.value)}",
                traceback=_trimmed_traceback(failure.value, folders)))
        elif event.get("errno") is not None and "path" in event:
            notes.append(PluginError(
                f"Twisted cannot save dropin.cache in {os.path.dirname(event['path'])} "
                f"(errno {event['errno']}: {os.strerror(event['errno'])}). Discovery still "
                "works: the registry scans that folder again only when one of its files "
                "changes. Make the folder writable to let Twisted cache it."))
        elif event.get("isError"):
            notes.append(PluginError(f"Twisted logged while scanning {origin}: "
                                     f"{formatEvent(event)}"))
    return broken, notes


def _module_of(error, files):
    """The plugin module that failed: the outermost frame in a plugin file, else a SyntaxError's file."""
    for frame in traceback.extract_tb(error.__traceback__):
        module = files.get(os.path.realpath(frame.filename))
        if module is not None:
            return module
    if isinstance(error, SyntaxError) and error.filename:
        return files.get(os.path.realpath(error.filename))
    return None


def _broken_entries(module, error, source, current, previous_names):
    """Entries for a module that failed to import: its plugins' previous names, else its own name."""
    path = current.get(module, (None,))[0]
    short = module.rpartition(".")[2]
    names = previous_names.get(module) or [(short, None)]
    message = (f"plugin module {short!r} ({path}) failed to import: {_summary(error)}. "
               "Fix the file, then call rescan().")
    return [_Entry(name, None, module, attribute, path, source.origin,
                   PluginError(message, plugin=name,
                               traceback=_trimmed_traceback(error, source.folders())))
            for name, attribute in names]


def _adapt(cached, module, source, current, folders):
    """Adapt one cached plugin to ILabPlugin, as getPlugins does; None if it is not a lab plugin."""
    path = current.get(module, (None,))[0]
    try:
        plugin = _adapted(cached, module)
    except Exception as error:
        message = (f"plugin {cached.name!r} in {module} could not be loaded from its module: "
                   f"{_summary(error)}. Fix the module, then call rescan().")
        return _Entry(cached.name, None, module, cached.name, path, source.origin,
                      PluginError(message, plugin=cached.name,
                                  traceback=_trimmed_traceback(error, folders)))
    if plugin is None:
        return None
    name = getattr(plugin, "name", None)
    name = name if isinstance(name, str) and name else cached.name
    return _Entry(name, plugin, module, cached.name, path, source.origin,
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
               for member, label in members if not hasattr(plugin, member)]
    wrong = []
    if not isinstance(getattr(plugin, "name", None), str) or not name.strip():
        wrong.append("name must be a non-empty string")
    requires = getattr(plugin, "requires", ())
    if isinstance(requires, str) or not all(isinstance(r, str) for r in _iterable(requires)):
        wrong.append("requires must be a tuple of plugin names, e.g. ('echo',)")
    if not lacking and not wrong:
        return None
    problems = ([f"lacks {', '.join(lacking)}"] if lacking else []) + wrong
    return PluginError(
        f"plugin object {attribute!r} in {module} claims ILabPlugin but {'; '.join(problems)}. "
        "Declare it with lab.protocol_plugin(...) or give it every attribute of "
        "lab.ILabPlugin, then call rescan().", plugin=name)


_member_table = []


def _members():
    """(interface, [(member, label)]) of the lab's interfaces in declaration order; computed once."""
    if not _member_table:
        for interface in (ILabPlugin, IProtocolPlugin):
            members = [(n, f"{n}()" if isinstance(interface[n], Method) else n)
                       for n in interface.names(all=True)]
            _member_table.append((interface, members))
    return _member_table


def _iterable(value):
    try:
        return list(value)
    except TypeError:
        return [None]


# --------------------------------------------------------------------------
# the registry

class PluginRegistry:
    """Lab plugins found by Twisted in ``lab.plugins`` and in plain folders of plugin modules.

    ``paths`` are folders of plugin modules (a folder needs no ``__init__.py``);
    ``shipped=False`` leaves out the plugins the lab ships (for isolated tests).
    Discovery is lazy: the first question scans, :meth:`rescan` scans again.
    """

    def __init__(self, paths=(), *, shipped=True):
        self._lock = threading.RLock()
        self._sources = [_Source(_shipped, _shipped.__name__)] if shipped else []
        self._entries = {}
        self._duplicates = []
        self._loaded = {}        # name -> the plugin object that was loaded
        self._load_errors = {}   # name -> (plugin object, PluginError)
        self._browser = None
        self._observers = []
        self.add_paths(paths)

    # -- folders ----------------------------------------------------------

    @property
    def paths(self):
        """The user folders scanned, in the order they were added (real paths)."""
        return tuple(s.origin for s in self._sources if s.package is not _shipped)

    def add_paths(self, paths):
        """Also scan these folders of plugin modules (already-added ones are ignored)."""
        if isinstance(paths, (str, os.PathLike)):
            paths = [paths]
        with self._lock:
            for folder in paths:
                real = _checked_folder(folder)
                if real not in self.paths and not self._is_shipped_folder(real):
                    self._sources.append(_Source(_folder_package(real), real))

    def _is_shipped_folder(self, real):
        return any(s.package is _shipped and real in s.folders() for s in self._sources)

    # -- scanning ---------------------------------------------------------

    def rescan(self):
        """Scan every folder again, picking up plugins written, edited or deleted since; return a report.

        A plugin that was loaded and whose module changed is loaded again, in its new version.
        """
        with self._lock, self._notifying():
            before = {n: e.obj for n, e in self._entries.items()}
            was_loaded = list(self._loaded)
            self._scan(force=True)
            self._load_again(was_loaded)
            return self._report(before)

    def _load_again(self, names):
        """Load the new version of plugins that were loaded before their module changed."""
        for name in names:
            if name in self._entries and name not in self._loaded:
                try:
                    self._load_with_dependencies(name)
                except PluginError:
                    pass  # the error is on the plugin's info, as for any failed load

    def _ensure_scanned(self):
        if any(not s.scanned for s in self._sources):
            self._scan(force=False)

    def _scan(self, force):
        changed = False
        for source in self._sources:
            if force or not source.scanned:
                previous = _names_by_module(source.entries)
                changed |= _scan(source, previous)
        if changed or not self._entries:
            self._rebuild()

    def _rebuild(self):
        """Index entries by name; the first source (lab.plugins, then folders in order) wins a clash."""
        entries, duplicates = {}, []
        for source in self._sources:
            for entry in source.entries:
                if entry.name in entries:
                    duplicates.append(_duplicate(entries[entry.name], entry))
                else:
                    entries[entry.name] = entry
        self._entries, self._duplicates = entries, duplicates
        self._loaded = {n: p for n, p in self._loaded.items()
                        if n in entries and entries[n].obj is p}
        self._load_errors = {n: v for n, v in self._load_errors.items()
                             if n in entries and entries[n].obj is v[0]}

    def _report(self, before):
        after = self._entries
        return ScanReport(
            added=tuple(sorted(set(after) - set(before))),
            removed=tuple(sorted(set(before) - set(after))),
            reloaded=tuple(sorted(n for n in set(before) & set(after)
                                  if after[n].obj is not before[n])),
            broken=tuple(sorted(n for n, e in after.items() if e.error)),
        )

    # -- questions --------------------------------------------------------

    def names(self):
        """Every plugin name found, sorted (broken ones too; ask :meth:`info` for their status)."""
        with self._lock:
            self._ensure_scanned()
            return sorted(self._entries)

    def get(self, name):
        """The plugin object named ``name``, not loaded; raises PluginError if its module is broken."""
        with self._lock:
            entry = self._entry(name)
            if entry.obj is None:
                raise _copy(entry.error)
            return entry.obj

    def info(self, name):
        """What is known of plugin ``name``: a :class:`PluginInfo`."""
        with self._lock:
            entry = self._entry(name)
            error, status = self._status(entry)
            plugin = entry.obj
            return PluginInfo(
                name=entry.name,
                description=_description(plugin),
                provides=_provides(plugin),
                requires=_requires(plugin),
                module=getattr(plugin, "module", None) or entry.module,
                file=entry.file,
                origin=entry.origin,
                loaded=entry.name in self._loaded,
                status=status,
                error=error,
                transports=tuple(getattr(plugin, "transports", ()) or ()),
                attribute=entry.attribute,
            )

    def infos(self):
        """:meth:`info` of every plugin, in name order."""
        with self._lock:
            return [self.info(n) for n in self.names()]

    def problems(self):
        """Errors not tied to one plugin: duplicate names, unwritable caches, folders Twisted could not scan."""
        with self._lock:
            self._ensure_scanned()
            notes = [n for s in self._sources for n in s.notes]
            return notes + list(self._duplicates)

    def graph(self):
        """Plugin name -> the names it requires (missing ones included), for pictures and tests."""
        with self._lock:
            self._ensure_scanned()
            return {n: _requires(e.obj) for n, e in sorted(self._entries.items())}

    def _entry(self, name):
        self._ensure_scanned()
        entry = self._entries.get(name)
        if entry is None:
            raise PluginError(_unknown_message(name, self._entries), plugin=name)
        return entry

    def _status(self, entry):
        """(error, status) of an entry: its own error first, then its dependencies'."""
        own = entry.error or self._load_errors.get(entry.name, (None, None))[1]
        if own is not None:
            return own, "broken"
        try:
            order = self.order([entry.name])
        except MissingDependency as error:
            return error, "missing dependency"
        except DependencyCycle as error:
            return error, "cycle"
        for dependency in order[:-1]:
            if self._entries[dependency].error is not None:
                return _blocked(entry.name, dependency, self._entries[dependency].error), "blocked"
        return None, "loaded" if entry.name in self._loaded else "available"

    # -- dependencies -----------------------------------------------------

    def order(self, names):
        """The load order of ``names`` and everything they require: dependencies first.

        Raises MissingDependency or DependencyCycle naming the chain (``a -> b -> a``).
        """
        if isinstance(names, str):
            names = [names]
        with self._lock:
            self._ensure_scanned()
            ordered = []
            for name in names:
                self._visit(name, (), ordered)
            return ordered

    def _visit(self, name, chain, ordered):
        """Depth-first: append ``name`` after everything it requires; ``chain`` is the path here."""
        chain = (*chain, name)
        if name in ordered:
            return
        if name in chain[:-1]:
            raise _cycle(chain[chain.index(name):])
        entry = self._entries.get(name)
        if entry is None:
            if len(chain) == 1:
                raise PluginError(_unknown_message(name, self._entries), plugin=name)
            raise _missing(chain, self._entries)
        for dependency in _requires(entry.obj):
            self._visit(dependency, chain, ordered)
        ordered.append(name)

    # -- loading ----------------------------------------------------------

    def load(self, name):
        """Load plugin ``name`` after its dependencies (in :meth:`order`); return the plugin object.

        Loading imports the implementation (``plugin.load()``) and, for a
        protocol plugin, builds its factory or datagram protocol once with
        default options, so a factory that raises is reported here, not later.
        """
        with self._lock, self._notifying():
            return self._load_with_dependencies(name)

    def _load_with_dependencies(self, name):
        for each in self.order([name]):
            self._load_one(each, name)
        return self._entries[name].obj

    def _load_one(self, name, requested):
        entry = self._entries[name]
        if self._loaded.get(name) is entry.obj and entry.obj is not None:
            return
        if entry.error is not None:
            if name == requested:
                raise _copy(entry.error)
            raise _blocked(requested, name, entry.error)
        try:
            entry.obj.load()
            _try_building(entry.obj)
        except Exception as error:
            failure = PluginError(
                f"plugin {name!r} failed to load: {_summary(error)}. Fix its implementation "
                f"({getattr(entry.obj, 'module', entry.module)}), then load({name!r}) again.",
                plugin=name, traceback=_trimmed_traceback(error, _folder_of(entry)))
            self._load_errors[name] = (entry.obj, failure)
            raise failure from error
        self._load_errors.pop(name, None)
        self._loaded[name] = entry.obj

    def unload(self, name):
        """Mark ``name`` unloaded (its implementation is resolved again on the next load).

        Refuses while a loaded plugin requires it: unload that one first.
        """
        with self._lock, self._notifying():
            self._entry(name)
            users = sorted(n for n in self._loaded
                           if n != name and name in _requires(self._entries[n].obj))
            if users:
                raise PluginError(
                    f"cannot unload {name!r}: loaded plugins require it ({', '.join(users)}); "
                    "unload them first.", plugin=name)
            plugin = self._loaded.pop(name, None)
            if plugin is not None and callable(getattr(plugin, "unload", None)):
                plugin.unload()

    # -- telling views ----------------------------------------------------

    def observe(self, callback):
        """Call ``callback()`` after every load, unload and rescan (a bound method is held weakly)."""
        if hasattr(callback, "__self__"):
            self._observers.append(weakref.WeakMethod(callback))
        else:
            self._observers.append(lambda: callback)

    @contextmanager
    def _notifying(self):
        """Tell the observers once the block ends, whether it succeeded or raised."""
        try:
            yield
        finally:
            self._observers = [ref for ref in self._observers if ref() is not None]
            for ref in list(self._observers):
                callback = ref()
                if callback is not None:
                    callback()

    # -- display ----------------------------------------------------------

    def browser(self):
        """The plugin browser widget over this registry (built once, on first use)."""
        if self._browser is None:
            from lab.widgets.plugin_browser import PluginBrowser

            self._browser = PluginBrowser(self)
        return self._browser

    def _repr_mimebundle_(self, include=None, exclude=None):
        """In a notebook, the registry shows as its browser (text for anything else)."""
        bundle = self.browser()._repr_mimebundle_(include=include, exclude=exclude)
        bundle["text/plain"] = repr(self)
        return bundle

    def __repr__(self):
        with self._lock:
            lines = [f"<PluginRegistry: {len(self.names())} plugins>"]
            for info in self.infos():
                lines.append(f"  {info.name:16} {info.status:18} {info.description}")
            return "\n".join(lines)


# --------------------------------------------------------------------------
# small helpers of the registry

def _checked_folder(folder):
    real = os.path.realpath(os.fspath(folder))
    if not os.path.isdir(real):
        raise PluginError(
            f"plugin folder {os.fspath(folder)!r} does not exist or is not a folder; "
            "create it (plugin modules need no __init__.py) or fix the path.")
    return real


def _names_by_module(entries):
    """module -> [(plugin name, attribute)] from a scan, to name a module's plugins once it breaks."""
    found = {}
    for entry in entries:
        found.setdefault(entry.module, []).append((entry.name, entry.attribute))
    return found


def _duplicate(kept, dropped):
    return PluginError(
        f"two plugins are named {kept.name!r}: {kept.module}.{kept.attribute} ({kept.origin}) "
        f"and {dropped.module}.{dropped.attribute} ({dropped.origin}); the first is used. "
        "Rename one of them.", plugin=kept.name)


def _unknown_message(name, entries):
    close = difflib.get_close_matches(str(name), list(entries), n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    return (f"no plugin named {name!r}.{hint} Known plugins: {', '.join(sorted(entries)) or 'none'}. "
            "If you just wrote it, call rescan(); if it is in a folder, pass the folder as "
            "lab.plugins(paths=[...]).")


def _missing(chain, entries):
    missing = chain[-1]
    close = difflib.get_close_matches(missing, list(entries), n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return MissingDependency(
        f"plugin {chain[0]!r} cannot load: {' -> '.join(chain)}, and there is no plugin named "
        f"{missing!r}{hint}. Add it to a plugin folder and rescan(), or remove it from "
        f"{chain[-2]!r}'s requires.", chain)


def _cycle(cycle):
    return DependencyCycle(
        f"plugins require each other in a cycle: {' -> '.join(cycle)}; none of them can load "
        "first. Remove one of these requires.", cycle)


def _blocked(name, dependency, error):
    return PluginError(
        f"plugin {name!r} cannot load: it requires {dependency!r}, which is broken: {error}",
        plugin=name, traceback=getattr(error, "traceback", None))


def _copy(error):
    """A fresh exception like ``error`` (raising the stored one would grow its traceback)."""
    if isinstance(error, (MissingDependency, DependencyCycle)):
        return type(error)(str(error), error.chain)
    return type(error)(str(error), plugin=error.plugin, traceback=error.traceback)


def _folder_of(entry):
    return [os.path.dirname(entry.file)] if entry.file else []


def _try_building(plugin):
    """Build a protocol plugin's server once with default options, to surface a factory that raises."""
    if not IProtocolPlugin.providedBy(plugin):
        return
    transports = getattr(plugin, "transports", ())
    if "tcp" in transports:
        plugin.build_factory()
    if "udp" in transports:
        plugin.build_datagram()


def _description(plugin):
    return str(getattr(plugin, "description", "") or "")


def _requires(plugin):
    requires = getattr(plugin, "requires", ())
    if isinstance(requires, str):
        return (requires,)
    return tuple(r for r in _iterable(requires) if isinstance(r, str))


def _provides(plugin):
    if plugin is None:
        return ()
    return tuple(i.__name__ for i in providedBy(plugin).flattened()
                 if i.__name__ not in ("Interface",))


# --------------------------------------------------------------------------
# the process-wide registry

_default = None
_default_lock = threading.Lock()


def registry(paths=None):
    """The process-wide plugin registry (the same object on every call).

    ``paths`` (a folder or a list of folders of plugin modules) are *added* to
    it and stay added for the life of the process; later calls without
    ``paths`` still scan them.  For a registry of its own, use
    ``PluginRegistry(paths, shipped=False)``.
    """
    global _default
    with _default_lock:
        if _default is None:
            _default = PluginRegistry()
    if paths is not None:
        _default.add_paths(paths)
    return _default


# `lab.plugins` is the package lab/plugins/, made callable as `registry`:
# Twisted finds `lab.plugins.echo` through the attribute `lab.plugins`, so
# that attribute must stay the package (see lab/plugins/__init__.py).
plugins = _shipped
