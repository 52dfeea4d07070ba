"""Numbers read the way memcached reads them: C's ``strtoul`` family and its quirks.

memcached parses every numeric token with ``strtoul``/``strtol`` on a 64-bit
``long`` and then narrows the result to 32 bits, so ``4294967297`` becomes
``1`` and a leading tab or ``+`` is accepted.  Byte-identical replies need the
same arithmetic, so these functions copy it instead of using ``int()``.
"""

__all__ = ["strtoull", "strtoul", "strtol"]

_SPACE = frozenset(b" \t\n\v\f\r")
_U64 = 1 << 64
_I64_MAX = (1 << 63) - 1


def _scan(text):
    """``(negative, magnitude, end)`` of C's decimal prefix of ``text``, or None.

    None means C would reject it: no digits, or a character after the digits
    that is neither whitespace nor the end of the string (NUL ends it too).
    """
    i, n = 0, len(text)
    while i < n and text[i] in _SPACE:
        i += 1
    negative = False
    if i < n and text[i] in b"+-":
        negative = text[i] == 45
        i += 1
    start = i
    while i < n and 48 <= text[i] <= 57:
        i += 1
    if i == start:
        return None
    if i < n and text[i] != 0 and text[i] not in _SPACE:
        return None
    return negative, int(text[start:i]), i


def strtoull(text):
    """memcached's ``safe_strtoull``: an unsigned 64-bit value, or None."""
    if text.isdigit() and len(text) < 19:  # the common case, exact and fast
        return int(text)
    scanned = _scan(text)
    if scanned is None:
        return None
    negative, magnitude, end = scanned
    if magnitude >= _U64:
        return None  # ERANGE
    value = (-magnitude) % _U64 if negative else magnitude
    if value >= 1 << 63 and b"-" in text[:end]:
        return None
    return value


def strtoul(text):
    """memcached's ``safe_strtoul``: ``strtoul`` on a 64-bit long, narrowed to 32 bits."""
    if text.isdigit() and len(text) < 10:
        return int(text)
    value = strtoull(text)
    return None if value is None else value & 0xFFFFFFFF


def strtol(text):
    """memcached's ``safe_strtol``: ``strtol`` on a 64-bit long, narrowed to a signed 32-bit int."""
    if text.isdigit() and len(text) < 10:
        return int(text)
    scanned = _scan(text)
    if scanned is None:
        return None
    negative, magnitude, _ = scanned
    value = -magnitude if negative else magnitude
    if not -_I64_MAX - 1 <= value <= _I64_MAX:
        return None  # ERANGE
    value &= 0xFFFFFFFF
    return value - (1 << 32) if value >= 1 << 31 else value
