"""One entry of the simulation's queue (internal; the public view of one is a Pending)."""

from lab.simulator._values import Pending

__all__ = ["Event"]


class Event:
    """One entry of the queue (internal; the public view is :class:`Pending`)."""

    __slots__ = ("time", "seq", "kind", "host", "text", "run", "connection", "direction",
                 "data", "flow", "call", "created", "cancelled", "sent_at", "src", "dst",
                 "message", "lost", "version")

    def __init__(self, time, kind, host, text, run, call=None):
        self.time, self.kind, self.host, self.text, self.run = time, kind, host, text, run
        self.connection = self.direction = self.data = self.flow = None
        self.src = self.dst = self.message = self.lost = None
        self.cancelled, self.version, self.created, self.sent_at = False, 0, None, None
        self.call = call

    def held(self):
        """Why this event cannot run now ('' if it can)."""
        flow = self.flow
        return flow.blocked() if flow is not None else ""

    def pending(self, held=None):
        size = len(self.data) if isinstance(self.data, bytes) else 0
        text = self.text if not self.lost else f"{self.text} (will be lost: {self.lost})"
        return Pending(self.time, self.kind, self.host, text, self.connection, self.direction,
                       size, self.held() if held is None else held, self)
