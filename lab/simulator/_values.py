"""Small immutable values the simulation hands out: link settings, queue entries, the log."""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field, fields, replace
from typing import Any, NamedTuple

from lab.simulator._errors import BadTime

__all__ = ["Link", "Pending", "Happened", "LogEntry", "Log", "Ran", "short", "clean_text"]

_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+|0x[0-9a-fA-F]{6,}")
MAX_LOG = 500_000  # entries kept; older ones are dropped (and counted) past this


def clean_text(text: str) -> str:
    """``text`` without memory addresses, so that two runs describe the same thing alike."""
    return _ADDRESS.sub("", text)


def short(value: object, limit: int = 48) -> str:
    """A bounded, address-free repr of ``value``."""
    text = clean_text(repr(value))
    return text if len(text) <= limit else text[:limit - 1] + "\u2026"


def check_number(name: str, value: Any, *, upper: float | None = None) -> float:
    """``value`` as a float if it is a finite non-negative number (<= upper), else BadTime."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value) \
            or math.isinf(value) or value < 0 or (upper is not None and value > upper):
        bound = f" and at most {upper}" if upper is not None else ""
        raise BadTime(f"{name} must be a finite number >= 0{bound}, not {value!r}.")
    return float(value)


@dataclass(frozen=True)
class Link:
    """How a link between two hosts behaves (both directions).

    ``latency`` seconds one way; ``jitter`` up to that many extra seconds,
    drawn from the seed (TCP keeps its order regardless); ``bandwidth`` in
    bytes per second (None: unlimited); ``drop``, ``duplicate`` and
    ``reorder`` are probabilities for each datagram (a reordered one is held
    back by 1 to 5 latencies, so later ones overtake it); ``fragment`` splits
    every TCP write into pieces of at most that many bytes.
    """

    latency: float = 0.01
    jitter: float = 0.0
    bandwidth: float | None = None
    drop: float = 0.0
    duplicate: float = 0.0
    reorder: float = 0.0
    fragment: int | None = None

    def __post_init__(self):
        check_number("latency", self.latency)
        check_number("jitter", self.jitter)
        if self.bandwidth is not None and (check_number("bandwidth", self.bandwidth) == 0):
            raise BadTime("bandwidth must be a positive number of bytes per second, or None.")
        for name in ("drop", "duplicate", "reorder"):
            check_number(name, getattr(self, name), upper=1)
        if self.fragment is not None and (isinstance(self.fragment, bool) or
                                          not isinstance(self.fragment, int) or self.fragment < 1):
            raise ValueError(f"fragment must be a positive number of bytes or None, "
                             f"not {self.fragment!r}.")

    def changed(self, **changes: Any) -> Link:
        """A copy with ``changes`` applied (unknown names are an error)."""
        names = {f.name for f in fields(self)}
        wrong = sorted(set(changes) - names)
        if wrong:
            raise TypeError(f"unknown link setting(s) {wrong}; the settings are {sorted(names)}.")
        return replace(self, **changes)


@dataclass(frozen=True)
class Pending:
    """One thing in the queue: when, what kind, where, and whether something holds it back.

    ``kind`` is ``timer``, ``connect`` (a connection attempt reaching its
    server), ``accept`` (the answer reaching the client), ``data``, ``close``
    (a side closing), ``fin`` / ``reset`` (the peer's close arriving),
    ``datagram`` or ``failed``; ``held`` is ``""`` when it will run, else why
    not (``"held"``, ``"partitioned"``, ``"paused by the receiver"``).
    """

    time: float
    kind: str
    host: str
    text: str
    connection: int | None = None
    direction: str | None = None
    size: int = 0
    held: str = ""
    handle: Any = field(default=None, compare=False, repr=False)

    def __str__(self):
        where = f" #{self.connection}" if self.connection is not None else ""
        held = f"  [{self.held}]" if self.held else ""
        return f"t={self.time:.6f} {self.kind:8} {self.host}{where}: {self.text}{held}"


class LogEntry(NamedTuple):
    """One event that ran, as the log keeps it: comparable across runs."""

    index: int  # type: ignore[assignment]  # the entry's number, not tuple.index
    time: float
    kind: str
    host: str
    text: str
    connection: int | None = None
    error: str | None = None

    def __str__(self):
        where = f" #{self.connection}" if self.connection is not None else ""
        error = f"  !! {self.error}" if self.error else ""
        return (f"{self.index:5} t={self.time:.6f} {self.kind:8} {self.host}{where}: "
                f"{self.text}{error}")


@dataclass(frozen=True)
class Happened:
    """What one ``step()`` did: the event that ran, what it scheduled, any error it raised."""

    index: int
    time: float
    kind: str
    host: str
    text: str
    connection: int | None = None
    direction: str | None = None
    data: bytes | None = None
    decoded: tuple = ()
    error: str | None = None
    scheduled: tuple = ()

    @property
    def entry(self) -> LogEntry:
        """This event as a :class:`LogEntry`."""
        return LogEntry(self.index, self.time, self.kind, self.host, self.text,
                        self.connection, self.error)

    def __str__(self):
        lines = [str(self.entry)]
        lines += [f"      reads as: {line}" for line in self.decoded]
        lines += [f"      scheduled {p}" for p in self.scheduled]
        return "\n".join(lines)

    def __repr__(self):
        return f"<Happened {self.entry}; scheduled {len(self.scheduled)}>"


class Log:
    """Every event a simulation ran, in order; equal logs mean identical runs.

    ``log == other`` compares seeds and entries; ``log.diff(other)`` says
    where two logs part; ``to_json()``/``Log.from_json()`` save and load one,
    and ``lab.simulation(replay=log)`` checks a new run against it step by step.
    """

    def __init__(self, seed: Any, entries: Any = (), dropped: int = 0,
                 limit: int = MAX_LOG) -> None:
        self.seed = seed
        self.entries = list(entries)
        self.dropped = dropped
        self.limit = limit

    def append(self, entry: LogEntry) -> None:
        """Add one entry (dropping the oldest beyond the bound)."""
        self.entries.append(entry)
        self.append_overflow()

    def append_overflow(self) -> None:
        """Drop the oldest entries beyond the bound (a tenth at a time), counting them."""
        if len(self.entries) > self.limit:
            cut = len(self.entries) - self.limit + self.limit // 10
            del self.entries[:cut]
            self.dropped += cut

    def __len__(self):
        return len(self.entries)

    def __iter__(self):
        return iter(self.entries)

    def __getitem__(self, index):
        return self.entries[index]

    def __eq__(self, other):
        if not isinstance(other, Log):
            return NotImplemented
        return (self.seed, self.dropped, self.entries) == (other.seed, other.dropped, other.entries)

    def diff(self, other: Log) -> str | None:
        """None if the logs are equal, else a sentence naming the first entry that differs."""
        for mine, theirs in zip(self.entries, other.entries):
            if mine != theirs:
                return f"first difference at event {mine.index}:\n  {mine}\n  {theirs}"
        if len(self) != len(other):
            return f"one log is longer: {len(self)} and {len(other)} events"
        if self.seed != other.seed:
            return f"the same events, but the seeds differ: {self.seed!r} and {other.seed!r}"
        return None

    def text(self, last: int | None = None) -> str:
        """The log as lines of text (``last``: only the last that many)."""
        entries = self.entries if last is None else self.entries[-last:]
        return "\n".join(str(e) for e in entries)

    def to_json(self) -> str:
        """The log as a JSON string (seed and entries)."""
        return json.dumps({"seed": self.seed, "dropped": self.dropped,
                           "entries": [e._asdict() for e in self.entries]})

    @classmethod
    def from_json(cls, text: str) -> Log:
        """A log saved by :meth:`to_json`."""
        data = json.loads(text)
        return cls(data["seed"], [LogEntry(**e) for e in data["entries"]], data.get("dropped", 0))

    def __repr__(self):
        return f"<lab.simulator.Log seed={self.seed!r}: {len(self)} events>"


@dataclass(frozen=True, repr=False)
class Ran:
    """What a run (run_until, run_until_idle, advance) did: its log entries and the clock."""

    events: tuple
    started: float
    ended: float

    def __len__(self):
        return len(self.events)

    def __iter__(self):
        return iter(self.events)

    def __getitem__(self, index):
        return self.events[index]

    def __repr__(self):
        return (f"<ran {len(self.events)} events, t={self.started:.6f} -> {self.ended:.6f}>")

    def __str__(self):
        return "\n".join(str(e) for e in self.events) or repr(self)
