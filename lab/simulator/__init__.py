"""A simulated network in virtual time, stepped one event at a time.

    sim = lab.simulation(seed=0)            # a reactor-like world in this thread
    echo = sim.listen("echo", 7, host="server")
    client = sim.connect(echo, host="ada")  # ada -> server
    client.send("hello")
    sim.pending()                           # what happens next, in order
    sim.step()                              # exactly one event; what it scheduled
    sim.run_until_idle(); client.read()     # b'hello'
    sim.diagram()                           # hosts as columns, messages as arrows
    sim.log                                 # every event: same seed + inputs, same log

The simulation (and each ``sim.host(name)``) is a reactor for Twisted code:
``IReactorTime``, ``IReactorTCP``, ``IReactorUDP`` and name resolution, so
``serverFromString(sim, "tcp:7")``, ``clientFromString(host, "tcp:server:7")``,
``deferLater(sim, 1, f)`` and ``LoopingCall`` (clock ``sim``) run on it
unchanged.  The network has per-link latency, jitter, bandwidth, datagram
loss, duplication and reordering (from the seed), fragmentation of writes,
holds and partitions.  Processes, threads and real sockets raise
:class:`Unsupported`.

This package never imports the real reactor, crochet or ipywidgets.
"""

from lab.simulator._errors import (BadTime, ConnectionGone, NotIdle, QueueEmpty, ReplayDiverged,
                                    RunawayLoop, SimulationError, UnknownHost, Unsupported)
from lab.simulator._diagram import SequenceDiagram, pending_html
from lab.simulator._helpers import Client, Listener
from lab.simulator._reactor import Host
from lab.simulator._tcp import Connection
from lab.simulator._values import Happened, Link, Log, LogEntry, Pending, Ran
from lab.simulator._world import Simulation, simulation

__all__ = [
    "simulation", "Simulation", "Host", "Link", "Pending", "Happened", "LogEntry", "Log", "Ran",
    "Listener", "Client", "Connection", "SequenceDiagram", "pending_html",
    "SimulationError", "QueueEmpty", "BadTime", "UnknownHost", "ConnectionGone", "Unsupported",
    "RunawayLoop", "NotIdle", "ReplayDiverged",
]
