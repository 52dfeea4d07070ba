"""Checks of arguments at the public entry points, each failing with a message that says what to pass.

Stdlib only, so that every layer may use them.  They raise ``TypeError`` for
the wrong kind of value and ``ValueError`` for a value out of range, before
anything is started or submitted to the reactor.
"""

import math

__all__ = ["checked_timeout", "checked_count", "checked_bool", "checked_data", "MAX_TIMEOUT"]

# A week: longer than any notebook cell should block, far below the limit of
# a lock's wait (a larger one overflows).
MAX_TIMEOUT = 7 * 24 * 3600.0


def checked_timeout(timeout: object, name: str = "timeout", positive: bool = False) -> float:
    """``timeout`` as a float of seconds: finite, not negative (or > 0 if ``positive``).

    ``None`` and infinity are refused: a busy reactor would hang the kernel.
    """
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
        raise TypeError(
            f"{name} must be a number of seconds such as {name}=30, not "
            f"{type(timeout).__name__} {timeout!r}")
    low_ok = timeout > 0 if positive else timeout >= 0
    if not math.isfinite(timeout) or not low_ok or timeout > MAX_TIMEOUT:
        low = "more than 0" if positive else "between 0 and"
        raise ValueError(
            f"{name} must be {low} {'up to ' if positive else ''}{MAX_TIMEOUT:.0f} seconds, "
            f"not {timeout!r}; pass e.g. {name}=30, and a larger number for slow work.")
    return float(timeout)


def checked_count(value: object, name: str, low: int = 1, high: int | None = None,
                  example: int | None = None) -> int:
    """``value`` as an int in ``low..high`` (bools, floats and strings refused)."""
    example = example if example is not None else max(low, 10)
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(
            f"{name} must be a whole number such as {name}={example}, not "
            f"{type(value).__name__} {value!r}")
    if value < low or (high is not None and value > high):
        span = f"at least {low}" if high is None else f"between {low} and {high:,}"
        raise ValueError(f"{name} must be {span}, not {value!r}; e.g. {name}={example}.")
    return value


def checked_bool(value: object, name: str) -> bool:
    """``value`` if it is True or False (``"no"`` is not False)."""
    if not isinstance(value, bool):  # bool has no subclasses: exactly True or False
        raise TypeError(f"{name} must be True or False, not {type(value).__name__} {value!r}")
    return value


def checked_data(value: object, name: str, example: str = "b'ping\\n'") -> bytes:
    """Non-empty bytes from bytes, bytearray, memoryview or str (UTF-8)."""
    if isinstance(value, str):
        value = value.encode("utf-8")
    elif isinstance(value, (bytes, bytearray, memoryview)):
        value = bytes(value)
    else:
        raise TypeError(
            f"{name} must be bytes or str, such as {name}={example}, not "
            f"{type(value).__name__} {value!r}")
    if not value:
        raise ValueError(f"{name} must not be empty; pass e.g. {name}={example}.")
    return value
