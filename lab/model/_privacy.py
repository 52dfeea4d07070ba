"""Listeners private to their owner, and the limits a teacher sets, for a shared host.

On a classroom's JupyterHub every student's kernel runs under the student's
own uid, but all of them share one loopback: without a rule, any student
could connect to another's echo or memcached server and read or change its
data.  So by default a listener admits a loopback connection only from a
process of its owner's uid (the uid that runs this kernel), learnt from the
kernel's socket tables (:mod:`lab.model._peers`).  A refused connection is
closed at once and shows in the listener's capture (a connection closed with
the reason) and in its ``refused`` count.  ``lab.listen(..., share=True)``
admits everyone; ``share=["bob", 1002]`` admits those users as well.

UDP has no connection and no handshake: a datagram is admitted when the
local socket bound to its source address belongs to an admitted user.  A
sender that has already closed its socket, or a forged source address,
cannot be attributed; such datagrams are dropped (and said so).

Teacher limits come from the environment the hub gives every kernel:

======================== ========================================== ============
variable                 limit                                      example
======================== ========================================== ============
``LAB_MAX_LISTENERS``    running listeners per user (all kernels)   ``5``
``LAB_MAX_CONNECTIONS``  open connections per listener              ``50``
``LAB_MAX_CAPTURE``      capture memory per user (bytes, or K/M/G)  ``64M``
``LAB_LIMITS_SET_BY``    who sets them, quoted in every message     ``your teacher (...)``
``LAB_LISTENER_PRIVACY`` ``auto`` (default), ``require``, ``off``
======================== ========================================== ============

``require`` (what the workshop hub sets) makes a host that cannot tell
peer uids an error at ``listen()``; ``auto`` enforces the rule where it can
and says plainly where it cannot; ``off`` admits everyone (like ``share=True``).

The per-user counts span every kernel of the user: each listener holds an
entry in a small ledger folder of the user's own (``LAB_STATE_DIR``, default
``~/.local/state/protocol-lab``), and entries of dead processes are dropped.
The ledger is kept only while a per-user limit is set (a hub sets them before
any kernel starts), so listeners started before a limit was set do not count.
These limits keep a class's host healthy against mistakes (a loop starting
listeners); they run in the student's own process, so they are not a
security boundary: memory and process limits belong to systemd or Kubernetes
(see ``deploy/README.md``).  Privacy is different: it is enforced by the
listener's process, which belongs to the owner, not to the one connecting.
"""

import contextlib
import json
import os
import pathlib
import re
import threading
import time
from collections import OrderedDict
from typing import Any, Callable, Iterable, Literal, Mapping, NamedTuple

from lab.adapters.guard import GuardedDatagram, GuardedFactory
from lab.model import _peers
from lab.model._endpoints import is_loopback
from lab.model._errors import ListenError

__all__ = ["LimitReached", "PrivacyUnavailable", "TeacherLimits", "ListenerPrivacy",
           "teacher_limits", "admit_listener", "user_name"]

try:  # Unix; on Windows there are no uids to compare (and no rule: see _peers)
    import fcntl
    import pwd
except ImportError:  # pragma: no cover - exercised only off Unix
    fcntl = pwd = None  # type: ignore[assignment]

_DEFAULT_SET_BY = "the LAB_MAX_* environment variables of this kernel"
_MIN_CAPTURE = 64 * 1024
_UNITS = {"": 1, "K": 1024, "M": 1024 ** 2, "G": 1024 ** 3}
_UDP_MEMORY = 1024  # peers whose refusal was recorded, per listener
_DECISION_TTL = 2.0  # seconds a UDP sender's admission is remembered


class LimitReached(ListenError):
    """A limit the teacher set (listeners per user, capture memory per user) was reached."""


class PrivacyUnavailable(ListenError):
    """Listener privacy is required here, but this host cannot tell which user a peer runs as."""


def _euid() -> int:
    """This process's effective uid (-1 where the OS has none)."""
    geteuid = getattr(os, "geteuid", None)
    return geteuid() if geteuid else -1


def user_name(uid: int) -> str:
    """The account name of ``uid`` (or the number, as text, if it has none)."""
    try:
        return pwd.getpwuid(uid).pw_name if pwd else str(uid)
    except KeyError:
        return str(uid)


def _size(text: str, variable: str) -> int:
    match = re.fullmatch(r"\s*(\d+)\s*([KMG]?)(?:i?B)?\s*", str(text), re.IGNORECASE)
    if not match:
        raise ValueError(f"{variable}={text!r} is not a size; write bytes, or e.g. 64M, 512K, 1G.")
    return int(match.group(1)) * _UNITS[match.group(2).upper()]


