"""Dependencies between plugins: one graph, and its load order, cycles and layers (``graphlib``).

The registry builds a :class:`DependencyGraph` from what each plugin
requires; loading asks it for an order, a plugin's status for its order's
errors, and the plugin browser draws its cycles and layers.  Nothing else
walks the graph.
"""

import difflib
import graphlib
from collections.abc import Iterable, Iterator, Mapping
from functools import cached_property

from lab.errors import DependencyCycle, MissingDependency, PluginError

__all__ = ["DependencyGraph"]


class DependencyGraph(Mapping[str, tuple[str, ...]]):
    """Plugin name -> the names it requires (missing ones included); read it as a mapping.

    ``order(names)`` is a load order, ``cycles()`` the loops of requires,
    ``layers()`` the columns of a picture (each plugin one right of its
    deepest requirement).  Built once per scan by the registry; immutable.
    """

    def __init__(self, requires: Mapping[str, Iterable[str]]) -> None:
        self._requires = {name: tuple(needs) for name, needs in requires.items()}

    def __getitem__(self, name: str) -> tuple[str, ...]:
        return self._requires[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._requires)

    def __len__(self) -> int:
        return len(self._requires)

    def __repr__(self) -> str:
        return f"DependencyGraph({self._requires!r})"

    def missing(self) -> list[str]:
        """Names some plugin requires that are no plugin, sorted."""
        return sorted({n for needs in self._requires.values() for n in needs} - set(self._requires))

    def nodes(self) -> list[str]:
        """Every plugin and every missing name, sorted."""
        return sorted(set(self._requires) | set(self.missing()))

    def order(self, names: str | Iterable[str]) -> list[str]:
        """The load order of ``names`` and everything they require: dependencies first.

        Raises PluginError for a name that is no plugin, MissingDependency
        naming the chain to a missing one (``a -> b -> c``) and
        DependencyCycle naming the loop (``a -> b -> a``).
        """
        names = [names] if isinstance(names, str) else list(names)
        for name in names:
            if name not in self._requires:
                raise PluginError(unknown_message(name, self._requires), plugin=name)
        reachable = self._reachable(names)
        sorter = graphlib.TopologicalSorter({n: self._requires[n] for n in reachable})
        try:
            return list(sorter.static_order())
        except graphlib.CycleError as error:
            loop = _requires_direction(error.args[1])
            raise dependency_cycle(_starting_at(loop, names)) from None

    def cycles(self) -> list[tuple[str, ...]]:
        """Each loop of requires as ``(a, b, ..., a)``, starting at its first name in sort order."""
        return list(self._acyclic[1])

    def cycle_edges(self) -> set[tuple[str, str]]:
        """The edges ``(plugin, required)`` that lie on one of :meth:`cycles`."""
        return {edge for loop in self.cycles() for edge in zip(loop, loop[1:])}

    def layers(self) -> list[list[str]]:
        """Names in columns: 0 requires nothing, each other one right of its deepest requirement.

        One edge of each cycle is left out, so a cycle's members still get columns.
        """
        sorter = graphlib.TopologicalSorter(self._acyclic[0])
        sorter.prepare()
        layers = []
        while sorter.is_active():
            ready = sorted(sorter.get_ready())
            layers.append(ready)
            sorter.done(*ready)
        return layers

    @cached_property
    def _acyclic(self) -> tuple[dict[str, tuple[str, ...]], tuple[tuple[str, ...], ...]]:
        """(the graph less one edge of each cycle, missing names as nodes; the cycles found)."""
        graph = {n: tuple(needs) for n, needs in self._requires.items()}
        graph.update((n, ()) for n in self.missing())
        found: list[tuple[str, ...]] = []
        while True:
            try:
                graphlib.TopologicalSorter(graph).prepare()
                return graph, tuple(sorted(found))
            except graphlib.CycleError as error:
                loop = _requires_direction(error.args[1])
                found.append(_starting_at(loop, [min(loop)]))
                last, first = loop[-2], loop[-1]
                graph[last] = tuple(n for n in graph[last] if n != first)

    def _reachable(self, names: list[str]) -> list[str]:
        """``names`` and every plugin they require; MissingDependency at the first missing one."""
        parents: dict[str, str | None] = {n: None for n in names}
        queue = list(names)
        for name in queue:
            for needed in self._requires[name]:
                if needed in parents:
                    continue
                parents[needed] = name
                if needed not in self._requires:
                    raise missing_dependency(_chain_to(needed, parents), self._requires)
                queue.append(needed)
        return queue


def _requires_direction(loop: list[str]) -> tuple[str, ...]:
    """graphlib names a cycle along 'is required by'; the lab names it along 'requires'."""
    return tuple(reversed(loop))


def _starting_at(loop: tuple[str, ...], preferred: Iterable[str]) -> tuple[str, ...]:
    """The closed ``loop`` (a, b, a) rotated to start at the first of ``preferred`` on it."""
    ring = list(loop[:-1])
    start = next((ring.index(n) for n in preferred if n in ring), 0)
    ring = ring[start:] + ring[:start]
    return (*ring, ring[0])


def _chain_to(name: str, parents: Mapping[str, str | None]) -> tuple[str, ...]:
    chain = [name]
    while parents[chain[-1]] is not None:
        chain.append(parents[chain[-1]])  # type: ignore[arg-type]
    return tuple(reversed(chain))


def unknown_message(name: object, entries: Iterable[str]) -> str:
    """Why ``name`` is no plugin, with the closest known name."""
    close = difflib.get_close_matches(str(name), list(entries), n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    return (f"no plugin named {name!r}.{hint} Known plugins: {', '.join(sorted(entries)) or 'none'}. "
            "If you just wrote it, call rescan(); if it is in a folder, pass the folder as "
            "lab.plugins(paths=[...]).")


def missing_dependency(chain: tuple[str, ...], entries: Iterable[str]) -> MissingDependency:
    """The MissingDependency for ``chain`` (a plugin, what it requires, ..., the missing name)."""
    missing = chain[-1]
    close = difflib.get_close_matches(missing, list(entries), n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return MissingDependency(
        f"plugin {chain[0]!r} cannot load: {' -> '.join(chain)}, and there is no plugin named "
        f"{missing!r}{hint}. Add it to a plugin folder and rescan(), or remove it from "
        f"{chain[-2]!r}'s requires.", chain)


def dependency_cycle(cycle: tuple[str, ...]) -> DependencyCycle:
    """The DependencyCycle for ``cycle`` (``a, b, a``)."""
    return DependencyCycle(
        f"plugins require each other in a cycle: {' -> '.join(cycle)}; none of them can load "
        "first. Remove one of these requires.", cycle)


def blocked_by(name: str, dependency: str, error: Exception) -> PluginError:
    """The PluginError of ``name`` when a plugin it requires is broken."""
    return PluginError(
        f"plugin {name!r} cannot load: it requires {dependency!r}, which is broken: {error}",
        plugin=name, traceback=getattr(error, "traceback", None))
