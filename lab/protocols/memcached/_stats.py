"""``stats``, ``stats settings``, ``stats items``, ``stats slabs`` and friends.

The names and their order are memcached 1.6.18's, so tools that read them
(and tests that compare the structure) see a familiar server; the values are
the lab's own.  Statistics that have no meaning here (threads, libevent,
extstore, TLS) keep memcached's default values.
"""

import resource

from lab.protocols.memcached._cnum import strtoul

__all__ = ["StatsMixin", "PrefixStats", "GENERAL", "SETTINGS", "murmur3_32"]

_COUNTED = ("cmd_get", "cmd_set", "cmd_flush", "cmd_touch", "cmd_meta", "get_hits",
            "get_misses", "get_expired", "get_flushed", "delete_misses", "delete_hits",
            "incr_misses", "incr_hits", "decr_misses", "decr_hits", "cas_misses", "cas_hits",
            "cas_badval", "touch_hits", "touch_misses", "store_too_large", "store_no_memory")
_ZERO_MIDDLE = ("auth_cmds", "auth_errors")
_TAIL = ("conn_yields", "hash_power_level", "hash_bytes", "hash_is_expanding",
         "slab_reassign_rescues", "slab_reassign_chunk_rescues", "slab_reassign_evictions_nomem",
         "slab_reassign_inline_reclaim", "slab_reassign_busy_items",
         "slab_reassign_busy_deletes", "slab_reassign_running", "slabs_moved",
         "lru_crawler_running", "lru_crawler_starts", "lru_maintainer_juggles", "malloc_fails",
         "log_worker_dropped", "log_worker_written", "log_watcher_skipped", "log_watcher_sent",
         "log_watchers", "unexpected_napi_ids", "round_robin_fallback")
_TAIL_DEFAULTS = {"hash_power_level": 16, "hash_bytes": 524288}
_ITEM_TAIL = ("slab_global_page_pool", "expired_unfetched", "evicted_unfetched",
              "evicted_active", "evictions", "reclaimed", "crawler_reclaimed",
              "crawler_items_checked", "lrutail_reflocked", "moves_to_cold", "moves_to_warm",
              "moves_within_lru", "direct_reclaims", "lru_bumps_dropped")
# Printed only while the LRU crawler runs / with the LRU maintainer (memcached's server_stats).
_CRAWLER_ONLY = frozenset(("lru_crawler_running", "lru_crawler_starts"))
_MAINTAINER_ONLY = frozenset(("lru_maintainer_juggles", "evicted_active", "moves_to_cold",
                              "moves_to_warm", "moves_within_lru", "direct_reclaims",
                              "lru_bumps_dropped"))
GENERAL = ("pid", "uptime", "time", "version", "libevent", "pointer_size", "rusage_user",
           "rusage_system", "max_connections", "curr_connections", "total_connections",
           "rejected_connections", "connection_structures", "response_obj_oom",
           "response_obj_count", "response_obj_bytes", "read_buf_count", "read_buf_bytes",
           "read_buf_bytes_free", "read_buf_oom", "reserved_fds", *_COUNTED, *_ZERO_MIDDLE,
           "bytes_read", "bytes_written", "limit_maxbytes", "accepting_conns",
           "listen_disabled_num", "time_in_listen_disabled_us", "threads", *_TAIL,
           "bytes", "curr_items", "total_items", *_ITEM_TAIL)

# memcached's defaults for the settings the lab does not have.
SETTINGS = (
    ("maxbytes", None), ("maxconns", None), ("tcpport", 0), ("udpport", 0),
    ("inter", "NULL"), ("verbosity", None), ("oldest", None), ("evictions", "on"),
    ("domain_socket", "NULL"), ("umask", 700), ("shutdown_command", "no"),
    ("growth_factor", "1.25"), ("chunk_size", 48), ("num_threads", 1),
    ("num_threads_per_udp", 1), ("stat_key_prefix", ":"), ("detail_enabled", "no"),
    ("reqs_per_event", 20), ("cas_enabled", "yes"), ("tcp_backlog", 1024),
    ("binding_protocol", "ascii"), ("auth_enabled_sasl", "no"), ("auth_enabled_ascii", "no"),
    ("item_size_max", None), ("maxconns_fast", "yes"), ("hashpower_init", 0),
    ("slab_reassign", "no"), ("slab_automove", 0), ("slab_automove_ratio", "0.80"),
    ("slab_automove_window", 30), ("slab_chunk_max", 524288), ("lru_crawler", "no"),
    ("lru_crawler_sleep", 100), ("lru_crawler_tocrawl", 0), ("tail_repair_time", 0),
    ("flush_enabled", "yes"), ("dump_enabled", "yes"), ("hash_algorithm", "murmur3"),
    ("lru_maintainer_thread", "no"), ("lru_segmented", "no"), ("hot_lru_pct", 20),
    ("warm_lru_pct", 40), ("hot_max_factor", "0.20"), ("warm_max_factor", "2.00"),
    ("temp_lru", "no"), ("temporary_ttl", 61), ("idle_timeout", 0),
    ("watcher_logbuf_size", 262144), ("worker_logbuf_size", 65536),
    ("read_buf_mem_limit", 0), ("track_sizes", "no"), ("inline_ascii_response", "no"),
    ("ext_item_size", 512), ("ext_item_age", 4294967295), ("ext_low_ttl", 0),
    ("ext_recache_rate", 2000), ("ext_wbuf_size", 4194304), ("ext_compact_under", 0),
    ("ext_drop_under", 0), ("ext_max_sleep", 1000000), ("ext_max_frag", "0.80"),
    ("slab_automove_freeratio", "0.010"), ("ext_drop_unread", "no"), ("ssl_enabled", "no"),
    ("ssl_chain_cert", "(null)"), ("ssl_key", "(null)"), ("ssl_verify_mode", 0),
    ("ssl_keyformat", 1), ("ssl_ciphers", "NULL"), ("ssl_ca_cert", "NULL"),
    ("ssl_wbuf_size", 16384), ("ssl_session_cache", "no"), ("ssl_kernel_tls", "no"),
    ("ssl_min_version", "tlsv1.2"), ("num_napi_ids", "(null)"), ("memory_file", "(null)"),
)
# ``stats items`` per class without the LRU maintainer (the lab runs none; memcached adds
# number_hot, moves_to_cold and the other segmented-LRU counters when it runs one).
_ITEMS = ("number", "age", "mem_requested", "evicted", "evicted_nonzero", "evicted_time",
          "outofmemory", "tailrepairs", "reclaimed", "expired_unfetched", "evicted_unfetched",
          "crawler_reclaimed", "crawler_items_checked", "lrutail_reflocked")


