"""The memcached engine: runs parsed commands against a :class:`Store`, returns reply bytes.

Each handler follows the memcached 1.6 function of the same purpose
(``process_get_command``, ``do_store_item``, ``do_add_delta``,
``process_mget_command``...), in the same order of checks, because the order
decides which error a client sees.
"""

import collections
import os
import time

from lab.protocols.memcached._cnum import strtol, strtoul, strtoull
from lab.protocols.memcached._crawler import LruCrawler
from lab.protocols.memcached._events import Command, DropsUnsent, MetaSet, Rejected, Storage
from lab.protocols.memcached._meta_engine import MetaCommandsMixin
from lab.protocols.memcached._store import Item, Store
from lab.protocols.memcached._stats import PrefixStats, StatsMixin

__all__ = ["Engine", "MEMCACHED_VERSION"]

MEMCACHED_VERSION = "1.6.18"
KEY_MAX_LENGTH = 250
_U64 = 1 << 64
_CHUNKED_OVER = 524288  # memcached stores bigger items in chunks; incr refuses them

ERROR = b"ERROR\r\n"
BAD_FORMAT = b"CLIENT_ERROR bad command line format\r\n"
STORED, NOT_STORED, EXISTS, NOT_FOUND = "STORED", "NOT_STORED", "EXISTS", "NOT_FOUND"
NO_MEMORY = "SERVER_ERROR out of memory storing object"
_REPLIES = {r: r.encode() + b"\r\n" for r in (STORED, NOT_STORED, EXISTS, NOT_FOUND, NO_MEMORY)}


def _keyed(tokens, ntokens):
    """The prelude touch, incr and decr share: ``(key, noreply, None)``, or ``(None, noreply, reply)``.

    The checks run in memcached's order: the token count, then the key length.
    """
    if ntokens not in (4, 5):
        return None, False, ERROR
    noreply = _noreply(tokens)
    key = tokens[1]
    if len(key) > KEY_MAX_LENGTH:
        return None, noreply, _reply(BAD_FORMAT[:-2], noreply)
    return key, noreply, None


def _reply(text, noreply=False):
    return b"" if noreply else text + b"\r\n"


def _noreply(tokens):
    """memcached's ``set_noreply_maybe``: is the last token ``noreply``?"""
    return tokens[-1] == b"noreply"



