"""Meta command flags (mg, ms, md, ma): memcached's ``_meta_flag_preparse``.

Flags are single characters, some followed by a token (``T30``, ``Oabc``).
The preparse validates them all up front, the way memcached does, so the
same input gives the same error string.
"""

import binascii

from lab.protocols.memcached._cnum import strtol, strtoul, strtoull

__all__ = ["MetaFlags", "preparse", "MAX_OPAQUE_LENGTH", "MAX_META_TOKENS"]

MAX_OPAQUE_LENGTH = 32
MAX_META_TOKENS = 20  # memcached's MFLAG_MAX_OPT_LENGTH, counted with its end token
_BAD_TOKEN = "CLIENT_ERROR bad token in command line format"


class MetaFlags:
    """The flags of one meta command, parsed."""

    __slots__ = ("key", "key_binary", "no_update", "locked", "vivify", "value",
                 "set_stale", "no_reply", "has_cas", "new_ttl", "mode", "exptime",
                 "autoviv_exptime", "recache_time", "client_flags", "req_cas",
                 "delta", "initial")

    def __init__(self, key):
        self.key = key
        self.key_binary = self.no_update = self.locked = self.vivify = self.value = False
        self.set_stale = self.no_reply = self.has_cas = self.new_ttl = False
        self.mode = None
        self.exptime = self.autoviv_exptime = self.recache_time = 0
        self.client_flags = self.req_cas = self.initial = 0
        self.delta = 1

    def __repr__(self):
        fields = (f"{n}={getattr(self, n)!r}" for n in self.__slots__)
        return f"MetaFlags({', '.join(fields)})"


def _decode_key(key):
    """memcached's base64 key decoding: the bytes, or b'' when it fails."""
    try:
        return binascii.a2b_base64(key, strict_mode=True)
    except (binascii.Error, ValueError):
        return b""


def _number(flags, token, parse, field, error):
    value = parse(token[1:])
    if value is None:
        return error
    setattr(flags, field, value)
    return None


def _flag(flags, token):
    """Apply one flag token; return an error string, None, or False for a fatal error."""
    code = token[0]
    if code == 98:  # b
        flags.key = _decode_key(flags.key)
        flags.key_binary = True
        return None if flags.key else "CLIENT_ERROR error decoding key"
    if code in _NUMERIC:
        return _NUMERIC[code](flags, token)
    if code == 77:  # M
        if len(token) != 2:
            return "CLIENT_ERROR incorrect length for M token"
        flags.mode = chr(token[1])
        return None
    if code in _SWITCHES:
        for name in _SWITCHES[code]:
            setattr(flags, name, True)
        return None
    return None if code in _PLAIN else False


def _ttl(field, extra=()):
    def parse(flags, token):
        for name in extra:
            setattr(flags, name, True)
        return _number(flags, token, strtol, field, _BAD_TOKEN)
    return parse


def _cas(flags, token):
    error = _number(flags, token, strtoull, "req_cas", _BAD_TOKEN)
    flags.has_cas = error is None
    return error


def _ttl_new(flags, token):
    error = _ttl("exptime", ("locked",))(flags, token)
    flags.new_ttl = error is None
    return error


_NUMERIC = {
    ord("N"): _ttl("autoviv_exptime", ("locked", "vivify")),
    ord("T"): _ttl_new,
    ord("R"): _ttl("recache_time", ("locked",)),
    # memcached leaves the error string alone for a bad F token.
    ord("F"): lambda f, t: _number(f, t, strtoul, "client_flags", True),
    ord("C"): _cas,
    ord("J"): lambda f, t: _number(f, t, strtoull, "initial",
                                   "CLIENT_ERROR invalid numeric initial value"),
    ord("D"): lambda f, t: _number(f, t, strtoull, "delta",
                                   "CLIENT_ERROR invalid numeric delta value"),
}
_SWITCHES = {
    ord("l"): ("locked",), ord("h"): ("locked",), ord("v"): ("value",),
    ord("u"): ("no_update",), ord("q"): ("no_reply",), ord("I"): ("set_stale",),
}
_PLAIN = frozenset(b"OPLkstcf")


def preparse(tokens, start, key):
    """Parse ``tokens[start:]`` as meta flags for ``key``: ``(MetaFlags, error or None)``.

    Like memcached, a repeated or unknown flag stops at once; other errors
    are noted and parsing goes on, the last error string winning.
    """
    flags = MetaFlags(key)
    seen = set()
    error, failed = "CLIENT_ERROR bad command line format", False
    for token in tokens[start:]:
        code = token[0]
        if code >= 127 or code in seen:
            return flags, "CLIENT_ERROR duplicate flag"
        seen.add(code)
        outcome = _flag(flags, token)
        if outcome is False:
            return flags, "CLIENT_ERROR invalid flag"
        if outcome is not None:
            failed = True
            if outcome is not True:
                error = outcome
    return flags, (error if failed else None)