def murmur3_32(data, seed=0):
    """MurmurHash3 (x86, 32 bits), memcached's default hash: it orders ``stats detail dump``."""
    c1, c2, mask = 0xCC9E2D51, 0x1B873593, 0xFFFFFFFF
    h, n = seed, len(data)
    whole = n - n % 4
    for i in range(0, whole, 4):
        k = int.from_bytes(data[i:i + 4], "little")
        k = (k * c1) & mask
        k = ((k << 15) | (k >> 17)) & mask
        h ^= (k * c2) & mask
        h = ((h << 13) | (h >> 19)) & mask
        h = (h * 5 + 0xE6546B64) & mask
    tail = data[whole:]
    if tail:
        k = int.from_bytes(tail, "little")
        k = (k * c1) & mask
        k = ((k << 15) | (k >> 17)) & mask
        h ^= (k * c2) & mask
    h ^= n
    h ^= h >> 16
    h = (h * 0x85EBCA6B) & mask
    h ^= h >> 13
    h = (h * 0xC2B2AE35) & mask
    return h ^ (h >> 16)


class PrefixStats:
    """``stats detail``: gets, hits, sets and deletes per key prefix (up to the first ``:``).

    Keys without the delimiter are not counted, as in memcached.  The dump
    lists prefixes in memcached's order: by hash bucket, newest first within
    a bucket.
    """

    DELIMITER = b":"
    BUCKETS = 256

    def __init__(self):
        self.enabled = False
        self.prefixes = {}  # prefix -> [gets, hits, sets, deletes, creation number]

    def _find(self, key):
        end = key.find(self.DELIMITER)
        if end < 0:
            return None
        prefix = key[:end]
        found = self.prefixes.get(prefix)
        if found is None:
            found = self.prefixes[prefix] = [0, 0, 0, 0, len(self.prefixes)]
        return found

    def record(self, key, what, hit=False):
        """Count a ``get`` (with ``hit``), ``set`` or ``delete`` of ``key``."""
        found = self._find(key)
        if found is not None:
            index = {"get": 0, "set": 2, "delete": 3}[what]
            found[index] += 1
            if hit:
                found[1] += 1

    def dump(self):
        """The ``PREFIX ... get N hit N set N del N`` lines and END."""
        order = sorted(self.prefixes.items(),
                       key=lambda pair: (murmur3_32(pair[0]) % self.BUCKETS, -pair[1][4]))
        return b"".join(b"PREFIX %s get %d hit %d set %d del %d\r\n" % (prefix, *counts[:4])
                        for prefix, counts in order) + b"END\r\n"

    def clear(self):
        """Forget every prefix (``stats reset``)."""
        self.prefixes.clear()


def _lines(pairs):
    return b"".join(b"STAT %s %s\r\n" % (str(k).encode(), str(v).encode()) for k, v in pairs)


