"""The memcached engine: runs parsed commands against a :class:`Store`, returns reply bytes.

Each handler follows the memcached 1.6 function of the same purpose
(``process_get_command``, ``do_store_item``, ``do_add_delta``,
``process_mget_command``...), in the same order of checks, because the order
decides which error a client sees.
"""

import binascii
import collections
import os
import time

from lab.protocols.memcached._cnum import strtol, strtoul, strtoull
from lab.protocols.memcached._events import Command, MetaSet, Rejected, Storage
from lab.protocols.memcached._meta import MAX_META_TOKENS, MAX_OPAQUE_LENGTH, preparse
from lab.protocols.memcached._store import Item, Store
from lab.protocols.memcached._stats import StatsMixin

__all__ = ["Engine", "MEMCACHED_VERSION"]

MEMCACHED_VERSION = "1.6.18"
KEY_MAX_LENGTH = 250
_U64 = 1 << 64
_CHUNKED_OVER = 524288  # memcached stores bigger items in chunks; incr refuses them

ERROR = b"ERROR\r\n"
BAD_FORMAT = b"CLIENT_ERROR bad command line format\r\n"
STORED, NOT_STORED, EXISTS, NOT_FOUND = "STORED", "NOT_STORED", "EXISTS", "NOT_FOUND"
_REPLIES = {r: r.encode() + b"\r\n" for r in (STORED, NOT_STORED, EXISTS, NOT_FOUND)}
_META_CODES = {STORED: b"HD", NOT_STORED: b"NS", EXISTS: b"EX", NOT_FOUND: b"NF"}


def _reply(text, noreply=False):
    return b"" if noreply else text + b"\r\n"


def _noreply(tokens):
    """memcached's ``set_noreply_maybe``: is the last token ``noreply``?"""
    return tokens[-1] == b"noreply"


def _u32(value):
    return value & 0xFFFFFFFF


def _b64(key):
    return binascii.b2a_base64(key, newline=False)


