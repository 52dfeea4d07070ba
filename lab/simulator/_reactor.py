"""What a host looks like to Twisted code: the reactor interfaces, over the simulation's queue.

A :class:`Host` provides ``IReactorTime``, ``IReactorTCP``, ``IReactorUDP``
and ``IReactorPluggableNameResolver``: hand it (or the simulation, which
speaks for its default host ``"local"``) to endpoints, ``deferLater``,
``LoopingCall.clock`` or any code that takes a reactor.  Timers and sockets
made through a host belong to it: its connections leave from its address,
its timers are drawn in its column.

What a host does not provide raises :class:`Unsupported`, naming what it does.
"""

from typing import Any

from twisted.internet.address import IPv4Address
from twisted.internet.base import DelayedCall
from twisted.internet.defer import fail, succeed
from twisted.internet.error import DNSLookupError
from twisted.internet.interfaces import (IHostnameResolver, IHostResolution,
                                         IReactorPluggableNameResolver, IReactorTCP, IReactorTime,
                                         IReactorUDP)
from twisted.internet.task import LoopingCall
from zope.interface import implementer

from lab.simulator._errors import Unsupported
from lab.simulator._values import check_number, short

__all__ = ["Host", "ReactorFace", "SUPPORTED", "Timer"]

SUPPORTED = ("time (callLater, seconds, getDelayedCalls, LoopingCall, deferLater), "
             "TCP (listenTCP, connectTCP, endpoint strings 'tcp:...'), "
             "UDP (listenUDP) and host name resolution")

# Reactor methods a simulation has no answer for, and what to use instead.
_UNSUPPORTED = {
    "spawnProcess": "processes",
    "callInThread": "threads", "callFromThread": "threads", "getThreadPool": "threads",
    "suggestThreadPoolSize": "threads",
    "listenSSL": "TLS", "connectSSL": "TLS",
    "listenUNIX": "UNIX sockets", "connectUNIX": "UNIX sockets",
    "listenUNIXDatagram": "UNIX sockets", "connectUNIXDatagram": "UNIX sockets",
    "listenMulticast": "multicast",
    "adoptStreamPort": "real sockets", "adoptStreamConnection": "real sockets",
    "adoptDatagramPort": "real sockets",
    "addReader": "real file descriptors", "addWriter": "real file descriptors",
    "removeReader": "real file descriptors", "removeWriter": "real file descriptors",
    "removeAll": "real file descriptors", "getReaders": "real file descriptors",
    "getWriters": "real file descriptors",
    "run": "running forever", "stop": "running forever", "crash": "running forever",
    "iterate": "running forever",
}


def _unsupported(name, what):
    def method(self, *args, **kwargs):
        advice = ("step it with sim.step(), sim.run_until_idle() or sim.advance(seconds)"
                  if what == "running forever" else "use the real reactor (lab.start()) for that")
        raise Unsupported(
            f"reactor.{name}() is not available in the simulation: it has no {what}. "
            f"It provides {SUPPORTED}; {advice}.")
    method.__name__ = name
    method.__doc__ = f"Not in the simulation (no {what}): raises Unsupported."
    return method


class Timer(DelayedCall):
    """A DelayedCall whose every change of time reaches the queue at once.

    Twisted's ``reset`` to a later time and ``delay`` only note the change and
    let the reactor find out when the old time comes; the queue here must
    always know the real order, so both re-queue the call immediately.
    """

    def reset(self, secondsFromNow):
        """Move the call to ``secondsFromNow`` from now."""
        DelayedCall.reset(self, secondsFromNow)
        if self.delayed_time:
            self.activate_delay()
            self.resetter(self)

    def delay(self, secondsLater):
        """Move the call ``secondsLater`` later."""
        DelayedCall.delay(self, secondsLater)
        self.activate_delay()
        self.resetter(self)


class _SimLoopingCall(LoopingCall):
    """A LoopingCall on a simulated clock (made without touching the real reactor)."""

    def __init__(self, clock, f, *a, **kw):
        self.f, self.a, self.kw, self.clock = f, a, kw, clock


@implementer(IHostResolution)
class _Resolution:
    def __init__(self, name):
        self.name = name

    def cancel(self):
        """Resolution is immediate here; nothing to cancel."""


@implementer(IHostnameResolver)
class _Resolver:
    """Resolves simulated host names (and their addresses) to IPv4 addresses, at once."""

    def __init__(self, host):
        self._host = host

    def resolveHostName(self, resolutionReceiver, hostName, portNumber=0,  # noqa: N802,N803
                        addressTypes=None, transportSemantics="TCP"):  # noqa: N803
        """Tell ``resolutionReceiver`` the address of ``hostName`` (none if unknown)."""
        resolution = _Resolution(hostName)
        resolutionReceiver.resolutionBegan(resolution)
        target = self._host.sim._resolve(self._host, hostName)
        if target is not None:
            loopback = target is self._host and hostName in _LOOPBACK
            address = "127.0.0.1" if loopback else target.address
            resolutionReceiver.addressResolved(IPv4Address(transportSemantics, address, portNumber))
        resolutionReceiver.resolutionComplete()
        return resolution


