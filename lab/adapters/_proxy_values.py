"""What a proxy pipeline moves and what shapes it: directions, :class:`Message`, :class:`Faults`."""

import time

TO_SERVER, TO_CLIENT = "to_server", "to_client"
DIRECTIONS = (TO_SERVER, TO_CLIENT)


class Faults:
    """What to do to traffic: all off by default.  ``direction`` limits the count-based faults."""

    FIELDS = ("delay", "jitter", "rate", "fragment", "close_after_bytes",
              "close_after_messages", "reset", "half_close_after", "direction", "seed")

    def __init__(self, delay=0.0, jitter=0.0, rate=None, fragment=None, close_after_bytes=None,
                 close_after_messages=None, reset=False, half_close_after=None,
                 direction="both", seed=None):
        self.delay, self.jitter, self.rate, self.fragment = delay, jitter, rate, fragment
        self.close_after_bytes, self.close_after_messages = close_after_bytes, close_after_messages
        self.reset, self.half_close_after, self.direction = reset, half_close_after, direction
        self.seed = seed
        # True if any fault is set (read on every message, so computed once).
        self.active = bool(delay or jitter or rate or fragment or close_after_bytes is not None
                           or close_after_messages is not None or half_close_after is not None)

    def applies(self, direction):
        """True if the count-based faults watch ``direction``."""
        return self.direction in ("both", direction)

    def as_dict(self):
        """The settings that differ from the defaults."""
        blank = Faults()
        return {f: getattr(self, f) for f in self.FIELDS if getattr(self, f) != getattr(blank, f)}

    def __repr__(self):
        settings = ", ".join(f"{k}={v!r}" for k, v in self.as_dict().items())
        return f"Faults({settings})"


class Message:
    """One whole message in a proxy's queue: its connection, direction, bytes and whether held."""

    __slots__ = ("id", "connection", "direction", "data", "held", "time", "original",
                 "pipeline", "__weakref__")
    _next = 1

    def __init__(self, pipeline, direction, data, held=False):
        self.id = Message._next
        Message._next += 1
        self.pipeline, self.direction, self.data, self.held = pipeline, direction, data, held
        self.connection = pipeline.id
        self.time = time.time()
        self.original = data

    @property
    def edited(self):
        """True if ``data`` is no longer what arrived."""
        return self.data != self.original

    def describe(self):
        """One readable line, from the proxy's framer."""
        try:
            return self.pipeline.framers[self.direction].describe(self.data)
        except Exception:  # noqa: BLE001 - a description must never break a listing
            return repr(self.data[:80])

    def __repr__(self):
        state = "held" if self.held else "queued"
        arrow = "->" if self.direction == TO_SERVER else "<-"
        return (f"<Message #{self.id} conn #{self.connection} {arrow} {state} "
                f"{len(self.data)} bytes: {self.describe()}>")