class StatsMixin:
    """The ``stats`` command for :class:`~lab.protocols.memcached._engine.Engine`."""

    def stats_command(self, tokens, ntokens):
        """``stats [group]``: the group's STAT lines and END, or an error like memcached's."""
        if ntokens == 2:
            return _lines(self.general_stats()) + b"END\r\n"
        group = tokens[1]
        if group == b"reset":
            self.counters.clear()
            self.detail.clear()
            return b"RESET\r\n"
        if group == b"detail":
            return self._detail(tokens[2] if ntokens >= 4 else b"")
        if group == b"cachedump":
            return self._cachedump(tokens, ntokens)
        groups = {b"settings": self.settings_stats, b"items": self.items_stats,
                  b"slabs": self.slabs_stats, b"sizes": lambda: [("sizes_status", "disabled")],
                  b"conns": lambda: []}
        if group not in groups:
            return b"ERROR\r\n"
        return _lines(groups[group]()) + b"END\r\n"

    def _cachedump(self, tokens, ntokens):
        """``stats cachedump <class> <limit>``: keys of one slab class, most recent first.

        memcached lists its COLD LRU, which holds every item of a flat LRU.
        """
        if ntokens < 5:
            return b"CLIENT_ERROR bad command line\r\n"
        cls, limit = strtoul(tokens[2]), strtoul(tokens[3])
        if cls is None or limit is None:
            return b"CLIENT_ERROR bad command line format\r\n"
        if cls >= 64:
            return b"CLIENT_ERROR Illegal slab id\r\n"
        store, lines = self.store, []
        lru = store.lrus[cls] if cls < len(store.lrus) else {}
        for item in reversed(lru.values()):
            if limit and len(lines) >= limit:
                break
            if not item.key_binary:
                expires = item.exptime + store.process_started if item.exptime else 0
                lines.append(b"ITEM %s [%d b; %d s]\r\n" % (item.key, len(item.value), expires))
        return b"".join(lines) + b"END\r\n"

    def _detail(self, word):
        if word in (b"on", b"off"):
            self.detail.enabled = word == b"on"
            return b"OK\r\n"
        if word == b"dump":
            return self.detail.dump()
        return b"CLIENT_ERROR usage: stats detail on|off|dump\r\n"

    def general_stats(self):
        """``stats``: ``(name, value)`` pairs in memcached's order."""
        store, usage = self.store, resource.getrusage(resource.RUSAGE_SELF)
        values = {name: 0 for name in GENERAL}
        values.update({name: self.counters.get(name, 0) for name in _COUNTED})
        values.update(_TAIL_DEFAULTS)
        values["conn_yields"] = self.counters.get("conn_yields", 0)
        totals = store.totals()
        values.update(totals, evictions=totals["evicted"],
                      lru_crawler_running=int(self.crawler.running),
                      lru_crawler_starts=self.crawler.starts)
        values.update(
            pid=self.pid, uptime=int(store.clock() - store.started), time=int(store.clock()),
            version=self.version, libevent="none (Twisted)", pointer_size=64,
            rusage_user=f"{usage.ru_utime:.6f}", rusage_system=f"{usage.ru_stime:.6f}",
            max_connections=self.max_connections,
            curr_connections=self.connections["curr"],
            total_connections=self.connections["total"],
            rejected_connections=self.connections["rejected"],
            connection_structures=self.connections["curr"],
            bytes_read=self.traffic["read"], bytes_written=self.traffic["written"],
            limit_maxbytes=store.memory_limit, accepting_conns=1, threads=1,
            bytes=store.bytes, curr_items=len(store), **store.stats)
        shown = [name for name in GENERAL if name not in _MAINTAINER_ONLY]
        if not self.crawler.enabled:
            shown = [name for name in shown if name not in _CRAWLER_ONLY]
        return [(name, values[name]) for name in shown]

    def settings_stats(self):
        """``stats settings``: ``(name, value)`` pairs in memcached's order."""
        store = self.store
        ours = {"maxbytes": store.memory_limit, "maxconns": self.max_connections,
                "verbosity": self.verbosity, "oldest": store.oldest_live,
                "item_size_max": store.item_size_max, "reqs_per_event": self.reqs_per_event,
                "evictions": "on" if store.evictions else "off",
                "detail_enabled": "yes" if self.detail.enabled else "no",
                "lru_crawler": "yes" if self.crawler.enabled else "no",
                "lru_crawler_sleep": self.crawler.sleep, "lru_crawler_tocrawl": self.crawler.tocrawl}
        return [(name, ours.get(name, default)) for name, default in SETTINGS]

    def items_stats(self):
        """``stats items``: per slab class holding items, memcached's item counters."""
        store, now, pairs = self.store, self.store.now(), []
        for cls, lru in enumerate(store.lrus):
            if not lru:
                continue
            oldest = next(iter(lru.values()))
            values = dict(store.class_stats[cls], number=len(lru), age=now - oldest.time,
                          mem_requested=sum(item.size for item in lru.values()))
            pairs += [(f"items:{cls}:{name}", values[name]) for name in _ITEMS]
        return pairs

    def slabs_stats(self):
        """``stats slabs``: per slab class with pages, chunk sizes and usage."""
        store, pairs, active = self.store, [], 0
        for cls, pages in enumerate(store.pages):
            if not pages:
                continue
            active += 1
            per_page, used = store.per_page[cls], store.used_chunks[cls]
            values = {"chunk_size": store.classes[cls - 1], "chunks_per_page": per_page,
                      "total_pages": pages, "total_chunks": pages * per_page,
                      "used_chunks": used, "free_chunks": pages * per_page - used,
                      "free_chunks_end": 0, **store.slab_counters[cls]}
            pairs += [(f"{cls}:{name}", value) for name, value in values.items()]
        return pairs + [("active_slabs", active), ("total_malloced", store.malloced)]
