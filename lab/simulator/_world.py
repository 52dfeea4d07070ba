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

The pieces, each a base class of :class:`Simulation`: ``_recording`` (the
log, replay checks, listeners), ``_scheduling`` (the queue and stall lists),
``_stepping`` (step and the runs), ``_topology`` (hosts, links, partitions,
holds).  Here: the simulation's state, its reactor face and timers, views.
"""

from __future__ import annotations

import itertools
import random
from collections import deque
from collections.abc import Callable
from typing import Any

from twisted.internet.interfaces import (IReactorPluggableNameResolver, IReactorTCP, IReactorTime,
                                         IReactorUDP)
from zope.interface import implementer

from lab import display
from lab.simulator._diagram import SequenceDiagram, summary_html
from lab.simulator._helpers import Client, Listener, connect, listen
from lab.simulator._queue import Event
from lab.simulator._reactor import Host, ReactorFace, Timer
from lab.simulator._stepping import _Stepping
from lab.simulator._tcp import Network
from lab.simulator._topology import _Topology
from lab.simulator._udp import Datagrams
from lab.simulator._values import Link, Log, clean_text, short

__all__ = ["Simulation", "simulation"]

ZERO_DELAY_LIMIT = 10_000      # zero-delay timers in a row at one instant before we call it a loop
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
class Simulation(_Topology, _Stepping, ReactorFace):
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

    # -- timers (the reactor face's callLater) ---------------------------------------

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
