"""Plugin records: what the registry tells of a plugin, and the errors it keeps with their tracebacks."""

import os
import traceback
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, fields
from typing import Any

from zope.interface import providedBy

from lab.errors import DependencyCycle, MissingDependency, PluginError


@dataclass(frozen=True)
class PluginInfo(Mapping[str, Any]):
    """What the registry knows of one plugin; read it as attributes or as a mapping.

    ``status`` is one of ``available``, ``loaded``, ``broken`` (its own error),
    ``missing dependency``, ``cycle`` or ``blocked`` (a dependency is broken);
    ``error`` is None or a :class:`lab.PluginError` with ``.traceback``.
    """

    name: str
    description: str
    provides: tuple[str, ...]
    requires: tuple[str, ...]
    module: str
    file: str | None
    origin: str
    loaded: bool
    status: str
    error: PluginError | None = None
    transports: tuple[str, ...] = ()
    attribute: str | None = None

    def __getitem__(self, key: str) -> Any:
        if key not in self._keys():
            raise KeyError(key)
        return getattr(self, key)

    def __iter__(self) -> Iterator[str]:
        return iter(self._keys())

    def __len__(self) -> int:
        return len(self._keys())

    @classmethod
    def _keys(cls):
        return [f.name for f in fields(cls)]


@dataclass(frozen=True)
class ScanReport:
    """What a :meth:`PluginRegistry.rescan` changed: names added, removed, reloaded, broken."""

    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    reloaded: tuple[str, ...] = ()
    broken: tuple[str, ...] = ()

    def __str__(self) -> str:
        parts = [f"{len(v)} {k} ({', '.join(v)})" if v else f"0 {k}"
                 for k, v in (("added", self.added), ("removed", self.removed),
                              ("reloaded", self.reloaded), ("broken", self.broken))]
        return "rescan: " + ", ".join(parts)


@dataclass
class Entry:
    """One discovered plugin (or a module that failed before it could show its plugins)."""

    name: str
    obj: object
    module: str
    attribute: str
    file: str
    origin: str
    error: PluginError | None = None


# --------------------------------------------------------------------------
# errors with their tracebacks
def trimmed_traceback(error, folders):
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


def summary(error):
    return f"{type(error).__name__}: {error}"


def description_of(plugin):
    return str(getattr(plugin, "description", "") or "")


def requires_of(plugin):
    requires = getattr(plugin, "requires", ())
    if isinstance(requires, str):
        return (requires,)
    return tuple(r for r in iterable(requires) if isinstance(r, str))


def provides_of(plugin):
    if plugin is None:
        return ()
    return tuple(i.__name__ for i in providedBy(plugin).flattened()
                 if i.__name__ not in ("Interface",))


def iterable(value):
    try:
        return list(value)
    except TypeError:
        return [None]


def copy_error(error):
    """A fresh exception like ``error`` (raising the stored one would grow its traceback)."""
    if isinstance(error, (MissingDependency, DependencyCycle)):
        return type(error)(str(error), error.chain)
    return type(error)(str(error), plugin=error.plugin, traceback=error.traceback)
