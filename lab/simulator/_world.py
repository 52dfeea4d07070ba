"""The simulation: one thread, a virtual clock, and one queue of everything that will happen.

Why one queue: a real reactor interleaves timers and socket events by what
the kernel reports; here timers, bytes arriving, connections opening and
closing, and datagrams are all entries of one heap ordered by (virtual time,
order of scheduling).  ``step()`` pops exactly one and runs it, so a
``callLater(0)`` made now runs after everything already due now (the next
turn), every timer runs at its own time (``advance(2)`` moves the clock to
each due time in turn, unlike ``task.Clock``), and the same seed and the same
inputs give the same order, hence the same log.

Things that cannot run yet (a held connection, a partition, a receiver that
paused reading) leave the heap for their connection's stall list when their
time comes, and go back in order when released.
"""

from __future__ import annotations

import heapq
import itertools
import random
import traceback
from collections import deque
from collections.abc import Callable
from typing import Any

from twisted.internet.interfaces import (IReactorPluggableNameResolver, IReactorTCP, IReactorTime,
                                         IReactorUDP)
from zope.interface import implementer

from lab import display
from lab.simulator._errors import (BadTime, NotIdle, QueueEmpty, ReplayDiverged, RunawayLoop,
                                    SimulationError, UnknownHost)
from lab.simulator._diagram import SequenceDiagram, summary_html
from lab.simulator._helpers import Client, Listener, connect, listen
from lab.simulator._queue import Event
from lab.simulator._reactor import Host, ReactorFace, Timer
from lab.simulator._tcp import Connection, Network
from lab.simulator._udp import Datagrams
from lab.simulator._values import (Happened, Link, Log, LogEntry, Pending, Ran, check_number,
                                    clean_text, short)

__all__ = ["Simulation", "simulation"]

ZERO_DELAY_LIMIT = 10_000      # zero-delay timers in a row at one instant before we call it a loop
DEFAULT_MAX_STEPS = 1_000_000  # bound of one run_until / run_until_idle
MAX_MESSAGES = 2_000           # arrows kept for the sequence diagram
MAX_ERRORS = 200


def _describe_call(func, args, kw):
    name = _callable_name(func)
    parts = [_arg(a) for a in args] + [f"{k}={_arg(v)}" for k, v in kw.items()]
    return f"{name}({', '.join(parts)})"


def _arg(value):
    """A short description of a timer's argument; a simulation or host by its name."""
    if isinstance(value, Simulation):
        return "sim"
    if isinstance(value, Host):
        return value.name
    return short(value, 32)


def _callable_name(func):
    inner = getattr(func, "f", None)
    if type(func).__name__.endswith("LoopingCall") and inner is not None:
        return f"LoopingCall({_callable_name(inner)})"
    name = getattr(func, "__qualname__", None) or type(func).__name__
    return clean_text(name.rpartition("<locals>.")[2])