class Engine(MetaCommandsMixin, StatsMixin):
    """Runs memcached commands on one shared :class:`Store`; one engine serves every connection."""

    def __init__(self, store=None, *, version=MEMCACHED_VERSION, max_connections=1024,
                 clock=time.time, reqs_per_event=20):
        if not isinstance(reqs_per_event, int) or reqs_per_event < 1:
            raise ValueError(f"reqs_per_event must be a positive integer (memcached -R), "
                             f"not {reqs_per_event!r}.")
        self.reqs_per_event = reqs_per_event
        self.store = store if store is not None else Store(clock=clock)
        self.version = version
        self.max_connections = max_connections
        self.verbosity = 0
        self.pid = os.getpid()
        self.connections = {"curr": 0, "total": 0, "rejected": 0}
        self.traffic = {"read": 0, "written": 0}
        self.counters = collections.defaultdict(int)
        self.detail = PrefixStats()
        self.crawler = LruCrawler(self.store)
        self.pipelined = False  # replies are queued, not yet sent, before this command
        self._unlink_on_no_memory = False
        self._handlers = {
            b"get": self._get, b"gets": self._gets, b"gat": self._gat, b"gats": self._gats,
            b"bget": self._get, b"touch": self._touch, b"incr": self._incr,
            b"decr": self._decr, b"delete": self._delete, b"flush_all": self._flush_all,
            b"version": self._version, b"verbosity": self._verbosity,
            b"stats": self.stats_command, b"shutdown": self._shutdown, b"mn": self._mn,
            b"mg": self._mg, b"md": self._md, b"ma": self._ma, b"me": self._me,
            b"cache_memlimit": self._memlimit, b"slabs": self._slabs, b"lru": self._lru,
            b"lru_crawler": self._lru_crawler,
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
            if event.counter is not None:
                self.count(event.counter)
            if event.unlink is not None:
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
        if self.detail.enabled:
            self.detail.record(key, "get", item is not None)
        if item is None:
            counters["get_misses"] += 1
            return b"END\r\n"
        counters["get_hits"] += 1
        self.store.slab_counters[item.cls]["get_hits"] += 1
        return b"VALUE %s %d %d\r\n%s\r\nEND\r\n" % (key, item.flags, len(item.value),
                                                     item.value)

    def retrieve(self, keys, with_cas, touch):
        """get/gets/gat/gats: a VALUE block per hit, then END (or one error for a long key)."""
        get, counters, parts = self.store.get, self.counters, []
        kind = _TOUCH_COUNTERS if touch is not None else _GET_COUNTERS
        for key in keys:
            if len(key) > KEY_MAX_LENGTH:
                return DropsUnsent(BAD_FORMAT)
            item = get(key)
            if self.detail.enabled:
                self.detail.record(key, "get", item is not None)
            counters[kind[0]] += 1
            if item is None:
                counters[kind[1]] += 1
                continue
            counters[kind[2]] += 1
            self.store.slab_counters[item.cls][kind[2]] += 1
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
        if self.detail.enabled:
            self.detail.record(event.key, "set")
        exptime = event.exptime
        item = Item(event.key, event.data, event.flags,
                    self.store.realtime(exptime) if exptime else 0)
        store = self.store
        cls = item.cls = store.slab_class(item.size)
        result, _ = self.store_item(item, event.name, event.cas)
        if result != NO_MEMORY:
            store.slab_counters[cls]["cmd_set"] += 1
        return b"" if event.noreply else _REPLIES[result]

    def store_item(self, item, command, cas_in, cas_stale=False):
        """memcached's ``do_store_item``: ``(result, stored item or None)``."""
        store = self.store
        old = store.get(item.key, update=False)
        if old is None:
            if command in ("add", "set"):
                self._unlink_on_no_memory = command == "set"
                return self._link(item)
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
            return NOT_STORED, None
        if command == "cas":
            if match == "bad" or match == "none":
                self.count("cas_badval")
                store.slab_counters[old.cls]["cas_badval"] += 1
                return EXISTS, None
            self.count("cas_hits")
            store.slab_counters[old.cls]["cas_hits"] += 1
            if match == "stale":
                item.exptime, item.stale, item.token_sent = old.exptime, True, old.token_sent
            self._unlink_on_no_memory = False
            return self._link(item)
        self._unlink_on_no_memory = command == "set"
        if command in ("append", "prepend"):
            if match not in ("none", "match"):
                return EXISTS, None
            value = old.value + item.value if command == "append" else item.value + old.value
            if not store.size_ok(len(old.key), len(value), old.flags):
                return NOT_STORED, None
            stored = store.link(Item(old.key, value, old.flags, old.exptime))
            return (STORED, stored) if stored is not None else (NOT_STORED, None)
        return self._link(item)

    def _link(self, item):
        """Link a new item; out of memory (evictions off, nothing to reclaim) is said."""
        stored = self.store.link(item)
        if stored is None:
            self.count("store_no_memory")
            if item.key in self.store.items and self._unlink_on_no_memory:
                self.store.unlink(item.key)  # memcached drops the old value of a failed set
            return NO_MEMORY, None
        return STORED, stored

    # -- simple commands ----------------------------------------------------

    def _touch(self, tokens, ntokens):
        key, noreply, refusal = _keyed(tokens, ntokens)
        if key is None:
            return refusal
        exptime = strtol(tokens[2])
        if exptime is None:
            return _reply(b"CLIENT_ERROR invalid exptime argument", noreply)
        item = self.store.get(key)
        self.count("cmd_touch")
        if item is None:
            self.count("touch_misses")
            return _reply(b"NOT_FOUND", noreply)
        self.count("touch_hits")
        self.store.slab_counters[item.cls]["touch_hits"] += 1
        item.exptime = self.store.realtime(exptime)
        return _reply(b"TOUCHED", noreply)

    def _incr(self, tokens, ntokens):
        return self._arithmetic(tokens, ntokens, True)

    def _decr(self, tokens, ntokens):
        return self._arithmetic(tokens, ntokens, False)

    def _arithmetic(self, tokens, ntokens, incr):
        key, noreply, refusal = _keyed(tokens, ntokens)
        if key is None:
            return refusal
        delta = strtoull(tokens[2])
        if delta is None:
            return _reply(b"CLIENT_ERROR invalid numeric delta argument", noreply)
        status, value, _ = self.add_delta(key, incr, delta, 0)
        if status == "ok":
            return _reply(value, noreply)
        if status == "non_numeric":
            return _reply(b"CLIENT_ERROR cannot increment or decrement non-numeric value",
                          noreply)
        if status == "no_memory":
            return _reply(b"SERVER_ERROR out of memory", noreply)
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
        store.slab_counters[item.cls]["incr_hits" if incr else "decr_hits"] += 1
        text = b"%d" % value
        if len(text) <= len(item.value):
            item.cas = store.next_cas()
            store.resize(item, text + b" " * (len(item.value) - len(text)))
            store.update(item)
            return "ok", text, item
        fresh = store.link(Item(item.key, text, item.flags, item.exptime))
        if fresh is None:
            return "no_memory", None, item
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
        if self.detail.enabled:
            self.detail.record(key, "delete")
        item = self.store.get(key, update=False)
        if item is None:
            self.count("delete_misses")
            return _reply(b"NOT_FOUND", noreply)
        self.count("delete_hits")
        self.store.slab_counters[item.cls]["delete_hits"] += 1
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

    def _slabs(self, tokens, ntokens):
        """``slabs automove <0|1|2>`` is accepted (and has nothing to move here)."""
        if ntokens == 5 and tokens[1] == b"reassign":
            return b"NOSPARE source class has no spare pages\r\n"
        if ntokens < 4 or tokens[1] != b"automove":
            return ERROR
        noreply = _noreply(tokens)
        level = strtoul(tokens[2])
        if level is None:
            return _reply(BAD_FORMAT[:-2], noreply)
        return _reply(b"OK" if level <= 2 else b"ERROR", noreply)

    def _lru(self, tokens, ntokens):
        """``lru tune ...`` is accepted; ``mode`` and ``temp_ttl`` are refused (no LRU maintainer)."""
        if ntokens < 3:
            return ERROR
        noreply = _noreply(tokens)
        word, ok = tokens[1], False
        if word == b"tune" and ntokens >= 7:
            ok = None not in (strtoul(tokens[2]), strtoul(tokens[3]))
        # mode and temp_ttl need memcached's LRU maintainer, which the lab does not run.
        return _reply(b"OK" if ok else b"ERROR", noreply)

    def _lru_crawler(self, tokens, ntokens):
        """``lru_crawler enable|disable|crawl|metadump|sleep|tocrawl``: see :class:`LruCrawler`."""
        return self.crawler.command(tokens, ntokens, self.pipelined)

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
        self.store.set_memory_limit(megabytes * 1024 * 1024)
        return _reply(b"OK", noreply)


_GET_COUNTERS = ("cmd_get", "get_misses", "get_hits")
_TOUCH_COUNTERS = ("cmd_touch", "touch_misses", "touch_hits")
