"""``lab.pending()``: a snapshot of every live Deferred that has no final result yet.

The snapshot is taken in the reactor thread (through the bridge) and handed
back as plain values: each :class:`Entry` holds strings, numbers and a weak
reference to its Deferred, so looking at a snapshot never keeps a Deferred
alive, and nothing in it runs a callback.  Acting on an entry (``cancel``,
``fire``, ``trace``, ``step``) goes back to the reactor thread and checks
first that the Deferred is still there and still waiting.
"""

import time
from collections import Counter
from typing import Any, NamedTuple

from twisted.internet.defer import Deferred
from twisted.python.failure import Failure

from lab import bridge
from lab._checks import checked_bool
from lab.deferreds import NotADeferred
from lab.errors import DeferredGone, NotPending, UnknownEntry
from lab.inspect import _collect

__all__ = ["pending", "Snapshot", "Entry", "Diff", "Graph", "OLD_AFTER"]

OLD_AFTER = 30.0  # seconds; older pending Deferreds are highlighted
_MAX_WHY_HOPS = 50


class Entry:
    """One pending Deferred in a snapshot: id, state, age, site, callbacks, what it waits on.

    ``state`` is ``waiting`` (no result yet), ``paused`` (has a result but waits
    on another Deferred, or was paused) or ``running`` (its callbacks run now).
    ``waits_on`` lists :class:`~lab.inspect._collect.Wait` values, the first
    being the one ``why`` follows; ``orphan`` is True when nothing in the
    process can fire it.
    """

    __slots__ = ("id", "state", "kind", "site", "age", "callbacks", "more_callbacks",
                 "waits_on", "value", "_ref", "_snapshot")

    def __init__(self, record: dict, snapshot: "Snapshot") -> None:
        self.id = record["id"]
        self.state = record["state"]
        self.kind = record["kind"]
        self.site = record["site"]
        self.age = record["age"]
        self.callbacks = record["callbacks"]
        self.more_callbacks = record["more_callbacks"]
        self.waits_on = record["waits_on"]
        self.value = record["value"]
        self._ref = record["ref"]
        self._snapshot = snapshot

    @property
    def orphan(self) -> bool:
        """True when nothing in the process can fire this Deferred."""
        return self.waits_on[0].kind == "nothing"

    @property
    def old(self) -> bool:
        """True when it was created more than ``OLD_AFTER`` seconds before the snapshot."""
        return self.age is not None and self.age > OLD_AFTER

    @property
    def leaf(self) -> _collect.Wait:
        """The last :class:`Wait` on the path ``why`` follows (a timer, a connection, nothing...)."""
        return self._snapshot._path(self)[-1][1]

    @property
    def label(self) -> str:
        """``Deferred #12`` (or ``DeferredList #12``, ``coroutine fetch() #12``)."""
        return f"{self.kind} #{self.id}"

    @property
    def group(self) -> str:
        """What entries are grouped by: the creation site, or what they wait on when untracked."""
        if self.site is not None:
            return str(self.site)
        leaf = self.leaf
        return f"(site not tracked) {self.kind} waiting on {_leaf_noun(leaf)}"

    @property
    def deferred(self) -> Deferred:
        """The Deferred itself; raises :class:`lab.errors.DeferredGone` once it is collected."""
        d = self._ref()
        if d is None:
            raise DeferredGone(
                f"{self.label} has been garbage-collected since the snapshot; nothing "
                "waits on it any more. Take a new snapshot with lab.pending().")
        return d

    def why(self) -> str:
        """One sentence: what this Deferred waits on, down to the leaf."""
        return self._snapshot.why(self)

    # -- acting -----------------------------------------------------------------

    def cancel(self) -> None:
        """Cancel the Deferred (in the reactor thread); its canceller and errbacks run there."""
        d = self.deferred
        _in_reactor(self._cancel_in_reactor, d)

    def _cancel_in_reactor(self, d):
        _check_still_waiting(self, d, "cancel")
        d.cancel()

    def fire(self, value: object = None, *, failure: BaseException | Failure | None = None) -> None:
        """Fire the Deferred with ``value`` (or errback it with ``failure``), in the reactor thread."""
        if failure is not None and not isinstance(failure, (BaseException, Failure)):
            raise TypeError(f"failure= takes an exception or a Failure, not "
                            f"{type(failure).__name__} {failure!r}")
        d = self.deferred
        _in_reactor(self._fire_in_reactor, d, value, failure)

    def _fire_in_reactor(self, d, value, failure):
        _check_still_waiting(self, d, "fire")
        if d.paused:
            raise NotPending(
                f"{self.label} already has a result and is paused waiting on another Deferred "
                f"({self.waits_on[0].text}); fire that one instead.")
        if failure is None:
            d.callback(value)
        else:
            d.errback(failure if isinstance(failure, Failure) else Failure(failure))

    def trace(self) -> Any:
        """``lab.trace`` of this Deferred, recording from now on (its chain lives in the reactor)."""
        from lab import deferreds

        d = self.deferred
        return bridge.call(deferreds.trace, d)

    def step(self) -> Any:
        """``lab.step`` of this Deferred: its chain pauses before each stage from now on."""
        from lab import deferreds

        d = self.deferred
        return bridge.call(deferreds.step, d)

    def __repr__(self):
        age = "" if self.age is None else f", {self.age:.1f} s old"
        site = "" if self.site is None else f", made at {self.site}"
        return f"<{self.label} {self.state}{age}{site}: waits on {self.waits_on[0].text}>"