def _count(text: str, variable: str) -> int:
    if not str(text).strip().isdigit() or int(text) < 1:
        raise ValueError(f"{variable}={text!r} is not a whole number of at least 1.")
    return int(text)


class TeacherLimits(NamedTuple):
    """The limits in force (None: no limit) and who set them."""

    max_listeners: "int | None"
    max_connections: "int | None"
    max_capture: "int | None"
    set_by: str
    privacy: str

    @property
    def any(self) -> bool:
        """True if at least one per-user limit is set (then the ledger is kept)."""
        return self.max_listeners is not None or self.max_capture is not None

    def describe(self, which: str) -> str:
        """A phrase naming a limit and who sets it, for error messages."""
        variable, value = {
            "listeners": ("LAB_MAX_LISTENERS", self.max_listeners),
            "connections": ("LAB_MAX_CONNECTIONS", self.max_connections),
            "capture": ("LAB_MAX_CAPTURE", self.max_capture)}[which]
        return f"{variable}={value}, set by {self.set_by}"


def teacher_limits(environ: "Mapping[str, str] | None" = None) -> TeacherLimits:
    """The limits in force for this kernel, read from its environment (see the module's table)."""
    env = os.environ if environ is None else environ
    listeners = env.get("LAB_MAX_LISTENERS")
    connections = env.get("LAB_MAX_CONNECTIONS")
    capture = env.get("LAB_MAX_CAPTURE")
    privacy = env.get("LAB_LISTENER_PRIVACY", "auto").strip().lower() or "auto"
    if privacy not in ("auto", "require", "off"):
        raise ValueError(f"LAB_LISTENER_PRIVACY={privacy!r}: use auto, require or off.")
    return TeacherLimits(
        _count(listeners, "LAB_MAX_LISTENERS") if listeners else None,
        _count(connections, "LAB_MAX_CONNECTIONS") if connections else None,
        _size(capture, "LAB_MAX_CAPTURE") if capture else None,
        env.get("LAB_LIMITS_SET_BY", "").strip() or _DEFAULT_SET_BY,
        privacy)


# ------------------------------------------------------------------------------
# who may connect


def _uids(share: "bool | str | int | Iterable[str | int] | None"
          ) -> "Literal[True] | frozenset[int]":
    """``True`` (everyone) or a frozenset of uids from names and numbers."""
    if share is True:
        return True
    if share is False or share is None:
        return frozenset()
    if isinstance(share, (str, int)):
        share = [share]
    uids = set()
    for user in share:
        if isinstance(user, bool) or not isinstance(user, (str, int)):
            raise TypeError(f"share= takes True, or user names and uids, not {user!r}.")
        if isinstance(user, int):
            uids.add(user)
            continue
        try:
            if pwd is None:
                raise KeyError(user)
            uids.add(pwd.getpwnam(user).pw_uid)
        except KeyError:
            raise ListenError(f"share=: there is no user {user!r} on this host; give account "
                              "names (as `id -un` prints them) or uids.") from None
    return frozenset(uids)