@implementer(IReactorTime, IReactorTCP, IReactorUDP, IReactorPluggableNameResolver)
class Simulation(ReactorFace):
    """A network of simulated hosts in virtual time, stepped one event at a time.

    It is also a reactor (for its default host ``"local"``): pass it to
    ``serverFromString``/``clientFromString``, ``deferLater``, a
    ``LoopingCall``'s clock, or any code that takes a reactor.  Other hosts:
    ``sim.host("server")``.  See the package docstring for the whole tour.
    """

    def __init__(self, seed: int | str | bytes = 0, *, replay: Log | None = None,
                 **link: Any) -> None:
        if replay is not None:
            if not isinstance(replay, Log):
                raise TypeError(f"replay= takes a Log (sim.log or Log.from_json(...)), "
                                f"not {type(replay).__name__}.")
            seed = replay.seed
        if isinstance(seed, float) or not isinstance(seed, (int, str, bytes)):
            raise TypeError(f"seed must be an int, str or bytes, not {type(seed).__name__}.")
        self.seed = seed
        self._rng = random.Random(seed)
        self._now = 0.0
        self._seq = itertools.count()
        self._heap: list[tuple[float, int, Event]] = []
        self._stalled: dict[Any, None] = {}  # flows with held events (a dict: ordered)
        self._hosts: dict[str, Host] = {}
        self._addresses: dict[str, Host] = {}
        self._defaults = Link().changed(**link)
        self._links: dict[frozenset[str], Link] = {}
        self._link_free: dict[tuple[str, str], float] = {}  # when (a -> b) may send again
        self._cuts: set[frozenset[str]] = set()  # partitioned host pairs
        self._triggers: list[Any] = []
        self._replay = replay
        self.log = Log(seed)
        self._index = 0              # index of the next log entry
        self.errors: deque[tuple[float, str, str]] = deque(maxlen=MAX_ERRORS)
        self.messages: deque[Any] = deque(maxlen=MAX_MESSAGES)  # for the sequence diagram
        self.marks: deque[tuple[float, str, str, float]] = deque(maxlen=MAX_MESSAGES)  # timers
        self._listeners: list[Callable[[Any], None]] = []
        self._stepping = None        # the event being run, while it runs
        self._in_run = 0             # depth of run_until / run_until_idle / advance
        self._new = None             # events scheduled by the running event
        self._zero_run = 0
        self._zero_at = None
        self.zero_delay_limit = ZERO_DELAY_LIMIT
        self._net = Network(self)
        self._udp = Datagrams(self)
        self.default_host = self.host("local")

    # -- the reactor face speaks for the default host ------------------------------

    def _face_host(self):
        return self.default_host

    def _face_all_hosts(self):
        return True

    # -- hosts and links -------------------------------------------------------------

    def host(self, name: str, address: str | None = None) -> Host:
        """The host called ``name``, made on first use (address 10.0.0.N unless given)."""
        if not isinstance(name, str) or not name.strip() or name in ("localhost",):
            raise ValueError(f"a host name is a non-empty string (not 'localhost'), not {name!r}.")
        known = self._hosts.get(name)
        if known is not None:
            if address is not None and address != known.address:
                raise ValueError(f"host {name!r} already has the address {known.address}.")
            return known
        address = address or f"10.0.0.{len(self._hosts) + 1}"
        if address in self._addresses or address.startswith("127."):
            raise ValueError(f"address {address} is taken (or loopback); pick another.")
        made = Host(self, name, address)
        self._hosts[name], self._addresses[address] = made, made
        return made

    @property
    def hosts(self) -> dict[str, Host]:
        """The hosts, by name, in order of creation."""
        return dict(self._hosts)

    def _known(self, name):
        if isinstance(name, Host):
            return name
        host = self._hosts.get(name)
        if host is None:
            raise UnknownHost(f"there is no host {name!r} in this simulation; the hosts are "
                              f"{sorted(self._hosts)} (make one with sim.host({name!r})).")
        return host

    def _resolve(self, origin, name):
        """The host ``name`` means, seen from ``origin`` (None if there is none)."""
        if isinstance(name, bytes):
            name = name.decode("ascii", "replace")
        if name in ("127.0.0.1", "localhost", "", "0.0.0.0"):
            return origin
        return self._hosts.get(name) or self._addresses.get(name)

    def link(self, a: str | Host, b: str | Host, **changes: Any) -> Link:
        """The settings of the link between hosts ``a`` and ``b``; keyword arguments change them.

        ``sim.link("ada", "server", latency=0.05, bandwidth=10_000)``; see :class:`Link`.
        """
        key = frozenset((self._known(a).name, self._known(b).name))
        if changes:
            self._links[key] = self._links.get(key, self._defaults).changed(**changes)
            self._control(f"link {a}-{b}: " + ", ".join(f"{k}={v}" for k, v in changes.items()))
        return self._links.get(key, self._defaults)

    def network(self, **changes: Any) -> Link:
        """The default settings of every link; keyword arguments change them (not per-link ones)."""
        if changes:
            self._defaults = self._defaults.changed(**changes)
            self._control("network: " + ", ".join(f"{k}={v}" for k, v in changes.items()))
        return self._defaults

    def fragment(self, size: int | None, connection: Any = None) -> Any:
        """Split TCP writes into ``size``-byte pieces (None: whole), everywhere or on one."""
        if connection is None:
            return self.network(fragment=size)
        conn = self._net.connection(connection)
        Link(fragment=size)  # validates
        conn.fragment = size
        self._control(f"fragment #{conn.id} into {size}-byte pieces")
        return conn

    def _settings(self, a, b):
        if not self._links:
            return self._defaults
        return self._links.get(frozenset((a, b)), self._defaults)

    # -- partitions, holds, drops -------------------------------------------------------

    def partition(self, *groups: str | Host | list[str]) -> None:
        """Cut the network between hosts or groups: ``partition("ada", "server")``.

        Groups are lists: ``partition(["ada", "bob"], ["server"])``.

        TCP bytes across the cut wait (TCP would retransmit) until :meth:`heal`;
        datagrams across it are lost; connection attempts time out.
        """
        sides = [[self._known(h).name for h in ([g] if isinstance(g, (str, Host)) else g)]
                 for g in groups]
        if len(sides) < 2:
            raise ValueError("partition() needs at least two hosts or groups to separate, "
                             "e.g. sim.partition('ada', 'server').")
        for one, other in itertools.combinations(sides, 2):
            for a in one:
                for b in other:
                    if a != b:
                        self._cuts.add(frozenset((a, b)))
        self._control("partition " + " | ".join(",".join(s) for s in sides))

    def heal(self, *hosts: str | Host) -> None:
        """Mend the partition (between ``hosts`` only, if given); held bytes move on in order."""
        names = {self._known(h).name for h in hosts}
        self._cuts = {cut for cut in self._cuts if names and not cut <= names} if names else set()
        self._control("heal " + (",".join(sorted(names)) if names else "all"))
        self._release_stalled()

    def partitioned(self, a: str | Host, b: str | Host) -> bool:
        """True when hosts ``a`` and ``b`` cannot reach each other."""
        return frozenset((self._known(a).name, self._known(b).name)) in self._cuts

    def _cut(self, a, b):
        return a != b and frozenset((a, b)) in self._cuts

    def hold(self, connection: Any, direction: str = "both") -> Connection:
        """Hold a connection's bytes ("to_server", "to_client" or "both") until release()."""
        conn = self._net.connection(connection, open_only=True)
        for flow in conn.flows(direction):
            flow.held = True
        self._control(f"hold #{conn.id} {direction}")
        return conn

    def release(self, connection: Any = None, direction: str = "both") -> None:
        """Let held bytes go on, in order (every connection's, when none is named)."""
        conns = [self._net.connection(connection)] if connection is not None else \
            list(self._net.connections.values())
        for conn in conns:
            for flow in conn.flows(direction):
                flow.held = False
        self._control("release " + (f"#{conns[0].id} {direction}" if connection is not None
                                    else "all"))
        self._release_stalled()

    def drop(self, pending: Pending) -> None:
        """Remove one pending datagram from the queue (from :meth:`pending`): it is lost."""
        event = getattr(pending, "handle", pending)
        if not isinstance(event, Event) or event.cancelled or event not in self._events():
            raise ValueError("drop() takes one entry of sim.pending() that is still queued.")
        if event.kind != "datagram":
            raise ValueError(
                f"only datagrams can be dropped; this is a {event.kind} event. TCP resends what "
                "is lost: hold the connection (sim.hold) or partition the hosts instead.")
        event.lost = "dropped by hand"
        self._control(f"drop {event.text}")

    def connections(self) -> list[Connection]:
        """The TCP connections still open (at least one side), oldest first."""
        return [c for c in self._net.connections.values() if not c.closed]

    # -- the queue -----------------------------------------------------------------------

    def _push(self, event):
        event.seq = next(self._seq)
        heapq.heappush(self._heap, (event.time, event.seq, event))
        if self._new is not None:
            self._new.append(event)
        return event

    def _schedule(self, time, kind, host, text, run, **extra):
        """Queue an event (internal: the network and the timers use it)."""
        event = Event(max(time, self._now), kind, host, text, run)
        for name, value in extra.items():
            setattr(event, name, value)
        event.created = self._now
        return self._push(event)

    def _timer(self, host, delay, func, args, kw):
        def cancel(call):
            call._sim_event.cancelled = True

        def reset(call):
            old = call._sim_event
            old.cancelled = True
            again = Event(call.getTime(), "timer", old.host, old.text, old.run, call=call)
            again.created = self._now
            call._sim_event = again
            self._push(again)

        call = Timer(self._now + delay, func, args, kw, cancel, reset, seconds=self.seconds)
        event = Event(self._now + delay, "timer", host.name, _describe_call(func, args, kw),
                       call_runner(call), call=call)
        event.created = self._now
        call._sim_event = event
        self._push(event)
        return call

    def _events(self):
        return [e for _, _, e in self._heap if not e.cancelled]

    def _delayed_calls(self, host):
        return [e.call for e in self._events()
                if e.kind == "timer" and (host is None or e.host == host.name)]

    def pending(self, limit: int | None = None) -> list[Pending]:
        """What will happen next, in order: ready events first, then held ones (with why).

        ``limit`` keeps only the first that many.
        """
        events = sorted(self._events(), key=lambda e: (e.time, e.seq))
        ready: list[Pending] = []
        held: list[Pending] = []
        for event in events:
            why = event.held()
            (held if why else ready).append(event.pending(why))
        for flow in self._stalled:
            held.extend(e.pending(flow.blocked() or "waiting its turn") for e in flow.stalled)
        found = ready + held
        return found if limit is None else found[:limit]

    def _pop(self):
        """The next event that can run now, or None; held ones move to their flow's stall list."""
        heap, heappop, cuts = self._heap, heapq.heappop, self._cuts
        while heap:
            event = heappop(heap)[2]
            if event.cancelled:
                continue
            flow = event.flow
            if flow is not None and (flow.held or flow.stalled or cuts
                                     or flow.receiver.reading_paused) \
                    and (flow.blocked() or flow.stalled):
                flow.stalled.append(event)
                self._stalled[flow] = None
                continue
            return event
        return None

    def _release_stalled(self):
        """Put the stalled events of every flow that may go on back in the queue, in order."""
        for flow in list(self._stalled):
            if flow.blocked():
                continue
            del self._stalled[flow]
            later = [e for e in self._events() if e.flow is flow and e.time <= self._now]
            for event in later:
                event.cancelled = True
            for event in list(flow.stalled) + later:
                again = Event(self._now, event.kind, event.host, event.text, event.run)
                for name in Event.__slots__:
                    if name not in ("time", "seq", "cancelled"):
                        setattr(again, name, getattr(event, name))
                again.time = self._now
                self._push(again)
            flow.stalled.clear()

    # -- stepping -------------------------------------------------------------------------

    def step(self) -> Happened:
        """Run exactly one event and return what happened (a :class:`Happened`)."""
        self._not_inside_an_event("step()")
        event = self._pop()
        if event is None:
            raise QueueEmpty(self._why_empty())
        return self._run(event, True)

    def _not_inside_an_event(self, what: str) -> None:
        if self._stepping is not None:
            raise SimulationError(
                f"{what} was called from inside an event ({self._stepping.text}); events run one "
                "at a time. Schedule the work with callLater instead, or step from the cell.")

    def _why_empty(self):
        held = [e for flow in self._stalled for e in flow.stalled]
        if held:
            reasons = sorted({f"#{e.connection} {e.flow.blocked() or 'held'}" for e in held})
            return (f"nothing can run at t={self._now:.6f}: {len(held)} events are held "
                    f"({', '.join(reasons)}); sim.release() or sim.heal() lets them go on.")
        return (f"nothing to step: the queue is empty at t={self._now:.6f}. Schedule a timer, "
                "connect, or send something first.")

    def _run(self, event, full):
        """Run ``event``; for ``step()`` (full) return a Happened, inside a run a LogEntry."""
        kind = event.kind
        if kind == "timer" or self._zero_at is not None:
            self._check_runaway(event)
        if event.time > self._now:
            self._now = event.time
        if full:
            self._new = []
        self._stepping = event
        error = None
        try:
            event.run(event)
        except Exception as exc:  # a plugin or timer raised: record it, keep going
            error = self._note_error(event, exc)
        finally:
            scheduled, self._new, self._stepping = self._new, None, None
        if kind == "timer":
            self.marks.append((event.time, event.host, event.text, self._row()))
        entry = LogEntry(self._index, self._now, event.kind, event.host,
                         event.text, event.connection, error)
        self._record(entry)
        if not full:
            return entry
        happened = Happened(entry.index, self._now, event.kind, event.host,
                            event.text, event.connection, event.direction,
                            event.data if isinstance(event.data, bytes) else None,
                            tuple(event.message.decoded) if event.message else (), error,
                            tuple(e.pending() for e in scheduled if not e.cancelled))
        self._notify(happened)
        return happened

    def _note_error(self, event, exc):
        text = clean_text(f"{type(exc).__name__}: {exc}")
        self.errors.append((event.time, event.text, "".join(
            traceback.format_exception(type(exc), exc, exc.__traceback__))))
        return text

    def _check_runaway(self, event):
        if event.kind == "timer" and event.time == event.created:
            if self._zero_at == event.time:
                self._zero_run += 1
            else:
                self._zero_at, self._zero_run = event.time, 1
            if self._zero_run > self.zero_delay_limit:
                self._zero_run = 0
                if event.call is not None and event.call.active():
                    event.call.cancelled = 1
                self._record(LogEntry(self._index, self._now, "runaway",
                                      event.host, f"stopped {event.text}"))
                raise RunawayLoop(
                    f"{event.text} was called with callLater(0) more than {self.zero_delay_limit} "
                    f"times in a row at t={self._now:.6f} without virtual time moving on; it was "
                    "cancelled. Give the loop a delay (callLater(0.1, ...)) or a way to stop.")
        elif event.time != self._zero_at:
            self._zero_at, self._zero_run = None, 0

    def _record(self, entry):
        self._index += 1
        log = self.log
        log.entries.append(entry)
        if len(log.entries) > log.limit:
            log.append_overflow()
        replay = self._replay
        if replay is None:
            return
        if entry.index < len(replay):
            expected = replay[entry.index]
            if expected != entry:
                self._replay = None
                raise ReplayDiverged(
                    f"the run left the recorded log at event {entry.index}:\n"
                    f"  recorded: {expected}\n  now:      {entry}", index=entry.index,
                    expected=expected, actual=entry)

    def _control(self, text):
        """Log a control action (hold, partition...) so that logs show every input."""
        if self._stepping is None:
            entry = LogEntry(self._index, self._now, "control", "sim",
                             clean_text(text))
            self._record(entry)
            self._notify(entry)

    def _row(self):
        """The diagram row of what happens now: the running step's log index (x.5 between steps)."""
        return self._index if self._stepping is not None else self._index - 0.5

    def _notify(self, what):
        for listener in list(self._listeners):
            listener(what)

    @property
    def in_run(self) -> bool:
        """True while a run (run_until, run_until_idle, advance) is under way."""
        return self._in_run > 0

    def _input(self, host, connection, text):
        """Log bytes sent from outside any event (a cell calling client.send)."""
        if self._stepping is None:
            self._record(LogEntry(self._index, self._now, "input", host,
                                  clean_text(text), connection))

    @property
    def replaying(self) -> bool:
        """True while this run is being checked against a recorded log (and has not left it)."""
        return self._replay is not None

    # -- running ---------------------------------------------------------------------------

    def run_until(self, until: float | Callable[[Simulation], bool],
                  max_steps: int = DEFAULT_MAX_STEPS) -> Ran:
        """Run events until virtual time ``until`` (each at its own time), or until ``until(sim)``.

        With a time, the clock ends at that time even if nothing was due; with
        a predicate, running stops as soon as it holds (checked before each
        step) and :class:`QueueEmpty` says so if the queue runs dry first.
        """
        if callable(until):
            return self._run_while(None, max_steps, predicate=until)
        target = check_number("run_until's time", until)
        if target < self._now:
            raise BadTime(f"t={target} is in the past: the clock is at {self._now:.6f}. "
                          "Use advance(seconds) to move on from now.")
        return self._run_while(target, max_steps, end_at=target)

    def advance(self, seconds: float) -> Ran:
        """Move the clock ``seconds`` on, running every event due meanwhile at its own time."""
        seconds = check_number("advance's seconds", seconds)
        return self.run_until(self._now + seconds)

    def run_until_idle(self, max_steps: int = 100_000) -> Ran:
        """Run until nothing is left that can run; :class:`NotIdle` after ``max_steps`` steps."""
        if type(max_steps) is not int or max_steps < 1:
            raise ValueError(f"max_steps is how many events to run at most, a whole number of at "
                             f"least 1, not {max_steps!r}; the default is 100_000.")
        return self._run_while(None, max_steps, idle=True)

    def run_to_next_timer(self) -> Ran:
        """Run events up to and including the next timer (the queue panel's button)."""
        if not any(e.kind == "timer" for e in self._events()):
            raise QueueEmpty(f"no timer is pending at t={self._now:.6f}.")
        events, started = [], self._now
        while True:
            happened = self.step()
            events.append(happened.entry)
            if happened.kind == "timer":
                return Ran(tuple(events), started, self._now)

    def _run_while(self, until, max_steps, predicate=None, idle=False, end_at=None):
        """Run events due by ``until`` (None: any), or until ``predicate(self)``; a Ran."""
        self._not_inside_an_event("running the simulation")
        max_steps = int(check_number("max_steps", max_steps))
        entries: list[LogEntry] = []
        started = self._now
        self._in_run += 1
        try:
            self._loop(until, max_steps, predicate, idle, entries)
            if end_at is not None and end_at > self._now:
                self._now = end_at
        finally:
            self._in_run -= 1
            ran = Ran(tuple(entries), started, self._now)
            if not self._in_run:
                self._notify(ran)
        return ran

    def _loop(self, until, max_steps, predicate, idle, entries):
        heap, pop, run, push = self._heap, self._pop, self._run, heapq.heappush
        while True:
            if predicate is not None and predicate(self):
                return
            event = pop()
            if event is None:
                if predicate is not None:
                    raise QueueEmpty(f"the queue ran dry at t={self._now:.6f} before "
                                     f"{getattr(predicate, '__name__', 'the condition')} held "
                                     f"(after {len(entries)} steps).")
                return
            if until is not None and event.time > until:
                push(heap, (event.time, event.seq, event))
                return
            if len(entries) >= max_steps:
                push(heap, (event.time, event.seq, event))
                if idle:
                    raise NotIdle(
                        f"still busy after {max_steps} steps (t={self._now:.6f}); something keeps "
                        "scheduling work (a LoopingCall?). Use run_until(time) or "
                        "advance(seconds), or stop it.")
                raise NotIdle(f"stopped after max_steps={max_steps} steps at t={self._now:.6f}.")
            entries.append(run(event, False))

    # -- watching -------------------------------------------------------------------------

    def subscribe(self, listener: Callable[[Any], None]) -> Callable[[Any], None]:
        """Call ``listener(what)`` after each step (Happened), run (Ran) and control (LogEntry)."""
        self._listeners.append(listener)
        return listener

    def unsubscribe(self, listener: Callable[[Any], None]) -> None:
        """Stop calling ``listener``."""
        if listener in self._listeners:
            self._listeners.remove(listener)

    def diagram(self, last: int = 60) -> SequenceDiagram:
        """The sequence diagram of the last ``last`` messages and timers (SVG; shows itself)."""
        return SequenceDiagram.of(self, last)

    def widget(self) -> Any:
        """The interactive view: queue panel, controls, the sequence diagram growing as you step."""
        return display.view("simulation", self)

    def __repr__(self):
        return (f"<lab.Simulation seed={self.seed!r}: t={self._now:.6f}, {len(self._hosts)} hosts, "
                f"{len(self._events())} queued, {len(self.log)} events run>")

    def _repr_html_(self):
        return summary_html(self)

    # -- helpers for notebooks -------------------------------------------------------------

    def listen(self, what: Any, port: int = 0, *, host: str = "server", udp: bool = False,
               interface: str = "", **options: Any) -> Listener:
        """Serve a plugin (by name or object) or a factory on ``host``'s ``port``; a Listener."""
        return listen(self, what, port, host, udp, interface, options)

    def connect(self, target: Any, port: int | None = None, *, host: str = "client",
                timeout: float = 30) -> Client:
        """A TCP client on ``host`` connected to ``target`` (a listener, or a host and ``port``)."""
        return connect(self, target, port, host, timeout)


def call_runner(call):
    """The run function of a timer event: call it as the reactor would."""
    def run(event):
        call.called = 1
        call.func(*call.args, **call.kw)
    return run


def simulation(seed: int | str | bytes = 0, *, replay: Log | None = None,
               **link: Any) -> Simulation:
    """A new :class:`Simulation`: ``lab.simulation(seed=0)``; link defaults as keywords.

    ``replay=log`` checks the new run against a recorded log, step by step.
    """
    return Simulation(seed, replay=replay, **link)

