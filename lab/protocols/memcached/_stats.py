"""``stats``, ``stats settings``, ``stats items``, ``stats slabs`` and friends.

The names and their order are memcached 1.6.18's, so tools that read them
(and tests that compare the structure) see a familiar server; the values are
the lab's own.  Statistics that have no meaning here (threads, libevent,
extstore, TLS) keep memcached's default values.
"""

import resource

from lab.protocols.memcached._cnum import strtoul

__all__ = ["StatsMixin", "GENERAL", "SETTINGS"]

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
    ("flush_enabled", "yes"), ("dump_enabled", "no"), ("hash_algorithm", "python-dict"),
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
_ITEMS = ("number", "number_hot", "number_warm", "number_cold", "age_hot", "age_warm", "age",
          "mem_requested", "evicted", "evicted_nonzero", "evicted_time", "outofmemory",
          "tailrepairs", "reclaimed", "expired_unfetched", "evicted_unfetched",
          "evicted_active", "crawler_reclaimed", "crawler_items_checked", "lrutail_reflocked",
          "moves_to_cold", "moves_to_warm", "moves_within_lru", "direct_reclaims",
          "hits_to_hot", "hits_to_warm", "hits_to_cold", "hits_to_temp")
_SLAB_COUNTERS = ("get_hits", "cmd_set", "delete_hits", "incr_hits", "decr_hits", "cas_hits",
                  "cas_badval", "touch_hits")


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

        memcached lists only its COLD LRU (empty until its maintainer thread
        moves items there); the lab has one LRU and lists all of the class.
        """
        if ntokens < 5:
            return b"CLIENT_ERROR bad command line\r\n"
        cls, limit = strtoul(tokens[2]), strtoul(tokens[3])
        if cls is None or limit is None:
            return b"CLIENT_ERROR bad command line format\r\n"
        if cls >= 64:
            return b"CLIENT_ERROR Illegal slab id\r\n"
        store, lines = self.store, []
        for item in reversed(store.items.values()):
            if limit and len(lines) >= limit:
                break
            if store.slab_class(item.size) == cls and not item.key_binary:
                expires = item.exptime + store.process_started if item.exptime else 0
                lines.append(b"ITEM %s [%d b; %d s]\r\n" % (item.key, len(item.value), expires))
        return b"".join(lines) + b"END\r\n"

    def _detail(self, word):
        if word in (b"on", b"off"):
            return b"OK\r\n"
        if word == b"dump":
            return b"END\r\n"
        return b"CLIENT_ERROR usage: stats detail on|off|dump\r\n"

    def general_stats(self):
        """``stats``: ``(name, value)`` pairs in memcached's order."""
        store, usage = self.store, resource.getrusage(resource.RUSAGE_SELF)
        values = {name: 0 for name in GENERAL}
        values.update({name: self.counters.get(name, 0) for name in _COUNTED})
        values.update(_TAIL_DEFAULTS)
        values["conn_yields"] = self.counters.get("conn_yields", 0)
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
        return [(name, values[name]) for name in GENERAL]

    def settings_stats(self):
        """``stats settings``: ``(name, value)`` pairs in memcached's order."""
        store = self.store
        ours = {"maxbytes": store.memory_limit, "maxconns": self.max_connections,
                "verbosity": self.verbosity, "oldest": store.oldest_live,
                "item_size_max": store.item_size_max, "reqs_per_event": self.reqs_per_event,
                "evictions": "on" if store.evictions else "off"}
        return [(name, ours.get(name, default)) for name, default in SETTINGS]

    def _by_class(self):
        classes = {}
        for item in self.store.items.values():
            classes.setdefault(self.store.slab_class(item.size), []).append(item)
        return sorted(classes.items())

    def items_stats(self):
        """``stats items``: per slab class, memcached's item counters."""
        now, pairs = self.store.now(), []
        for cls, items in self._by_class():
            values = dict.fromkeys(_ITEMS, 0)
            oldest = min(item.time for item in items)
            values.update(number=len(items), number_hot=len(items), age=now - oldest,
                          mem_requested=sum(item.size for item in items))
            pairs += [(f"items:{cls}:{name}", values[name]) for name in _ITEMS]
        return pairs

    def slabs_stats(self):
        """``stats slabs``: per slab class, chunk sizes and usage."""
        pairs, pages = [], 0
        for cls, items in self._by_class():
            chunk = self.store.classes[cls - 1]
            per_page = max(1048576 // chunk, 1)
            used = len(items)
            total_pages = -(-used // per_page)
            pages += total_pages
            values = {"chunk_size": chunk, "chunks_per_page": per_page,
                      "total_pages": total_pages, "total_chunks": total_pages * per_page,
                      "used_chunks": used, "free_chunks": total_pages * per_page - used,
                      "free_chunks_end": 0, **dict.fromkeys(_SLAB_COUNTERS, 0)}
            pairs += [(f"{cls}:{name}", value) for name, value in values.items()]
        return pairs + [("active_slabs", len(pairs) and len(self._by_class())),
                        ("total_malloced", pages * 1048576)]