class ListenerPrivacy:
    """Who may connect to one listener, and the record of who was turned away.

    The gate the listener's guard asks about each connection (reactor thread).
    ``share(True)`` or ``share(["bob"])`` opens it while it runs.
    """

    def __init__(self, capture: Any, limits: TeacherLimits, share: Any = False,
                 platform: "str | None" = None) -> None:
        self.capture, self.limits = capture, limits
        self.owner_uid = _euid()
        self.owner = user_name(self.owner_uid)
        self.unavailable = _peers.uid_lookup_available(platform)
        self.refused = 0
        self.last_refusal = ""
        self._lock = threading.Lock()
        self._udp_seen: OrderedDict[tuple[str, int], tuple[float, int | None]] = OrderedDict()
        self._udp_noted: OrderedDict[tuple[str, int], bool] = OrderedDict()
        self.allowed: Literal[True] | frozenset[int] = frozenset()
        self._ticket = None
        self.share(True if limits.privacy == "off" else share)

    def share(self, users: "bool | str | int | Iterable[str | int]" = True) -> None:
        """Admit everyone (``True``), these users too (names, uids), or only the owner (``False``)."""
        allowed = _uids(users)
        with self._lock:
            self.allowed = allowed
            self._udp_seen.clear()

    @property
    def enforced(self) -> bool:
        """True when connections from other users are being refused."""
        return self.allowed is not True and self.unavailable is None

    @property
    def statement(self) -> str:
        """One paragraph: what this listener admits, and where the rule cannot reach."""
        if self.allowed is True:
            return f"shared: every user of this host may connect (owner {self.owner})."
        if self.unavailable:
            return (f"not private: {self.unavailable}; any local user may connect. Run the lab "
                    "on Linux for listener privacy.")
        others = sorted(user_name(u) for u in self.allowed if u != self.owner_uid)
        who = f"{self.owner}" + (f" and {', '.join(others)}" if others else "")
        return (f"private: local connections only from processes of {who} (peer uid from the "
                "kernel's socket tables); other users are refused. UDP: a datagram is admitted "
                "if the local socket bound to its source belongs to an admitted user; a sender "
                "whose socket is already closed, or a forged source, cannot be attributed and "
                "is dropped.")

    # -- the gate (reactor thread) ---------------------------------------------

    def _admits(self, uid):
        allowed = self.allowed
        return allowed is True or uid == self.owner_uid or uid in allowed

    def _refusal(self, uid, what):
        if uid is None:
            return (f"refused: could not learn which user sent this {what} (the peer's socket "
                    "was already gone); private listeners admit only their owner's processes")
        return (f"refused: {user_name(uid)} (uid {uid}) is not allowed; this listener is "
                f"private to {self.owner}, who can open it with lab.listen(..., share=True) "
                f"or share=[{user_name(uid)!r}]")

    def _note(self, reason):
        with self._lock:
            self.refused += 1
            self.last_refusal = reason
        return reason

    def refuse_stream(self, peer: "tuple[str, int]", local: "tuple[str, int]") -> "str | None":
        """None to admit a new TCP connection from ``peer`` to ``local``, else why not."""
        limit = self.limits.max_connections
        if limit is not None and self.capture.open_count >= limit:
            return self._note(f"refused: this listener already has {limit} open connections "
                              f"(connections per listener: {self.limits.describe('connections')})")
        if not self.enforced or peer[0] == "unix":
            return None  # a unix socket is the owner's alone by its file mode (0600)
        uid = _peers.stream_peer_uid(peer, local)
        if uid is None and not is_loopback(str(peer[0])):
            return None  # another host: allow_remote decided that
        if uid is not None and self._admits(uid):
            return None
        return self._note(self._refusal(uid, "connection"))

    def refuse_datagram(self, peer: "tuple[str, int]",
                        local: "tuple[str, int]") -> "str | None":
        """None to admit a datagram from ``peer``, else why not (decisions kept 2 s per sender)."""
        if not self.enforced:
            return None
        now = time.monotonic()
        seen = self._udp_seen.get(peer)
        if seen is not None and now - seen[0] < _DECISION_TTL:
            uid = seen[1]
        else:
            uid = _peers.datagram_peer_uid(peer)
            self._udp_seen[peer] = (now, uid)
            while len(self._udp_seen) > _UDP_MEMORY:
                self._udp_seen.popitem(last=False)
        if uid is None and not is_loopback(str(peer[0])):
            return None
        if uid is not None and self._admits(uid):
            return None
        return self._note(self._refusal(uid, "datagram"))

    def first_refusal_of(self, peer: "tuple[str, int]") -> bool:
        """True the first time a UDP sender is refused (so the capture lists it once)."""
        if peer in self._udp_noted:
            return False
        self._udp_noted[peer] = True
        while len(self._udp_noted) > _UDP_MEMORY:
            self._udp_noted.popitem(last=False)
        return True

    # -- wiring ------------------------------------------------------------------

    def guard_factory(self, factory: Any, local: "Callable[[], tuple[str, int]]") -> GuardedFactory:
        """``factory`` behind this gate (reactor thread)."""
        return GuardedFactory(factory, self, self.capture, local)

    def guard_datagram(self, protocol: Any) -> GuardedDatagram:
        """``protocol`` (a UDP wiretap) behind this gate (reactor thread)."""
        return GuardedDatagram(protocol, self, self.capture)

    def release(self) -> None:
        """Give back this listener's share of the per-user limits (harmless twice)."""
        ticket, self._ticket = self._ticket, None
        if ticket is not None:
            ticket.release()

    def __repr__(self):
        return f"<ListenerPrivacy {self.statement.split(':')[0]} owner={self.owner} " \
               f"refused={self.refused}>"


# ------------------------------------------------------------------------------
# per-user limits, across every kernel of the user


def _state_dir():
    base = os.environ.get("LAB_STATE_DIR")
    if base:
        return pathlib.Path(base)
    state = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"),
                                                             ".local", "state")
    return pathlib.Path(state) / "protocol-lab"


