"""Small immutable values the trace hands out: stages, failures, events, bounded reprs.

Values flowing through a chain are never kept by the trace: each is turned
into a bounded ``repr`` when it passes, so a huge value costs at most
``REPR_LIMIT`` characters per stage, however big it is.
"""

import builtins
import reprlib
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from twisted.python.failure import Failure

__all__ = [
    "REPR_LIMIT",
    "TRACEBACK_LIMIT",
    "short_repr",
    "FailureInfo",
    "Stage",
    "StageAdded",
    "StageRan",
    "GateReached",
    "ChainEnded",
    "ChainReset",
]

REPR_LIMIT = 160
TRACEBACK_LIMIT = 6000

# Types whose repr is cheap and short unless they are big; checked first
# because this runs once per stage on the hot path.
_SCALARS = frozenset({int, float, bool, type(None), complex})
_SLICEABLE = frozenset({str, bytes, bytearray})

_bounded = reprlib.Repr()
_bounded.maxstring = REPR_LIMIT
_bounded.maxother = REPR_LIMIT
_bounded.maxlist = _bounded.maxtuple = _bounded.maxset = _bounded.maxdict = 12
_bounded.maxlevel = 3


def short_repr(value: object, limit: int = REPR_LIMIT) -> str:
    """``repr(value)`` cut to at most ``limit`` characters, without building a huge repr first."""
    kind = type(value)
    if kind in _SCALARS:
        try:
            text = repr(value)
        except ValueError:  # an int longer than sys.get_int_max_str_digits() has no repr
            text = f"<int of about {int(value.bit_length() * 0.30103) + 1} digits>"  # type: ignore[attr-defined]
    elif kind in _SLICEABLE:
        # Slice before repr: repr of a 100 MB bytes object would be 400 MB.
        text = repr(value[: limit + 1])  # type: ignore[index]  # str, bytes, bytearray
    elif kind in (list, tuple, dict, set, frozenset):
        text = _bounded.repr(value)
    else:
        text = _safe_repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


def _safe_repr(value):
    try:
        return repr(value)
    except Exception as error:  # noqa: BLE001 - a broken __repr__ must not break the chain
        return f"<{type(value).__name__} (repr raised {type(error).__name__})>"


class FailureInfo(NamedTuple):
    """What a stage's Failure was: exception type, message and traceback text (bounded)."""

    type: type
    type_name: str
    message: str
    traceback: str

    @classmethod
    def from_failure(cls, failure: "Failure") -> "FailureInfo":
        """Summarise a :class:`twisted.python.failure.Failure` without keeping it alive."""
        kind = failure.type
        name = getattr(kind, "__qualname__", str(kind))
        message = short_repr_text(failure.getErrorMessage())
        text = failure.getTraceback()
        if len(text) > TRACEBACK_LIMIT:
            text = "\u2026 (start cut)\n" + text[-TRACEBACK_LIMIT:]
        return cls(kind, name, message, text)

    def check(self, *types: builtins.type) -> builtins.type | None:
        """Like ``Failure.check``: the first of ``types`` the exception is one of, or None."""
        for candidate in types:
            if isinstance(candidate, type) and issubclass(self.type, candidate):
                return candidate
        return None

    def __str__(self):
        return f"{self.type_name}: {self.message}" if self.message else self.type_name

    def __repr__(self):
        return f"<FailureInfo {self}>"


def short_repr_text(text, limit=REPR_LIMIT):
    """A plain string cut to ``limit`` characters."""
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


class Stage(NamedTuple):
    """One stage of a chain as it was recorded: what was added, what ran, what came out.

    ``ran`` is ``"callback"`` or ``"errback"`` when a real function of the stage
    ran, ``"skipped"`` when the stage was passed over (a callback facing a
    Failure, an errback facing a value), ``None`` while not reached.
    ``input`` and ``output`` are bounded reprs; ``failure`` is a
    :class:`FailureInfo` when the stage ended in a Failure.  ``state`` is one of
    ``"pending"``, ``"gated"`` (paused before it), ``"waiting"`` (its function
    returned a Deferred that has not fired), ``"done"``.  ``how`` is the method
    that added it (or the Twisted feature that did: ``addTimeout``,
    ``chainDeferred``, ``DeferredList``, ``cancel``; ``await``/``yield`` for a
    coroutine's segments); ``location`` is ``file:line`` of its function;
    ``duration`` is seconds spent in the function; ``waited`` is True when it
    returned a Deferred and its output is what that Deferred gave; ``note``
    says what a what-if changed.
    """

    index: int  # type: ignore[assignment]  # a field, shadowing tuple.index on purpose
    how: str
    name: str
    callback: str
    errback: str
    location: str
    ran: str | None
    input: str | None
    input_failed: bool
    output: str | None
    failure: FailureInfo | None
    duration: float | None
    state: str
    waited: bool
    note: str

    @property
    def failed(self) -> bool:
        """True when the stage ended in a Failure."""
        return self.failure is not None

    @property
    def side(self) -> str:
        """Which column the result entered on: ``"callback"`` or ``"errback"``."""
        return "errback" if self.input_failed else "callback"

    def __repr__(self):
        return f"<Stage {self.describe()}>"

    def describe(self) -> str:
        """One line of text: index, how it was added, what ran, and what came out."""
        if self.ran is None:
            status = "gated" if self.state == "gated" else "not reached"
            return f"#{self.index} {self.how} {self.name}: {status}"
        outcome = f"Failure {self.failure}" if self.failure else self.output
        if self.state == "waiting":
            outcome = f"waiting on a Deferred ({self.output})"
        return f"#{self.index} {self.how} {self.name}: ran {self.ran}, {self.input} -> {outcome}"


class StageAdded(NamedTuple):
    """A stage was added to a traced chain."""

    index: int  # type: ignore[assignment]  # a field, shadowing tuple.index on purpose


class StageRan(NamedTuple):
    """A stage ran (or was skipped); ``waiting`` is True if it returned an unfired Deferred."""

    index: int  # type: ignore[assignment]  # a field, shadowing tuple.index on purpose
    waiting: bool


class GateReached(NamedTuple):
    """A stepped chain paused before stage ``index``."""

    index: int  # type: ignore[assignment]  # a field, shadowing tuple.index on purpose


class ChainEnded(NamedTuple):
    """A traced chain has no stage left to run; ``failed`` is True if it ended in a Failure."""

    failed: bool


class ChainReset(NamedTuple):
    """A stepper started over on a fresh replay of its chain."""

    generation: int