_LOOPBACK = ("127.0.0.1", "localhost")
FIRST_EPHEMERAL = 40000


class ReactorFace:
    """The reactor methods, on behalf of one host (``_face_host()``)."""

    for _name, _what in _UNSUPPORTED.items():
        locals()[_name] = _unsupported(_name, _what)
    del _name, _what

    running = True

    # -- IReactorTime ----------------------------------------------------------

    def seconds(self):
        """The virtual clock, in seconds (it starts at 0 and moves only when events run)."""
        return self._face_host().sim._now

    def callLater(self, delay, callable, *args, **kw):  # noqa: N802,A002
        """Call ``callable(*args, **kw)`` ``delay`` virtual seconds from now; an IDelayedCall."""
        if not hasattr(callable, "__call__"):
            raise TypeError(f"callLater needs something to call, not {short(callable)}")
        delay = check_number("callLater's delay", delay)
        return self._face_host().sim._timer(self._face_host(), delay, callable, args, kw)

    def getDelayedCalls(self):  # noqa: N802
        """Every timer of this host (of every host, asked of the simulation) still to run."""
        host = self._face_host()
        return host.sim._delayed_calls(None if self._face_all_hosts() else host)

    def callWhenRunning(self, callable, *args, **kw):  # noqa: N802,A002
        """The simulation is always running: call it on the next turn."""
        return self.callLater(0, callable, *args, **kw)

    def addSystemEventTrigger(self, phase, eventType, callable,  # noqa: N802,N803,A002
                              *args, **kw):
        """Accepted and kept (the simulation never shuts down, so they never fire); an id."""
        triggers = self._face_host().sim._triggers
        triggers.append((phase, eventType, callable, args, kw))
        return len(triggers) - 1

    def removeSystemEventTrigger(self, triggerID):  # noqa: N802,N803
        """Forget a trigger added by :meth:`addSystemEventTrigger`."""
        self._face_host().sim._triggers[triggerID] = None

    def looping_call(self, f, *args, **kwargs):
        """A ``LoopingCall`` whose clock is this simulation (start it with ``.start(interval)``)."""
        return _SimLoopingCall(self, f, *args, **kwargs)

    # -- IReactorTCP / IReactorUDP ---------------------------------------------

    def listenTCP(self, port, factory, backlog=50, interface=""):  # noqa: N802
        """Listen for simulated TCP connections on this host's ``port`` (0: any free one)."""
        return self._face_host().sim._net.listen_tcp(self._face_host(), port, factory, interface)

    def connectTCP(self, host, port, factory, timeout=30, bindAddress=None):  # noqa: N802,N803
        """Connect to ``host`` (a host name, its address, or 127.0.0.1) on ``port``."""
        return self._face_host().sim._net.connect_tcp(self._face_host(), host, port, factory,
                                                      timeout)

    def listenUDP(self, port, protocol, interface="", maxPacketSize=8192):  # noqa: N802,N803
        """Bind a DatagramProtocol to this host's UDP ``port`` (0: any free one)."""
        return self._face_host().sim._udp.listen_udp(self._face_host(), port, protocol, interface,
                                                     maxPacketSize)

    # -- names -------------------------------------------------------------------

    @property
    def nameResolver(self):  # noqa: N802
        """Resolves the simulation's host names (used by HostnameEndpoint)."""
        host = self._face_host()
        return host._resolver

    def installNameResolver(self, resolver):  # noqa: N802
        """Use ``resolver`` for this host's names; returns the previous one."""
        host = self._face_host()
        old, host._resolver = host._resolver, resolver
        return old

    def resolve(self, name, timeout=(1, 3, 11, 45)):
        """A Deferred firing with the address of the simulated host ``name``."""
        host = self._face_host()
        target = host.sim._resolve(host, name)
        if target is None:
            return fail(DNSLookupError(f"no simulated host is called {name!r}"))
        return succeed(target.address)


@implementer(IReactorTime, IReactorTCP, IReactorUDP, IReactorPluggableNameResolver)
class Host(ReactorFace):
    """One machine of the simulated network, usable wherever Twisted wants a reactor.

    ``name`` is how other hosts reach it (``connectTCP("server", 7, f)``);
    ``address`` is its IPv4 address (10.0.0.N, in order of creation).
    """

    def __init__(self, sim: Any, name: str, address: str) -> None:
        self.sim, self.name, self.address = sim, name, address
        self.tcp_ports: dict[int, Any] = {}
        self.udp_ports: dict[int, Any] = {}
        self._next_port = FIRST_EPHEMERAL
        self._resolver = _Resolver(self)

    def _face_host(self):
        return self

    def _face_all_hosts(self):
        return False

    def free_port(self, used: set[int]) -> int:
        """The next port number not in ``used`` (ephemeral ports go round 40000 to 65535)."""
        for _ in range(FIRST_EPHEMERAL, 65536):
            port = self._next_port
            self._next_port = FIRST_EPHEMERAL if port >= 65535 else port + 1
            if port not in used:
                return port
        raise OSError(f"host {self.name} has no free port left (every one is in use)")

    def __repr__(self):
        return f"<lab.simulator.Host {self.name} {self.address}>"
