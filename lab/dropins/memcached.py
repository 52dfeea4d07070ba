"""The memcached plugin: a memcached 1.6 server (text and meta protocols) over TCP."""

from lab.interfaces import protocol_plugin

memcached = protocol_plugin(
    "memcached",
    "A memcached 1.6 server (text and meta protocols) with an LRU cache; "
    "answers byte for byte like the real one.",
    factory="lab.adapters.memcached:MemcachedFactory",
    decoder="lab.protocols.memcached:ConversationDecoder",
    default_endpoint="tcp:0",  # any free port on 127.0.0.1; memcached's own 11211 may be taken
    options={
        "memory_limit": "bytes of item memory before LRU eviction (default 64 MiB)",
        "item_size_max": "largest item in bytes, like memcached -I (default 1 MiB)",
        "max_connections": "simultaneous connections; more are refused (default 1024)",
        "max_line": "longest multi-get line buffered, in bytes (default 256 KiB)",
        "version": "version string the server reports (default 1.6.18)",
        "reqs_per_event": "commands one connection runs before yielding to the others, like "
                          "memcached -R; each yield counts in conn_yields (default 20)",
        "evictions": "1: evict least recently used items when memory is full; 0: refuse with "
                     "SERVER_ERROR out of memory, counted in store_no_memory, like memcached "
                     "-M (default 1)",
        "reply_limit": "bytes of replies made from one read before waiting for the client to "
                       "read them (default 256 KiB)",
        "pending_limit": "bytes of items whose data is still arriving, over all connections; "
                         "past it a set is refused with SERVER_ERROR out of memory "
                         "(default: memory_limit)",
        "lru_crawler": "1: the LRU crawler runs (lru_crawler crawl/metadump, background "
                       "crawls), as memcached's default; 0: off, like -o no_lru_crawler "
                       "(default 1)",
        "crawl_interval": "seconds between background crawls that reclaim expired items, "
                          "counted in crawler_reclaimed; 0: none (default 60)",
    },
)
