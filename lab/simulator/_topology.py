"""A simulation's network: hosts and their names, links and their settings, partitions,
held connections and dropped datagrams.
"""

from __future__ import annotations

import itertools
from typing import Any

from lab.simulator._errors import UnknownHost
from lab.simulator._queue import Event
from lab.simulator._reactor import Host
from lab.simulator._scheduling import _Scheduling
from lab.simulator._tcp import Connection, Network
from lab.simulator._values import Link, Pending


class _Topology(_Scheduling):
    """The network part of :class:`~lab.simulator.Simulation` (a base class of it)."""

    # The state this part works on (Simulation.__init__ sets it).
    _hosts: dict[str, Host]
    _addresses: dict[str, Host]
    _defaults: Link
    _links: dict[frozenset[str], Link]
    _net: Network

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