def _in_reactor(fn, *args):
    if bridge.in_reactor_thread():
        return fn(*args)
    return bridge.call(fn, *args)


def _check_still_waiting(entry, d, verb):
    if d._runningCallbacks:
        raise NotPending(
            f"cannot {verb} {entry.label}: it is running its callbacks right now (already "
            "firing). Take a new snapshot once it has finished.")
    if d.called and not d.paused:
        raise NotPending(
            f"cannot {verb} {entry.label}: it has fired since the snapshot and has its final "
            "result. Take a new snapshot with lab.pending().")
    if d.called and verb == "cancel":
        return  # cancelling a paused Deferred cancels what it waits on: Twisted's rule


def _leaf_noun(wait):
    return {"timer": "a timer", "connection": "a connection", "listening": "a listening port",
            "thread": "a thread", "paused": "pause()", "running": "its running callbacks",
            "nothing": "nothing (orphan)"}.get(wait.kind, wait.kind)


class Group(NamedTuple):
    """Entries sharing a creation site (or, untracked, what they wait on)."""

    key: str
    entries: tuple
    orphans: int


class Graph(NamedTuple):
    """Nodes and edges of the wait graph.

    ``nodes``: ``(node_id, kind, label, state)``; entries are ``"#12"`` with
    kind ``deferred``, leaves are ``"leaf:timer:..."`` with their wait kind.
    ``edges``: ``(from_node, to_node, wait_kind)``, from the waiting Deferred
    to what it waits on.
    """

    nodes: tuple
    edges: tuple


class Diff(NamedTuple):
    """What changed between two snapshots: ids that appeared, fired (or went away), stayed."""

    appeared: tuple
    fired: tuple
    still_waiting: tuple
    growing: tuple  # (group key, count before, count now), growing groups first

    def text(self) -> str:
        """A short report, growing groups first (a group that keeps growing is a leak)."""
        lines = [f"{len(self.appeared)} appeared, {len(self.fired)} fired or went away, "
                 f"{len(self.still_waiting)} still waiting"]
        for key, before, now in self.growing[:10]:
            lines.append(f"  growing: {key}: {before} -> {now} (+{now - before})")
        return "\n".join(lines)

    def __str__(self):
        return self.text()


