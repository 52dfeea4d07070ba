"""Interception: which messages a proxy holds, and what the user decides about them.

The held list is bounded (``max_held`` messages, ``max_held_bytes`` bytes;
see :mod:`lab.model._proxy`).  The user's decisions (forward, edit, drop,
inject, release all) are carried out in the reactor thread.
"""

from typing import Any, Self

from lab import bridge
from lab._checks import checked_data
from lab.adapters.proxy import Message
from lab.model._errors import ProxyError
from lab.model._proxy_checks import as_data, checked_direction, matcher
from lab.model._proxy_hub import _ProxyHub


class _Interception(_ProxyHub):
    """The intercepting part of :class:`~lab.model.Proxy` (a base class of it)."""

    holding: bool  # read by the pipelines on every chunk: is anything intercepted?

    def intercept(self, direction: str | None = "both", match: Any = None) -> Self:
        """Hold messages going ``direction`` that ``match``; ``intercept(None)`` stops holding.

        ``direction`` is ``"to_server"``, ``"to_client"`` or ``"both"``;
        ``match`` is None (every message), bytes/str (contained in the
        message), a compiled regex, or a function of the message's bytes.
        Messages already held stay held until forwarded or dropped.
        """
        if direction is None:
            self._intercept = None
            self.holding = False
            return self
        self._intercept = (checked_direction(direction), matcher(match))
        self.holding = True
        return self

    @property
    def intercepting(self) -> str | None:
        """The direction being intercepted, or None."""
        return self._intercept[0] if self._intercept else None

    def _check_held(self, message):
        if not isinstance(message, Message):
            raise TypeError(f"expected a message from proxy.held, not {type(message).__name__}")
        if message.pipeline.hub is not self:
            raise ProxyError(f"message #{message.id} belongs to another proxy.")
        if message not in message.pipeline.queues[message.direction]:
            raise ProxyError(f"message #{message.id} is no longer waiting (it was forwarded, "
                             "dropped, or its connection closed; see proxy.notes).")

    def forward(self, message: Message, data: bytes | str | None = None,
                timeout: float = bridge.DEFAULT_TIMEOUT) -> Message:
        """Let a held message go on, replaced by ``data`` (bytes or str) if given."""
        if data is not None:
            data = as_data(data)
        self._check_held(message)
        bridge.call(self._forward_in_reactor, message, data, timeout=timeout)
        return message

    def _forward_in_reactor(self, message, data):
        if message in message.pipeline.queues[message.direction]:
            if data is not None:
                self.note(message.connection, f"{message.direction}: message #{message.id} "
                                              f"edited ({len(message.data)} -> {len(data)} bytes)")
            message.pipeline.release(message, data)
        self.held_changed()

    def drop(self, message: Message,
             timeout: float = bridge.DEFAULT_TIMEOUT) -> Message:
        """Throw a held message away (noted in :attr:`notes`)."""
        self._check_held(message)
        bridge.call(message.pipeline.drop, message, timeout=timeout)
        self.held_changed()
        return message

    def inject(self, connection: int, direction: str, data: bytes | str,
               timeout: float = bridge.DEFAULT_TIMEOUT) -> Message:
        """Send ``data`` as a new message on ``connection`` (an id) going ``direction``."""
        data = checked_data(data, "data", "b'PING\\r\\n'")
        checked_direction(direction, allow_both=False)
        pipeline = self._pipeline(connection)
        if pipeline.closed:
            raise ProxyError(f"connection #{pipeline.id} is closed; inject into an open one "
                             "(see proxy.connections).")
        item = bridge.call(pipeline.inject, direction, data, timeout=timeout)
        self.note(pipeline.id, f"{direction}: injected message #{item.id} ({len(data)} bytes)")
        return item

    def release_all(self, timeout: float = bridge.DEFAULT_TIMEOUT) -> int:
        """Forward every held message unchanged; return how many."""
        def release():
            held = self.held
            for message in held:
                message.pipeline.release(message)
            self.held_changed()
            return len(held)
        return bridge.call(release, timeout=timeout)
