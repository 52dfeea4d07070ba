"""A snapshot of what the reactor is doing: timers, sockets, listeners, connections.

Taken in the reactor thread (so nothing changes while it is read) and handed
back as plain values.  Crochet's own ``reapAllProcesses`` timer and the lab's
view refreshers are labelled as internal and hidden unless asked for, so a
learner sees their own ``callLater`` and not the machinery.
"""

import html
import time
import types
from typing import NamedTuple

from twisted.internet.base import DelayedCall

from lab import bridge
from lab.model._listeners import listeners
from lab.model._watch import LAB_TIMER_LABEL

__all__ = ["ReactorState", "TimerInfo", "SocketInfo", "reactor_state", "debug_timers", "render_html"]


class TimerInfo(NamedTuple):
    """A pending DelayedCall: what it will call, in how many seconds, and who made it."""

    callable: str
    args: str
    time_left: float
    creator: tuple
    label: str
    internal: bool


class SocketInfo(NamedTuple):
    """Something the reactor watches: a listening port, a connection, or its waker."""

    kind: str  # "listening", "connection", "datagram", "waker" or "other"
    description: str
    reading: bool
    writing: bool
    listener: str


def _name_of(fn):
    owner = getattr(fn, "__self__", None)
    name = getattr(fn, "__qualname__", None) or repr(fn)
    module = getattr(fn, "__module__", None)
    if owner is not None and not isinstance(owner, (type, types.ModuleType)):
        name = f"{type(owner).__qualname__}.{getattr(fn, '__name__', name)}"
        module = type(owner).__module__
    return f"{module}.{name}" if module and module != "builtins" else name


def _func(call):
    """What a DelayedCall will call (seen through the bridge's output routing)."""
    return bridge.unwrap_routed(call.func)


def _looping_call(call):
    """The LoopingCall a DelayedCall belongs to, or None."""
    func = _func(call)
    for candidate in (func, getattr(func, "__self__", None)):
        if type(candidate).__name__ == "LoopingCall":
            return candidate
    return None


def _internal_label(call):
    """A label for crochet's and the lab's own timers, or ``""`` for everything else."""
    loop = _looping_call(call)
    inner = getattr(loop, "f", None)
    if getattr(inner, "__name__", "") == "reapAllProcesses":
        return "crochet: reaps finished child processes (internal)"
    label = getattr(loop, LAB_TIMER_LABEL, None) or getattr(_func(call), LAB_TIMER_LABEL, None)
    return f"{label} (internal)" if label else ""


def _timer(call, now):
    loop = _looping_call(call)
    target = getattr(loop, "f", None)
    shown = _name_of(_func(call))
    if loop is not None:
        shown = f"LoopingCall({_name_of(target)}) every {loop.interval} s"
    args = ", ".join([repr(a)[:60] for a in call.args] +
                     [f"{k}={v!r}"[:60] for k, v in call.kw.items()])
    label = _internal_label(call)
    creator = tuple(line.rstrip() for line in (call.creator or ()))
    return TimerInfo(shown, args, max(0.0, call.getTime() - now), creator, label, bool(label))


def _socket(selectable, readers, writers, ports):
    listener = ports.get(id(selectable), "")
    kind_name = type(selectable).__name__
    if "Waker" in kind_name:
        return SocketInfo("waker", "reactor waker (wakes the loop for callFromThread)",
                          selectable in readers, selectable in writers, "")
    host = _address(selectable, "getHost")
    peer = _address(selectable, "getPeer") if hasattr(selectable, "getPeer") else ""
    module = type(selectable).__module__
    if module.endswith("udp"):
        kind, text = "datagram", f"udp {host}"
    elif kind_name == "Port":
        kind, text = "listening", f"listening {host}"
    elif peer:
        role = "server side" if kind_name == "Server" else "client side"
        kind, text = "connection", f"tcp {host} <-> {peer} ({role})"
    else:
        kind, text = "other", f"{kind_name} {host}".strip()
    return SocketInfo(kind, text, selectable in readers, selectable in writers, listener)


def _address(selectable, method):
    try:
        address = getattr(selectable, method)()
    except Exception:  # noqa: BLE001 - a closing socket may not know its address any more
        return ""
    host, port = getattr(address, "host", None), getattr(address, "port", None)
    return f"{host}:{port}" if host is not None else str(address)


def _listening_ports():
    return {id(port): l.name for l in listeners() if (port := l.listening_port) is not None}


