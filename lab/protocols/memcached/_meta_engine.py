"""The meta commands (mg, ms, md, ma, me, mn) of the memcached engine.

Each follows memcached 1.6's ``process_m*_command``: flags are checked by
``preparse`` first, then applied in the order they were sent (the order
decides, for example, whether ``t`` reports the TTL before or after ``T``
changes it), and O/k flags are copied back.
"""

import binascii

from lab.protocols.memcached._meta import MAX_META_TOKENS, MAX_OPAQUE_LENGTH, preparse
from lab.protocols.memcached._store import Item

__all__ = ["MetaCommandsMixin"]

KEY_MAX_LENGTH = 250
ERROR = b"ERROR\r\n"
BAD_FORMAT = b"CLIENT_ERROR bad command line format\r\n"
_META_CODES = {"STORED": b"HD", "NOT_STORED": b"NS", "EXISTS": b"EX", "NOT_FOUND": b"NF"}
_NO_MEMORY = "SERVER_ERROR out of memory storing object"


def _u32(value):
    return value & 0xFFFFFFFF


def _b64(key):
    return binascii.b2a_base64(key, newline=False)


class MetaCommandsMixin:
    """mg, ms, md, ma, me and mn for :class:`~lab.protocols.memcached._engine.Engine`."""

    # -- meta commands ------------------------------------------------------

    def _mn(self, tokens, ntokens):
        return b"MN\r\n"

    def _meta_start(self, tokens, ntokens, too_long, flag_error=None):
        """Checks shared by mg, md and ma: ``(MetaFlags, None)`` or ``(None, reply)``."""
        if ntokens < 3:
            return None, ERROR
        if len(tokens[1]) > KEY_MAX_LENGTH:
            return None, BAD_FORMAT
        if ntokens > MAX_META_TOKENS:
            return None, too_long
        meta, error = preparse(tokens, 2, tokens[1])
        if error is not None:
            return None, (flag_error or error.encode() + b"\r\n")
        return meta, None

    def _mg(self, tokens, ntokens):
        meta, reply = self._meta_start(tokens, ntokens,
                                       b"CLIENT_ERROR options flags are too long\r\n")
        if meta is None:
            return reply
        store = self.store
        item = store.get(meta.key, update=not meta.locked and not meta.no_update)
        created = False
        if item is None and meta.vivify:
            item = store.link(Item(meta.key, b"", 0, 0))
            created = item is not None
        if item is None:
            self.count("get_misses")
            self.count("cmd_get")
            try:
                line = b"EN" + self._echo(tokens, meta, meta.key)
            except _OpaqueTooLong:
                return b"CLIENT_ERROR opaque token too long\r\n"
            return b"" if meta.no_reply else line + b"\r\n"
        return self._mg_hit(tokens, meta, item, created)

    def _echo(self, tokens, meta, key, binary=None):
        """The O and k flags memcached copies back, in request order."""
        binary = meta.key_binary if binary is None else binary
        out = []
        for token in tokens[2:]:
            if token[0] == 79:  # O
                if len(token) > MAX_OPAQUE_LENGTH:
                    raise _OpaqueTooLong
                out.append(b" " + token)
            elif token[0] == 107:  # k
                out.append(b" k" + _b64(key) + b" b" if binary else b" k" + key)
        return b"".join(out)

    def _mg_hit(self, tokens, meta, item, created):
        flags = [b"VA %d" % len(item.value) if meta.value else b"HD"]
        try:
            won = self._mg_flags(tokens, meta, item, created, flags)
        except _OpaqueTooLong:
            return b"CLIENT_ERROR opaque token too long\r\n"
        self._mg_tokens(item, flags, won)
        if meta.locked and not meta.no_update:
            self.store.bump(item)
        self.count("get_hits")
        self.store.slab_counters[item.cls]["get_hits"] += 1
        self.count("cmd_get")
        head = b"".join(flags) + b"\r\n"
        return head + item.value + b"\r\n" if meta.value else head

    def _mg_flags(self, tokens, meta, item, created, flags):
        """Apply mg's flags in request order, adding return flags; True if the client won."""
        store, now, won = self.store, self.store.now(), False
        fetched, last_access = item.fetched, item.time  # as they were before this fetch
        for token in tokens[2:]:
            code = token[0]
            if code == 84:  # T
                item.exptime = store.realtime(meta.exptime)
                self.count("touch_hits")
                store.slab_counters[item.cls]["touch_hits"] += 1
            elif code == 78 and created:  # N
                item.exptime = store.realtime(meta.autoviv_exptime)
                won = True
            elif code == 82:  # R
                recache = store.realtime(meta.recache_time)
                won = won or bool(not item.token_sent and not created and item.exptime
                                  and item.exptime < recache)
            elif code in _MG_FLAG_OUTPUT:
                flags.append(_MG_FLAG_OUTPUT[code](item, now, fetched, last_access))
            elif code == 79 or code == 107:  # O, k
                flags.append(self._echo([b"", b"", token], meta, item.key, item.key_binary))
        return won

    @staticmethod
    def _mg_tokens(item, flags, won):
        if item.token_sent:
            flags.append(b" Z")
        if item.stale:
            flags.append(b" X")
            if not item.token_sent:
                won = True
        if won:
            flags.append(b" W")
            item.token_sent = True
        return won

    def meta_set(self, event):
        """``ms`` with its data block: HD, NS, EX or NF plus the O, k and c flags asked for."""
        meta, store = event.meta, self.store
        self.count("cmd_set")
        command = event.mode
        if meta.has_cas and command in ("set", "replace"):
            command = "cas"
        item = Item(event.key, event.data, meta.client_flags, store.realtime(meta.exptime))
        item.key_binary = meta.key_binary
        stale = meta.set_stale and command == "cas"
        result, stored = self.store_item(item, command, meta.req_cas, stale)
        if result == _NO_MEMORY:
            return b"SERVER_ERROR out of memory storing object\r\n"
        store.slab_counters[item.cls or store.slab_class(item.size)]["cmd_set"] += 1
        if result == "STORED" and meta.no_reply:
            return b""
        out = [_META_CODES[result]]
        for token in event.tokens[3:]:
            code = token[0]
            if code == 79:
                out.append(b" " + token)
            elif code == 107:
                out.append(b" k" + _b64(item.key) + b" b" if meta.key_binary
                           else b" k" + item.key)
            elif code == 99:
                out.append(b" c%d" % (stored.cas if stored is not None else 0))
        out.append(b"\r\n")
        return b"".join(out)

    def _md(self, tokens, ntokens):
        meta, reply = self._meta_start(tokens, ntokens, b"CLIENT_ERROR options flags too long\r\n",
                                       b"CLIENT_ERROR invalid or duplicate flag\r\n")
        if meta is None:
            return reply
        try:
            echo = self._echo(tokens, meta, meta.key)
        except _OpaqueTooLong:
            return b"CLIENT_ERROR opaque token too long\r\n"
        store = self.store
        item = store.get(meta.key, update=False)
        if item is None:
            self.count("delete_misses")
            return b"NF" + echo + b"\r\n"
        if meta.has_cas and item.cas != meta.req_cas:
            self.count("delete_misses")
            return b"EX" + echo + b"\r\n"
        if meta.set_stale:
            if meta.new_ttl:
                item.exptime = store.realtime(meta.exptime)
            item.stale, item.token_sent = True, False
            item.cas = store.next_cas()
        else:
            self.count("delete_hits")
            store.slab_counters[item.cls]["delete_hits"] += 1
            store.unlink(meta.key)
        return b"" if meta.no_reply else b"HD" + echo + b"\r\n"

    def _ma(self, tokens, ntokens):
        meta, reply = self._meta_start(tokens, ntokens, b"CLIENT_ERROR options flags too long\r\n",
                                       b"CLIENT_ERROR invalid or duplicate flag\r\n")
        if meta is None:
            return reply
        incr = _MA_MODES.get(meta.mode, "bad")
        if incr == "bad":
            return b"CLIENT_ERROR invalid mode for ma M token\r\n"
        status, value, item = self.add_delta(meta.key, incr, meta.delta, meta.req_cas)
        created, head = False, None
        if status == "non_numeric":
            return b"CLIENT_ERROR cannot increment or decrement non-numeric value\r\n"
        if status == "no_memory":
            return b"SERVER_ERROR out of memory\r\n"
        if status == "not_found" and meta.vivify:
            value = b"%d" % meta.initial
            item = self.store.link(Item(meta.key, value, 0, 0))
            if item is None:
                return b"SERVER_ERROR out of memory\r\n"
            created = True
        elif status == "not_found":
            self.count("incr_misses" if incr else "decr_misses")
            head = b"NF"
        elif status == "cas_mismatch":
            head = b"EX"
        try:
            if head is not None:
                return head + self._echo(tokens, meta, meta.key) + b"\r\n"
            line = self._ma_line(tokens, meta, item, value, created)
        except _OpaqueTooLong:
            return b"CLIENT_ERROR opaque token too long\r\n"
        return b"" if status == "ok" and meta.no_reply else line

    def _ma_line(self, tokens, meta, item, value, created):
        store, now = self.store, self.store.now()
        out = [b"VA %d" % len(value) if meta.value else b"HD"]
        for token in tokens[2:]:
            code = token[0]
            if code == 99:  # c
                out.append(b" c%d" % item.cas)
            elif code == 116:  # t
                out.append(b" t-1" if item.exptime == 0 else b" t%d" % _u32(item.exptime - now))
            elif code == 84:  # T
                item.exptime = store.realtime(meta.exptime)
            elif code == 78:  # N
                if created:
                    item.exptime = store.realtime(meta.autoviv_exptime)
            elif code == 79:
                if len(token) > MAX_OPAQUE_LENGTH:
                    raise _OpaqueTooLong
                out.append(b" " + token)
            elif code == 107:
                out.append(b" k" + _b64(meta.key) + b" b" if meta.key_binary
                           else b" k" + meta.key)
        out.append(b"\r\n")
        if meta.value:
            out.append(value + b"\r\n")
        return b"".join(out)

    def _me(self, tokens, ntokens):
        if ntokens < 3 or len(tokens[1]) > KEY_MAX_LENGTH:
            return BAD_FORMAT
        key = tokens[1]
        if ntokens >= 4 and tokens[2] == b"b":
            try:
                key = binascii.a2b_base64(key, strict_mode=True)
            except (binascii.Error, ValueError):
                key = b""
            if not key:
                return BAD_FORMAT
        item = self.store.get(key, update=False)
        if item is None:
            return b"EN\r\n"
        now = self.store.now()
        exp = -1 if item.exptime == 0 else _signed32(now - item.exptime)
        shown = _b64(item.key) if item.key_binary else item.key
        return b"ME %s exp=%d la=%d cas=%d fetch=%s cls=%d size=%d\r\n" % (
            shown, exp, _u32(now - item.time), item.cas,
            b"yes" if item.fetched else b"no", self.store.slab_class(item.size), item.size)



class _OpaqueTooLong(Exception):
    """An O flag's token is longer than memcached's 32 bytes."""


def _signed32(value):
    value &= 0xFFFFFFFF
    return value - (1 << 32) if value >= 1 << 31 else value


def _ttl_flag(item, now, fetched, last_access):
    return b" t-1" if item.exptime == 0 else b" t%d" % _u32(item.exptime - now)


_MG_FLAG_OUTPUT = {
    ord("s"): lambda item, now, f, la: b" s%d" % len(item.value),
    ord("t"): _ttl_flag,
    ord("c"): lambda item, now, f, la: b" c%d" % item.cas,
    ord("f"): lambda item, now, f, la: b" f%d" % item.flags,
    ord("l"): lambda item, now, f, la: b" l%d" % _u32(now - la),
    ord("h"): lambda item, now, f, la: b" h1" if f else b" h0",
}
_MA_MODES = {None: True, "I": True, "+": True, "D": False, "-": False}
