"""Dependencies between plugins: one graph, its load order, its cycles and its layers."""

import difflib

from lab.errors import DependencyCycle, MissingDependency, PluginError


def unknown_message(name, entries):
    """Why ``name`` is no plugin, with the closest known name."""
    close = difflib.get_close_matches(str(name), list(entries), n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    return (f"no plugin named {name!r}.{hint} Known plugins: {', '.join(sorted(entries)) or 'none'}. "
            "If you just wrote it, call rescan(); if it is in a folder, pass the folder as "
            "lab.plugins(paths=[...]).")


def missing_dependency(chain, entries):
    """The MissingDependency for ``chain`` (a plugin, what it requires, ..., the missing name)."""
    missing = chain[-1]
    close = difflib.get_close_matches(missing, list(entries), n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return MissingDependency(
        f"plugin {chain[0]!r} cannot load: {' -> '.join(chain)}, and there is no plugin named "
        f"{missing!r}{hint}. Add it to a plugin folder and rescan(), or remove it from "
        f"{chain[-2]!r}'s requires.", chain)


def dependency_cycle(cycle):
    """The DependencyCycle for ``cycle`` (``a, b, a``)."""
    return DependencyCycle(
        f"plugins require each other in a cycle: {' -> '.join(cycle)}; none of them can load "
        "first. Remove one of these requires.", cycle)


def blocked_by(name, dependency, error):
    """The PluginError of ``name`` when a plugin it requires is broken."""
    return PluginError(
        f"plugin {name!r} cannot load: it requires {dependency!r}, which is broken: {error}",
        plugin=name, traceback=getattr(error, "traceback", None))