class Snapshot:
    """Every pending Deferred at one moment: ``why(d)``, ``graph()``, ``diff(earlier)``, groups."""

    def __init__(self, records: list, taken_at: float, include_internal: bool) -> None:
        self.taken_at = taken_at
        self.include_internal = include_internal
        self._entries = {r["id"]: Entry(r, self) for r in records}
        self._paths: dict[int, list] = {}

    # -- reading ------------------------------------------------------------------

    @property
    def entries(self) -> tuple:
        """Every entry, orphans first, then by creation (id)."""
        return tuple(sorted(self._entries.values(), key=lambda e: (not e.orphan, e.id)))

    @property
    def orphans(self) -> tuple:
        """Entries nothing in the process can fire: the usual cause of a hang."""
        return tuple(e for e in self.entries if e.orphan)

    def __len__(self):
        return len(self._entries)

    def __iter__(self):
        return iter(self.entries)

    def __contains__(self, item):
        try:
            self.entry(item)
        except (UnknownEntry, NotPending):
            return False
        return True

    def __getitem__(self, item):
        return self.entry(item)

    def entry(self, item: "int | Deferred | Entry") -> Entry:
        """The entry for an id, a Deferred or an entry of this snapshot."""
        if isinstance(item, Entry):
            if item._snapshot is not self:
                item = item.id
            else:
                return item
        if isinstance(item, bool) or not isinstance(item, (int, Deferred)):
            raise NotADeferred(
                f"expected a Deferred, an entry or an entry id, not {type(item).__name__} "
                f"{_short(item)}; look one up with snapshot.entries.")
        if isinstance(item, Deferred):
            key = item.__dict__.get(_collect._ID)
            if key is None or key not in self._entries:
                raise NotPending(_not_pending_text(item))
            return self._entries[key]
        if item not in self._entries:
            raise UnknownEntry(
                f"there is no Deferred #{item} in this snapshot (it may come from an older "
                f"snapshot and have fired since); ids here run from "
                f"{min(self._entries, default=0)} to {max(self._entries, default=0)}. "
                "Take a new snapshot with lab.pending().")
        return self._entries[item]

    def groups(self) -> tuple:
        """Entries grouped by creation site, groups with orphans first, then the largest."""
        found: dict[str, list] = {}
        for entry in self._entries.values():
            found.setdefault(entry.group, []).append(entry)
        groups = [Group(key, tuple(sorted(es, key=lambda e: e.id)), sum(e.orphan for e in es))
                  for key, es in found.items()]
        return tuple(sorted(groups, key=lambda g: (-g.orphans, -len(g.entries), g.key)))

    def counts(self) -> Counter:
        """How many entries per group key."""
        return Counter(e.group for e in self._entries.values())

    # -- why ------------------------------------------------------------------------

    def _path(self, entry):
        """``[(entry, wait), ...]`` from ``entry`` to the leaf, first waits only; cycles stop."""
        cached = self._paths.get(entry.id)
        if cached is not None:
            return cached
        path, seen = [], set()
        current = entry
        while True:
            wait = self._first_wait(current)
            path.append((current, wait))
            seen.add(current.id)
            following = self._entries.get(wait.target) if wait.target is not None else None
            if following is None or following.id in seen or len(path) >= _MAX_WHY_HOPS:
                break
            current = following
        self._paths[entry.id] = path
        return path

    def _first_wait(self, entry):
        """The wait ``why`` follows: a member or chained Deferred that is an orphan, else the first."""
        waits = entry.waits_on
        if len(waits) > 1:
            for wait in waits:
                target = self._entries.get(wait.target) if wait.target is not None else None
                if target is not None and target.waits_on[0].kind == "nothing":
                    return wait
        return waits[0]

    def why(self, item: "int | Deferred | Entry") -> str:
        """One sentence: what ``item`` (a Deferred, an entry or an id) waits on, to the leaf."""
        entry = self.entry(item)
        path = self._path(entry)
        parts = [f"{entry.label} waits on {path[0][1].text}"]
        for current, wait in path[1:]:
            parts.append(f"which waits on {wait.text}")
        last_entry, last_wait = path[-1]
        if last_wait.target is not None and last_wait.target in self._entries:
            parts.append("(a cycle)")
        elif last_wait.target is not None:
            parts.append("(which has fired or went away since)")
        sentence = " ".join(parts)
        if last_wait.kind == "nothing" and len(path) > 1:
            sentence += f"; {last_entry.label} is an orphan"
        return sentence + "."

    # -- graph and diff ---------------------------------------------------------------

    def graph(self) -> Graph:
        """The wait graph: every entry and every leaf as nodes, one edge per wait."""
        nodes, edges, leaves = [], [], {}
        for entry in self.entries:
            nodes.append((f"#{entry.id}", "deferred", entry.label, entry.state))
            for wait in entry.waits_on:
                if wait.target is not None:
                    edges.append((f"#{entry.id}", f"#{wait.target}", wait.kind))
                    continue
                node = f"leaf:{wait.kind}:{_collect.leaf_key(wait)}"
                if node not in leaves:
                    leaves[node] = (node, wait.kind, _collect.leaf_key(wait), "leaf")
                edges.append((f"#{entry.id}", node, wait.kind))
        return Graph(tuple(nodes) + tuple(leaves.values()), tuple(edges))

    def diff(self, earlier: "Snapshot") -> Diff:
        """What appeared, what fired (or went away) and what still waits since ``earlier``."""
        if not isinstance(earlier, Snapshot):
            raise TypeError(f"diff() takes an earlier snapshot (lab.pending()), not "
                            f"{type(earlier).__name__}")
        before, now = set(earlier._entries), set(self._entries)
        counts_before, counts_now = earlier.counts(), self.counts()
        growing = sorted(((key, counts_before.get(key, 0), count)
                          for key, count in counts_now.items() if count > counts_before.get(key, 0)),
                         key=lambda g: -(g[2] - g[1]))
        return Diff(tuple(sorted(now - before)), tuple(sorted(before - now)),
                    tuple(sorted(now & before)), tuple(growing))

    # -- showing ----------------------------------------------------------------------

    def text(self, limit: int = 40) -> str:
        """A readable summary: counts, orphans, the largest groups (at most ``limit`` lines)."""
        from lab.inspect._render import snapshot_text

        return snapshot_text(self, limit)

    def svg(self) -> str:
        """The wait graph as a static SVG picture (grouped when large)."""
        from lab.inspect._render import snapshot_svg

        return snapshot_svg(self)

    def _repr_html_(self):
        from lab.inspect._render import snapshot_html

        return snapshot_html(self)

    def __repr__(self):
        return f"<lab.Snapshot: {self.summary()}>"

    def summary(self) -> str:
        """``12 pending Deferreds (2 orphans, 3 old), taken 1.2 s ago``."""
        count, orphans = len(self), len(self.orphans)
        old = sum(e.old for e in self._entries.values())
        ago = time.time() - self.taken_at
        return (f"{count} pending Deferred{'s' if count != 1 else ''} ({orphans} orphan"
                f"{'s' if orphans != 1 else ''}, {old} old), taken {ago:.1f} s ago")

    def widget(self) -> Any:
        """An interactive wait-graph view of this snapshot (Refresh takes a new one)."""
        from lab import display

        return display.view("pending snapshot", self)


def _short(value):
    from lab.deferreds import short_repr

    return short_repr(value, 80)


def _not_pending_text(d):
    if d.called and not d.paused and not d._runningCallbacks:
        return (f"that Deferred has already fired and has its final result "
                f"({_short(getattr(d, 'result', None))}); nothing waits on it.")
    return ("that Deferred is not in this snapshot (it was made after it, or is hidden as "
            "internal); take a new snapshot with lab.pending().")


def pending(include_internal: bool = False, collect_garbage: bool = True) -> Snapshot:
    """A snapshot of every pending Deferred in the process (taken in the reactor thread).

    ``include_internal`` also shows the Deferreds of crochet's and the lab's
    own timers; ``collect_garbage`` runs ``gc.collect()`` first so that
    Deferreds nothing refers to any more are not reported.
    """
    checked_bool(include_internal, "include_internal")
    checked_bool(collect_garbage, "collect_garbage")
    taken_at = time.time()
    if bridge.in_reactor_thread():
        records = _collect.collect(include_internal, collect_garbage)
    else:
        records = bridge.call(_collect.collect, include_internal, collect_garbage)
    return Snapshot(records, taken_at, include_internal)