class Engine(StatsMixin):
    """Runs memcached commands on one shared :class:`Store`; one engine serves every connection."""

    def __init__(self, store=None, *, version=MEMCACHED_VERSION, max_connections=1024,
                 clock=time.time):
        self.store = store if store is not None else Store(clock=clock)
        self.version = version
        self.max_connections = max_connections
        self.verbosity = 0
        self.pid = os.getpid()
        self.connections = {"curr": 0, "total": 0, "rejected": 0}
        self.traffic = {"read": 0, "written": 0}
        self.counters = collections.defaultdict(int)
        self._handlers = {
            b"get": self._get, b"gets": self._gets, b"gat": self._gat, b"gats": self._gats,
            b"bget": self._get, b"touch": self._touch, b"incr": self._incr,
            b"decr": self._decr, b"delete": self._delete, b"flush_all": self._flush_all,
            b"version": self._version, b"verbosity": self._verbosity,
            b"stats": self.stats_command, b"shutdown": self._shutdown, b"mn": self._mn,
            b"mg": self._mg, b"md": self._md, b"ma": self._ma, b"me": self._me,
            b"cache_memlimit": self._memlimit,
        }

    def count(self, name, n=1):
        """Add ``n`` to the statistics counter ``name``."""
        self.counters[name] += n

    # -- dispatch -----------------------------------------------------------

    def execute(self, event):
        """The reply bytes for one parser event (``b''`` when none is sent)."""
        kind = type(event)
        if kind is Command:
            handler = self._handlers.get(event.tokens[0])
            if handler is None:
                return ERROR
            return handler(event.tokens, len(event.tokens) + 1)
        if kind is Storage:
            return self.store_text(event)
        if kind is MetaSet:
            return self.meta_set(event)
        if kind is Rejected:
            if event.unlink is not None:
                self.count("store_too_large")
                self.store.unlink(event.unlink)
            return event.reply
        return b""

    # -- retrieval ----------------------------------------------------------

    def _get(self, tokens, ntokens):
        return self.retrieve(tokens[1:], False, None) if len(tokens) > 1 else ERROR

    def _gets(self, tokens, ntokens):
        return self.retrieve(tokens[1:], True, None) if len(tokens) > 1 else ERROR

    def _gat(self, tokens, ntokens):
        return self._touching(tokens, False)

    def _gats(self, tokens, ntokens):
        return self._touching(tokens, True)

    def _touching(self, tokens, with_cas):
        if len(tokens) < 2:
            return ERROR
        exptime = strtol(tokens[1])
        if exptime is None:
            return b"CLIENT_ERROR invalid exptime argument\r\n"
        return self.retrieve(tokens[2:], with_cas, self.store.realtime(exptime))

    def get_one(self, key):
        """``get <key>`` for one valid key: the fast path of :meth:`retrieve`."""
        counters = self.counters
        counters["cmd_get"] += 1
        item = self.store.get(key)
        if item is None:
            counters["get_misses"] += 1
            return b"END\r\n"
        counters["get_hits"] += 1
        return b"VALUE %s %d %d\r\n%s\r\nEND\r\n" % (key, item.flags, len(item.value),
                                                     item.value)

    def retrieve(self, keys, with_cas, touch):
        """get/gets/gat/gats: a VALUE block per hit, then END (or one error for a long key)."""
        get, counters, parts = self.store.get, self.counters, []
        kind = _TOUCH_COUNTERS if touch is not None else _GET_COUNTERS
        for key in keys:
            if len(key) > KEY_MAX_LENGTH:
                return BAD_FORMAT
            item = get(key)
            counters[kind[0]] += 1
            if item is None:
                counters[kind[1]] += 1
                continue
            counters[kind[2]] += 1
            if touch is not None:
                item.exptime = touch
            cas = b" %d" % item.cas if with_cas else b""
            parts.append(b"VALUE %s %d %d%s\r\n%s\r\n" % (
                key, item.flags, len(item.value), cas, item.value))
        parts.append(b"END\r\n")
        return b"".join(parts)

    # -- storage ------------------------------------------------------------

    def store_text(self, event):
        """A text storage command with its data: STORED, NOT_STORED, EXISTS or NOT_FOUND."""
        self.counters["cmd_set"] += 1
        exptime = event.exptime
        item = Item(event.key, event.data, event.flags,
                    self.store.realtime(exptime) if exptime else 0)
        result, _ = self.store_item(item, event.name, event.cas)
        return b"" if event.noreply else _REPLIES[result]

    def store_item(self, item, command, cas_in, cas_stale=False):
        """memcached's ``do_store_item``: ``(result, stored item or None)``."""
        store = self.store
        old = store.get(item.key, update=False)
        if old is None:
            if command in ("add", "set"):
                return STORED, store.link(item)
            if command == "cas":
                self.count("cas_misses")
                return NOT_FOUND, None
            return NOT_STORED, None
        if cas_in == 0:
            match = "none"
        elif cas_in == old.cas:
            match = "match"
        elif cas_stale and cas_in < old.cas:
            match = "stale"
        else:
            match = "bad"
        return self._store_over(old, item, command, match)

    def _store_over(self, old, item, command, match):
        store = self.store
        if command == "add":
            store.update(old)
            store.items.move_to_end(old.key)
            return NOT_STORED, None
        if command == "cas":
            if match == "bad" or match == "none":
                self.count("cas_badval")
                return EXISTS, None
            self.count("cas_hits")
            if match == "stale":
                item.exptime, item.stale, item.token_sent = old.exptime, True, old.token_sent
            return STORED, store.link(item)
        if command in ("append", "prepend"):
            if match not in ("none", "match"):
                return EXISTS, None
            value = old.value + item.value if command == "append" else item.value + old.value
            if not store.size_ok(len(old.key), len(value), old.flags):
                return NOT_STORED, None
            item = Item(old.key, value, old.flags, old.exptime)
        return STORED, store.link(item)

    # -- simple commands ----------------------------------------------------

    def _touch(self, tokens, ntokens):
        if ntokens not in (4, 5):
            return ERROR
        noreply = _noreply(tokens)
        key = tokens[1]
        if len(key) > KEY_MAX_LENGTH:
            return _reply(BAD_FORMAT[:-2], noreply)
        exptime = strtol(tokens[2])
        if exptime is None:
            return _reply(b"CLIENT_ERROR invalid exptime argument", noreply)
        item = self.store.get(key)
        self.count("cmd_touch")
        if item is None:
            self.count("touch_misses")
            return _reply(b"NOT_FOUND", noreply)
        self.count("touch_hits")
        item.exptime = self.store.realtime(exptime)
        return _reply(b"TOUCHED", noreply)

    def _incr(self, tokens, ntokens):
        return self._arithmetic(tokens, ntokens, True)

    def _decr(self, tokens, ntokens):
        return self._arithmetic(tokens, ntokens, False)

    def _arithmetic(self, tokens, ntokens, incr):
        if ntokens not in (4, 5):
            return ERROR
        noreply = _noreply(tokens)
        key = tokens[1]
        if len(key) > KEY_MAX_LENGTH:
            return _reply(BAD_FORMAT[:-2], noreply)
        delta = strtoull(tokens[2])
        if delta is None:
            return _reply(b"CLIENT_ERROR invalid numeric delta argument", noreply)
        status, value, _ = self.add_delta(key, incr, delta, 0)
        if status == "ok":
            return _reply(value, noreply)
        if status == "non_numeric":
            return _reply(b"CLIENT_ERROR cannot increment or decrement non-numeric value",
                          noreply)
        self.count("incr_misses" if incr else "decr_misses")
        return _reply(b"NOT_FOUND", noreply)

    def add_delta(self, key, incr, delta, cas_in):
        """memcached's ``do_add_delta``: ``(status, new value bytes, item)``.

        A result no longer than the old value is written in place, padded
        with spaces (so ``decr`` of ``10`` leaves ``"9 "``); a longer one
        becomes a new item.
        """
        store = self.store
        item = store.get(key, update=False)
        if item is None:
            return "not_found", None, None
        if not item.value or item.size > _CHUNKED_OVER:
            return "non_numeric", None, item
        if cas_in and item.cas != cas_in:
            return "cas_mismatch", None, item
        value = strtoull(item.value + b"\r\n")
        if value is None:
            return "non_numeric", None, item
        value = (value + delta) % _U64 if incr else max(value - delta, 0)
        self.count("incr_hits" if incr else "decr_hits")
        text = b"%d" % value
        if len(text) <= len(item.value):
            item.cas = store.next_cas()
            store.resize(item, text + b" " * (len(item.value) - len(text)))
            store.update(item)
            return "ok", text, item
        fresh = store.link(Item(item.key, text, item.flags, item.exptime))
        item.cas = fresh.cas  # memcached answers with the old item, its cas overwritten
        return "ok", text, item

    def _delete(self, tokens, ntokens):
        if not 3 <= ntokens <= 5:
            return ERROR
        noreply = False
        if ntokens > 3:
            zero = tokens[2] == b"0"
            noreply = _noreply(tokens)
            if not ((ntokens == 4 and (zero or noreply)) or (ntokens == 5 and zero and noreply)):
                return _reply(b"CLIENT_ERROR bad command line format.  "
                              b"Usage: delete <key> [noreply]", noreply)
        key = tokens[1]
        if len(key) > KEY_MAX_LENGTH:
            return _reply(BAD_FORMAT[:-2], noreply)
        if self.store.get(key, update=False) is None:
            self.count("delete_misses")
            return _reply(b"NOT_FOUND", noreply)
        self.count("delete_hits")
        self.store.unlink(key)
        return _reply(b"DELETED", noreply)

    def _flush_all(self, tokens, ntokens):
        if not 2 <= ntokens <= 4:
            return ERROR
        noreply = _noreply(tokens)
        self.count("cmd_flush")
        delay = 0
        if ntokens != (3 if noreply else 2):
            delay = strtol(tokens[1])
            if delay is None:
                return _reply(b"CLIENT_ERROR invalid exptime argument", noreply)
        self.store.flush(delay)
        return _reply(b"OK", noreply)

    def _version(self, tokens, ntokens):
        return b"VERSION %s\r\n" % self.version.encode()

    def _verbosity(self, tokens, ntokens):
        if ntokens not in (3, 4):
            return ERROR
        noreply = _noreply(tokens)
        level = strtoul(tokens[1])
        if level is None:
            return _reply(BAD_FORMAT[:-2], noreply)
        self.verbosity = min(level, 2)
        return _reply(b"OK", noreply)

    def _shutdown(self, tokens, ntokens):
        return b"ERROR: shutdown not enabled\r\n"

    def _memlimit(self, tokens, ntokens):
        if ntokens not in (3, 4):
            return ERROR
        noreply = _noreply(tokens)
        megabytes = strtoul(tokens[1])
        if megabytes is None:
            return _reply(b"ERROR", noreply)
        if megabytes < 8:
            return _reply(b"MEMLIMIT_TOO_SMALL cannot set maxbytes to less than 8m", noreply)
        if megabytes > 1000000000:
            return _reply(b"MEMLIMIT_ADJUST_FAILED input value is megabytes not bytes", noreply)
        self.store.memory_limit = megabytes * 1024 * 1024
        return _reply(b"OK", noreply)

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
            created = True
        if item is None:
            self.count("get_misses")
            self.count("cmd_get")
            try:
                line = b"EN" + self._echo(tokens, meta, meta.key)
            except _OpaqueTooLong:
                return b"CLIENT_ERROR opaque token too long\r\n"
            return b"" if meta.no_reply else line + b"\r\n"
        return self._mg_hit(tokens, meta, item, created)

    def _echo(self, tokens, meta, key):
        """The O and k flags memcached copies back, in request order."""
        out = []
        for token in tokens[2:]:
            if token[0] == 79:  # O
                if len(token) > MAX_OPAQUE_LENGTH:
                    raise _OpaqueTooLong
                out.append(b" " + token)
            elif token[0] == 107:  # k
                out.append(b" k" + _b64(key) + b" b" if meta.key_binary else b" k" + key)
        return b"".join(out)

    def _mg_hit(self, tokens, meta, item, created):
        store, now = self.store, self.store.now()
        flags = [b"VA %d" % len(item.value) if meta.value else b"HD"]
        won = False
        fetched, last_access = item.fetched, item.time
        for token in tokens[2:]:
            code = token[0]
            if code == 84:  # T
                item.exptime = store.realtime(meta.exptime)
                self.count("touch_hits")
            elif code == 78:  # N
                if created:
                    item.exptime = store.realtime(meta.autoviv_exptime)
                    won = True
            elif code == 82:  # R
                recache = store.realtime(meta.recache_time)
                if not item.token_sent and not created and item.exptime and \
                        item.exptime < recache:
                    won = True
            elif code in _MG_FLAG_OUTPUT:
                flags.append(_MG_FLAG_OUTPUT[code](item, now, fetched, last_access))
            elif code == 79:  # O
                if len(token) > MAX_OPAQUE_LENGTH:
                    return b"CLIENT_ERROR opaque token too long\r\n"
                flags.append(b" " + token)
            elif code == 107:  # k
                flags.append(b" k" + _b64(item.key) + b" b" if item.key_binary
                             else b" k" + item.key)
        won = self._mg_tokens(item, flags, won)
        if meta.locked and not meta.no_update:
            store.bump(item)
        self.count("get_hits")
        self.count("cmd_get")
        head = b"".join(flags) + b"\r\n"
        return head + item.value + b"\r\n" if meta.value else head

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
        if result == STORED and meta.no_reply:
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
        if status == "not_found" and meta.vivify:
            value = b"%d" % meta.initial
            item = self.store.link(Item(meta.key, value, 0, 0))
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
_GET_COUNTERS = ("cmd_get", "get_misses", "get_hits")
_TOUCH_COUNTERS = ("cmd_touch", "touch_misses", "touch_hits")
_MA_MODES = {None: True, "I": True, "+": True, "D": False, "-": False}
