"""The registry: plugins found by Twisted in ``lab.dropins`` and in plain folders, loaded in dependency order."""

import os
import threading
import weakref
from collections.abc import Callable, Iterable
from contextlib import contextmanager
from typing import Any, TypeAlias

from lab import display
from lab.errors import DependencyCycle, MissingDependency, PluginError
from lab.interfaces import IProtocolPlugin
from lab.plugin._dependencies import DependencyGraph, blocked_by, unknown_message
from lab.plugin._packages import SHIPPED, Source, folder_package
from lab.plugin._records import (
    Entry, PluginInfo, ScanReport, copy_error, description_of, provides_of, requires_of, summary,
    trimmed_traceback)
from lab.plugin._scan import scan


# A folder of plugin modules, or several.
Folders: TypeAlias = str | os.PathLike[str] | Iterable[str | os.PathLike[str]]


class PluginRegistry:
    """Lab plugins found by Twisted in ``lab.dropins`` and in plain folders of plugin modules.

    ``paths`` are folders of plugin modules (a folder needs no ``__init__.py``);
    ``shipped=False`` leaves out the plugins the lab ships (for isolated tests).
    Discovery is lazy: the first question scans, :meth:`rescan` scans again.
    """

    def __init__(self, paths: Folders = (), *, shipped: bool = True) -> None:
        self._lock = threading.RLock()
        self._sources = [Source(SHIPPED, SHIPPED.__name__)] if shipped else []
        self._entries: dict[str, Entry] = {}
        self._duplicates: list[PluginError] = []
        self._graph: DependencyGraph | None = None
        self._loaded: dict[str, Any] = {}   # name -> the plugin object that was loaded
        self._load_errors: dict[str, tuple[Any, PluginError]] = {}  # name -> (plugin, error)
        self._browser: Any = None
        self._observers: list[Callable[[], Any]] = []
        self.add_paths(paths)

    # -- folders ----------------------------------------------------------

    @property
    def paths(self) -> tuple[str, ...]:
        """The user folders scanned, in the order they were added (real paths)."""
        return tuple(s.origin for s in self._sources if s.package is not SHIPPED)

    def add_paths(self, paths: Folders) -> None:
        """Also scan these folders of plugin modules (already-added ones are ignored)."""
        if isinstance(paths, (str, os.PathLike)):
            paths = [paths]
        if isinstance(paths, bytes) or not hasattr(paths, "__iter__"):
            raise TypeError(f"paths is a folder or a list of folders of plugin modules, not "
                            f"{type(paths).__name__} {paths!r}")
        with self._lock:
            for folder in paths:
                real = _checked_folder(folder)
                if real not in self.paths and not self._is_shipped_folder(real):
                    self._sources.append(Source(folder_package(real), real))

    def _is_shipped_folder(self, real):
        return any(s.package is SHIPPED and real in s.folders() for s in self._sources)

    # -- scanning ---------------------------------------------------------

    def rescan(self) -> ScanReport:
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
                changed |= scan(source, previous)
        if changed or not self._entries:
            self._rebuild()

    def _rebuild(self):
        """Index entries by name; the first source (lab.dropins, then folders in order) wins a clash."""
        entries, duplicates = {}, []
        for source in self._sources:
            for entry in source.entries:
                if entry.name in entries:
                    duplicates.append(_duplicate(entries[entry.name], entry))
                else:
                    entries[entry.name] = entry
        self._entries, self._duplicates = entries, duplicates
        self._graph = None
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

    def names(self) -> list[str]:
        """Every plugin name found, sorted (broken ones too; ask :meth:`info` for their status)."""
        with self._lock:
            self._ensure_scanned()
            return sorted(self._entries)

    def get(self, name: str) -> Any:
        """The plugin object named ``name``, not loaded; raises PluginError if its module is broken."""
        with self._lock:
            entry = self._entry(name)
            if entry.obj is None:
                raise copy_error(entry.error)
            return entry.obj

    def info(self, name: str) -> PluginInfo:
        """What is known of plugin ``name``: a :class:`PluginInfo`."""
        with self._lock:
            entry = self._entry(name)
            error, status = self._status(entry)
            plugin = entry.obj
            return PluginInfo(
                name=entry.name,
                description=description_of(plugin),
                provides=provides_of(plugin),
                requires=requires_of(plugin),
                module=getattr(plugin, "module", None) or entry.module,
                file=entry.file,
                origin=entry.origin,
                loaded=entry.name in self._loaded,
                status=status,
                error=error,
                transports=tuple(getattr(plugin, "transports", ()) or ()),
                attribute=entry.attribute,
            )

    def infos(self) -> list[PluginInfo]:
        """:meth:`info` of every plugin, in name order."""
        with self._lock:
            return [self.info(n) for n in self.names()]

    def problems(self) -> list[PluginError]:
        """Errors not tied to one plugin: duplicate names, unwritable caches, folders Twisted could not scan."""
        with self._lock:
            self._ensure_scanned()
            notes = [n for s in self._sources for n in s.notes]
            return notes + list(self._duplicates)

    def graph(self) -> DependencyGraph:
        """The dependency graph: plugin name -> the names it requires, with its order, cycles and layers."""
        with self._lock:
            self._ensure_scanned()
            if self._graph is None:
                self._graph = DependencyGraph(
                    {n: requires_of(e.obj) for n, e in sorted(self._entries.items())})
            return self._graph

    def _entry(self, name):
        self._ensure_scanned()
        entry = self._entries.get(name)
        if entry is None:
            raise PluginError(unknown_message(name, self._entries), plugin=name)
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
                return blocked_by(entry.name, dependency, self._entries[dependency].error), "blocked"
        return None, "loaded" if entry.name in self._loaded else "available"

    # -- dependencies -----------------------------------------------------

    def order(self, names: str | Iterable[str]) -> list[str]:
        """The load order of ``names`` and everything they require: dependencies first.

        Raises MissingDependency or DependencyCycle naming the chain (``a -> b -> a``).
        """
        return self.graph().order(names)

    # -- loading ----------------------------------------------------------

    def load(self, name: str) -> Any:
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
                raise copy_error(entry.error)
            raise blocked_by(requested, name, entry.error)
        try:
            if callable(getattr(entry.obj, "load", None)):  # optional: maybe nothing to import
                entry.obj.load()
            _try_building(entry.obj)
        except Exception as error:
            failure = PluginError(
                f"plugin {name!r} failed to load: {summary(error)}. Fix its implementation "
                f"({getattr(entry.obj, 'module', entry.module)}), then load({name!r}) again.",
                plugin=name, traceback=trimmed_traceback(error, _folder_of(entry)))
            self._load_errors[name] = (entry.obj, failure)
            raise failure from error
        self._load_errors.pop(name, None)
        self._loaded[name] = entry.obj

    def unload(self, name: str) -> None:
        """Mark ``name`` unloaded (its implementation is resolved again on the next load).

        Refuses while a loaded plugin requires it: unload that one first.
        """
        with self._lock, self._notifying():
            self._entry(name)
            users = sorted(n for n in self._loaded
                           if n != name and name in requires_of(self._entries[n].obj))
            if users:
                raise PluginError(
                    f"cannot unload {name!r}: loaded plugins require it ({', '.join(users)}); "
                    "unload them first.", plugin=name)
            plugin = self._loaded.pop(name, None)
            if plugin is not None and callable(getattr(plugin, "unload", None)):
                plugin.unload()

    # -- telling views ----------------------------------------------------

    def observe(self, callback: Callable[[], object]) -> None:
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

    def browser(self) -> Any:
        """The plugin browser widget over this registry (built once, on first use)."""
        if self._browser is None:
            self._browser = display.view("plugin registry", self)
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
    if not isinstance(folder, (str, os.PathLike)) or not str(os.fspath(folder)).strip():
        # Why refuse "": realpath("") is the current folder, which would be
        # scanned and its modules imported.
        raise PluginError(
            f"a plugin folder is a path such as 'my_plugins', not {folder!r}; write the "
            "folder's name (use '.' if you really mean the current folder).")
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


_default = None
_default_lock = threading.Lock()


def plugins(paths: Folders | None = None) -> PluginRegistry:
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
