"""Checks of what a user passes to a proxy: edits, match rules, directions, faults.

Each raises a TypeError, ValueError or :class:`ProxyError` whose message says
what was wrong and what to write instead.
"""

import re
from typing import Any

from lab.model._errors import ProxyError

DIRECTIONS = ("to_server", "to_client")
_FAULT_TYPES: dict[str, Any] = {
    "delay": (int, float), "jitter": (int, float), "rate": (int, float), "fragment": int,
    "close_after_bytes": int, "close_after_messages": int, "reset": bool,
    "half_close_after": int, "direction": str, "seed": object}


def as_data(data: object, what: str = "an edit") -> bytes:
    """``data`` as bytes (a str is sent as UTF-8)."""
    if isinstance(data, str):
        return data.encode("utf-8")
    if isinstance(data, (bytes, bytearray, memoryview)):
        return bytes(data)
    raise TypeError(f"{what} must be bytes or str (sent as UTF-8), not {type(data).__name__}; "
                    "write e.g. proxy.forward(message, b'+OK\\r\\n').")


def matcher(match: Any) -> Any:
    """A function of a message's bytes from ``match=`` (None, bytes, str, a regex, a function)."""
    if match is None:
        return lambda data: True
    if isinstance(match, (str, bytes)):
        needle = match.encode() if isinstance(match, str) else match
        # find, not ``in``: bytes' ``in`` formats and clears a TypeError per call
        # (it tries the needle as an int first), per message through the proxy.
        return lambda data: data.find(needle) != -1
    if isinstance(match, re.Pattern):
        if isinstance(match.pattern, str):
            return lambda data: match.search(data.decode("utf-8", "replace")) is not None
        return lambda data: match.search(data) is not None
    if callable(match):
        return match
    raise TypeError(f"match= takes None, bytes, str, a compiled regex or a function of the "
                    f"message's bytes, not {type(match).__name__}.")


def checked_direction(direction: Any, allow_both: bool = True) -> str:
    """``direction`` itself if it is one a proxy knows (``"both"`` only if ``allow_both``)."""
    choices = DIRECTIONS + (("both",) if allow_both else ())
    if direction not in choices:
        raise ValueError(f"direction must be one of {', '.join(map(repr, choices))}, "
                         f"not {direction!r}.")
    return direction


def checked_faults(settings: dict[str, Any]) -> dict[str, Any]:
    """``settings`` for :meth:`Proxy.fault` if every name, type and value is one it takes."""
    unknown = set(settings) - set(_FAULT_TYPES)
    if unknown:
        raise ProxyError(f"no fault {', '.join(sorted(unknown))}; faults: "
                         f"{', '.join(_FAULT_TYPES)}.")
    for key, value in settings.items():
        kind = _FAULT_TYPES[key]
        if value is None or kind is object:
            continue
        if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
            wanted = getattr(kind, "__name__", "a number")
            raise ProxyError(f"fault {key}={value!r}: expected {wanted}.")
        if kind is not str and kind is not bool and not (0 <= value < float("inf")):
            raise ProxyError(f"fault {key}={value!r} must be a finite number, not "
                             "negative, e.g. delay=0.1.")
    if settings.get("fragment") == 0 or settings.get("rate") == 0:
        raise ProxyError("fragment= and rate= must be at least 1 (or leave them out).")
    if "direction" in settings:
        checked_direction(settings["direction"])
    return settings