def _snapshot(include_internal):
    reactor = bridge.get_reactor()
    now = reactor.seconds()
    timers = sorted((_timer(c, now) for c in reactor.getDelayedCalls()),
                    key=lambda t: t.time_left)
    shown = [t for t in timers if include_internal or not t.internal]
    readers, writers = set(reactor.getReaders()), set(reactor.getWriters())
    ports = _listening_ports()
    sockets = [_socket(s, readers, writers, ports) for s in readers | writers]
    sockets.sort(key=lambda s: (s.kind, s.description))
    if not include_internal:
        sockets = [s for s in sockets if s.kind != "waker"]
    return ReactorState(time.time(), type(reactor).__name__, reactor.running, shown,
                        sockets, len(timers) - len(shown), DelayedCall.debug)


class ReactorState:
    """What the reactor was doing at one moment (see :func:`lab.reactor_state`)."""

    def __init__(self, taken: float, reactor: str, running: bool, timers: list[TimerInfo],
                 sockets: list[SocketInfo], hidden: int, debug: bool) -> None:
        self.taken, self.reactor, self.running = taken, reactor, running
        self.delayed_calls = timers
        self.sockets = sockets
        self.hidden = hidden
        self.debug = debug

    @property
    def readers(self) -> list[SocketInfo]:
        """Sockets the reactor waits to read from."""
        return [s for s in self.sockets if s.reading]

    @property
    def writers(self) -> list[SocketInfo]:
        """Sockets the reactor waits to write to (data queued for the network)."""
        return [s for s in self.sockets if s.writing]

    @property
    def listening(self) -> list[SocketInfo]:
        """Listening TCP ports and UDP ports."""
        return [s for s in self.sockets if s.kind in ("listening", "datagram")]

    @property
    def connections(self) -> list[SocketInfo]:
        """Open TCP connections, both server and client sides."""
        return [s for s in self.sockets if s.kind == "connection"]

    def text(self) -> str:
        """The snapshot as plain text lines."""
        lines = [f"reactor {self.reactor} {'running' if self.running else 'stopped'}: "
                 f"{len(self.delayed_calls)} delayed calls ({self.hidden} internal hidden), "
                 f"{len(self.readers)} readers, {len(self.writers)} writers"]
        lines += [f"  in {t.time_left:6.3f} s  {_call_text(t)} {t.label}".rstrip()
                  for t in self.delayed_calls]
        lines += [f"  {s.description}" + (f"  [{s.listener}]" if s.listener else "")
                  for s in self.sockets]
        return "\n".join(lines)

    def __repr__(self):
        return self.text()

    def _repr_html_(self):
        return render_html(self)


def _call_text(timer):
    if timer.callable.startswith("LoopingCall("):
        return timer.callable
    return f"{timer.callable}({timer.args})"


def _rows(items, cells):
    return "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in cells(i))
                   + "</tr>" for i in items)


def render_html(state: ReactorState) -> str:
    """The snapshot as HTML tables (used by the notebook display and the reactor view)."""
    head = html.escape(state.text().splitlines()[0])
    timers = _rows(state.delayed_calls, lambda t: (
        f"{t.time_left:.3f}", t.callable, t.args, t.label or "", "\n".join(t.creator[-4:])))
    sockets = _rows(state.sockets, lambda s: (
        s.kind, s.description, "R" if s.reading else "", "W" if s.writing else "", s.listener))
    debug = "" if state.debug else (
        "<br><i>creator stacks: off (lab.model.debug_timers(True) records them for new calls)</i>")
    timers = timers or _empty_row(5, "no pending timers")
    sockets = sockets or _empty_row(5, "no sockets")
    return (
        f'<div class="lab-reactor-state"><b>{head}</b>{debug}'
        "<table><caption>timers (DelayedCalls)</caption><tr><th>in (s)</th><th>calls</th>"
        f"<th>args</th><th>label</th><th>created at</th></tr>{timers}</table>"
        "<table><caption>sockets</caption><tr><th>kind</th><th>socket</th><th>read</th>"
        f"<th>write</th><th>listener</th></tr>{sockets}</table></div>")


def _empty_row(columns, text):
    return f'<tr><td colspan="{columns}"><i>{html.escape(text)}</i></td></tr>'



def reactor_state(include_internal: bool = False,
                  timeout: float = bridge.DEFAULT_TIMEOUT) -> ReactorState:
    """A snapshot of pending DelayedCalls, readers, writers, listening ports and connections.

    Crochet's and the lab's own timers are hidden unless ``include_internal``;
    ``hidden`` says how many.
    """
    if type(include_internal) is not bool:
        raise TypeError(f"include_internal must be True or False, not {include_internal!r}")
    timeout = bridge.checked_timeout(timeout)
    if bridge.in_reactor_thread():
        return _snapshot(include_internal)
    return bridge.call(_snapshot, include_internal, timeout=timeout)


def _set_debug(enabled):
    DelayedCall.debug = bool(enabled)
    return DelayedCall.debug


def debug_timers(enabled: bool = True) -> bool:
    """Record where each new DelayedCall was created (Twisted's ``DelayedCall.debug``)."""
    return bridge.call(_set_debug, enabled)
