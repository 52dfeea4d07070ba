"""The proxy as its pipelines see it (the hub), and the proxied connections it knows.

Each proxied connection is a :class:`~lab.adapters.proxy.Pipeline` that calls
its hub in the reactor thread: a new pipeline started, should this message
be held, the held list changed, a note for the user, which faults apply.
"""

import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from typing import Any, NamedTuple

from lab.adapters.proxy import Faults, Message, Pipeline
from lab.model._errors import ProxyError

MAX_PIPELINES = 2000  # closed ones beyond this are forgotten (the capture keeps their traffic)


class ProxyNote(NamedTuple):
    """Something the proxy did that the user should know: when, on which connection, what."""

    time: float
    connection: int | None
    text: str


class _ProxyHub:
    """The hub part of :class:`~lab.model.Proxy` (a base class of it)."""

    # The state this part works on (Proxy.__init__ sets it).
    name: str
    max_held: int
    not_held: int
    notes: deque[ProxyNote]
    version: int  # bumped when held messages or notes change, for views
    _faults: Faults | None
    _no_faults: Faults
    _intercept: tuple[str, Callable[[bytes], Any]] | None  # (direction, match function)
    _pipelines: OrderedDict[int, Pipeline]
    _lock: threading.Lock

    # -- the pipelines call these (reactor thread) ------------------------------------

    def pipeline_started(self, pipeline: Pipeline) -> None:
        """Remember a new connection's pipeline (forgetting old closed ones)."""
        with self._lock:
            self._pipelines[id(pipeline)] = pipeline
            if len(self._pipelines) > MAX_PIPELINES:
                for key, old in list(self._pipelines.items()):
                    if old.closed and len(self._pipelines) > MAX_PIPELINES:
                        del self._pipelines[key]

    def should_hold(self, pipeline: Pipeline, direction: str, message: Message) -> bool:
        """True if the intercept rule matches and the held list has room."""
        rule = self._intercept
        if rule is None or rule[0] not in ("both", direction):
            return False
        try:
            wanted = rule[1](message.data)
        except Exception as error:  # noqa: BLE001 - a user's match function must not lose bytes
            self.note(pipeline.id, f"match function raised {type(error).__name__}: {error}; "
                                   "message not held")
            return False
        if not wanted:
            return False
        if len(self.held) >= self.max_held:
            self.not_held += 1
            self.note(pipeline.id, f"held limit ({self.max_held}) reached: message #{message.id}"
                                   " not held; it goes after the held ones ahead of it")
            return False
        return True

    def held_changed(self) -> None:
        """Views redraw the held list."""
        self.version += 1

    def note(self, connection: int | None, text: str) -> None:
        """Keep a note for the user."""
        self.notes.append(ProxyNote(time.time(), connection, text))
        self.version += 1

    def faults_for(self, pipeline: Pipeline) -> Faults:
        """The proxy's faults (a connection's own ones are on its pipeline)."""
        return self._faults or self._no_faults

    # -- connections -------------------------------------------------------------------

    def pipelines(self) -> list[Pipeline]:
        """The proxied connections known (open and recently closed)."""
        with self._lock:
            return list(self._pipelines.values())

    def _pipeline(self, connection):
        if hasattr(connection, "queues"):
            return connection
        for pipeline in self.pipelines():
            if connection in (pipeline.id, pipeline.server_id):
                return pipeline
        known = ", ".join(f"#{p.id}" for p in self.pipelines()[-10:]) or "none yet"
        raise ProxyError(f"proxy {self.name!r} has no connection #{connection} (client legs: "
                         f"{known}); see proxy.connections.")

    def _legs(self, connection):
        pipeline = self._pipeline(connection)
        return pipeline.id, pipeline.server_id

    def legs(self) -> list[tuple[int, int | None]]:
        """``[(client leg id, server leg id or None)]`` for every known proxied connection."""
        return [(p.id, p.server_id) for p in self.pipelines()]

    @property
    def held(self) -> list[Message]:
        """The messages waiting for a decision, oldest first."""
        messages = [m for p in self.pipelines() for m in p.held]
        return sorted(messages, key=lambda m: m.id)