def _process_started(pid):
    """Something that changes if ``pid`` is reused: its start time (Linux) or ''."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[19]
    except OSError:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        except PermissionError:
            pass
        return ""


class _Ticket:
    def __init__(self, path):
        self.path = path

    def release(self):
        with contextlib.suppress(OSError):
            self.path.unlink()


class _Ledger:
    """One file per running listener of this user, in a folder only the user can write."""

    _serial = 0
    _serial_lock = threading.Lock()

    def __init__(self, folder):
        self.folder = folder / f"listeners-{_euid()}"

    @contextlib.contextmanager
    def _locked(self):
        self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        with open(self.folder / ".lock", "w") as lock:
            if fcntl is not None:
                fcntl.flock(lock, fcntl.LOCK_EX)
            yield

    def _live(self):
        entries = []
        for path in self.folder.glob("*.json"):
            try:
                entry = json.loads(path.read_text())
            except (OSError, ValueError):
                continue
            if _process_started(entry.get("pid", -1)) != entry.get("started"):
                with contextlib.suppress(OSError):
                    path.unlink()
                continue
            entries.append(entry)
        return entries

    def reserve(self, name, capture_bytes, shrinkable, limits):
        """Check the per-user limits and hold an entry; return ``(ticket, capture bytes)``."""
        with self._locked():
            live = self._live()
            if limits.max_listeners is not None and len(live) >= limits.max_listeners:
                names = ", ".join(sorted(e["name"] for e in live))
                raise LimitReached(
                    f"cannot start listener {name!r}: you already run {len(live)} listeners "
                    f"({names}), the most allowed per user (listeners per user: "
                    f"{limits.describe('listeners')}). Stop one with listener.stop() or "
                    "lab.model.stop_all(), or shut down a notebook's kernel you no longer use.")
            if limits.max_capture is not None:
                if shrinkable and limits.max_listeners:
                    # A fair share by default, so the count limit is met before the memory one.
                    capture_bytes = min(capture_bytes, limits.max_capture // limits.max_listeners)
                used = sum(e["capture"] for e in live)
                left = limits.max_capture - used
                if capture_bytes > left:
                    if shrinkable and left >= _MIN_CAPTURE:
                        capture_bytes = left
                    else:
                        raise LimitReached(
                            f"cannot start listener {name!r}: its capture may keep "
                            f"{capture_bytes} bytes, but your listeners already hold {used} of "
                            f"the {limits.max_capture} bytes allowed per user (capture memory "
                            f"per user: {limits.describe('capture')}). Pass a smaller "
                            f"max_bytes= (at most {max(left, 0)}), capture=False, or stop a "
                            "listener.")
            with self._serial_lock:
                _Ledger._serial += 1
                serial = _Ledger._serial
            pid = os.getpid()
            path = self.folder / f"{pid}-{serial}.json"
            path.write_text(json.dumps({"pid": pid, "started": _process_started(pid),
                                        "name": name, "capture": capture_bytes}))
        return _Ticket(path), capture_bytes


def admit_listener(listener: Any, share: Any, default_max_bytes: int,
                   platform: "str | None" = None) -> ListenerPrivacy:
    """Check a new listener against the rules in force; give it its :class:`ListenerPrivacy`.

    Called by ``listen()`` before the port opens.  Raises
    :class:`PrivacyUnavailable` where privacy is required but cannot be
    enforced, and :class:`LimitReached` when a per-user limit would be passed.
    May shrink a default-sized capture to what the user's budget has left.
    """
    try:
        limits = teacher_limits()
    except ValueError as error:
        raise ListenError(f"the teacher limits are misconfigured: {error}") from None
    privacy = ListenerPrivacy(listener.capture, limits, share, platform)
    if privacy.unavailable and limits.privacy == "require" and privacy.allowed is not True:
        raise PrivacyUnavailable(
            f"cannot start listener {listener.name!r} privately: {privacy.unavailable}. This "
            f"kernel requires listener privacy (LAB_LISTENER_PRIVACY=require, set by "
            f"{limits.set_by}); run the classroom on a Linux host, or pass share=True to "
            "accept every local user on purpose.")
    if limits.any:
        capture = listener.capture
        wanted = capture.max_bytes if capture.enabled else 0
        try:
            ticket, granted = _Ledger(_state_dir()).reserve(
                listener.name, wanted, wanted == default_max_bytes, limits)
        except OSError as error:
            raise ListenError(f"cannot keep the per-user listener count in {_state_dir()}: "
                              f"{error}. Set LAB_STATE_DIR to a folder you can write.") from None
        if capture.enabled:
            capture.max_bytes = granted
        privacy._ticket = ticket
    return privacy
