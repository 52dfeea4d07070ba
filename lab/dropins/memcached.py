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
    },
)
