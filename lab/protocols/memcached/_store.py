"""The cache itself: items, an LRU with a memory limit, cas uniques and memcached's clock.

Time comes from an injected ``clock`` (seconds, like ``time.time``), so tests
can move it.  Like memcached, the store counts time in whole seconds from a
``process_started`` that lies 62 s before its creation, and converts client
expiry times with memcached's rules (:meth:`Store.realtime`).

Memory is accounted as memcached's slab allocator does: an item (sized as
memcached sizes it: header, key, value, flags, cas) takes a chunk of its slab
class; classes get 1 MiB pages on demand until ``memory_limit`` is reached
(a class's first page is always granted, as in memcached); a class with no
free chunk and no page to get reclaims expired items at the tail of its own
LRU, then evicts its least recently used item, or, without evictions
(memcached ``-M``), refuses.  The LRUs are memcached's "flat" ones (its
``-o no_lru_maintainer``): a fetch moves an item up at most once a minute.
"""

import time
from collections import OrderedDict
from bisect import bisect_left
from itertools import islice

__all__ = ["Item", "Store", "slab_classes", "item_total_size", "MiB",
           "REALTIME_MAXDELTA", "DEFAULT_MEMORY_LIMIT", "DEFAULT_ITEM_SIZE_MAX"]

MiB = 1024 * 1024
DEFAULT_MEMORY_LIMIT = 64 * MiB
DEFAULT_ITEM_SIZE_MAX = 1 * MiB
REALTIME_MAXDELTA = 60 * 60 * 24 * 30  # larger relative expiry times are absolute Unix times
ITEM_UPDATE_INTERVAL = 60
_ITEM_HEADER = 48  # sizeof(item) on a 64-bit build
_CAS_SIZE = 8
SLAB_PAGE_SIZE = 1 * MiB
_FIRST_TICK = ITEM_UPDATE_INTERVAL + 2  # memcached's current_time when it starts
SLAB_CHUNK_MAX = SLAB_PAGE_SIZE // 2  # larger items are stored in chunks of the largest class
_ITEM_CHUNK_HEADER = 48  # memcached's item_chunk header in each chunk of a large item
SLAB_COUNTERS = ("get_hits", "cmd_set", "delete_hits", "incr_hits", "decr_hits", "cas_hits",
                 "cas_badval", "touch_hits")
_TAIL_TRIES = 5  # items lru_pull_tail looks at
_ALLOC_TRIES = 10  # reclaim/evict rounds before memcached gives up on an allocation
CLASS_COUNTERS = ("evicted", "evicted_nonzero", "evicted_time", "outofmemory", "tailrepairs",
                  "reclaimed", "expired_unfetched", "evicted_unfetched", "evicted_active",
                  "crawler_reclaimed", "crawler_items_checked", "lrutail_reflocked",
                  "moves_to_cold", "moves_to_warm", "moves_within_lru", "direct_reclaims")


def item_total_size(nkey, nvalue, flags):
    """memcached's ``ITEM_ntotal``: bytes an item occupies, header and ``\\r\\n`` included."""
    return _ITEM_HEADER + nkey + 1 + nvalue + 2 + (4 if flags else 0) + _CAS_SIZE


def slab_classes(factor=1.25, chunk_size=48, page_size=SLAB_PAGE_SIZE):
    """Chunk sizes of memcached's slab classes, class 1 first (as ``slabs_init`` builds them)."""
    largest = page_size // 2
    size, sizes = _ITEM_HEADER + chunk_size, []
    while size < largest / factor:
        if size % 8:
            size += 8 - size % 8
        sizes.append(size)
        size = int(size * factor)
    sizes.append(largest)
    return sizes


class Item:
    """One cached value with memcached's metadata."""

    __slots__ = ("key", "value", "flags", "exptime", "cas", "time", "fetched",
                 "active", "stale", "token_sent", "key_binary", "size", "cls")

    def __init__(self, key, value, flags=0, exptime=0):
        self.key, self.value, self.flags, self.exptime = key, value, flags, exptime
        self.cas = self.time = 0
        self.fetched = self.active = self.stale = self.token_sent = self.key_binary = False
        self.size = item_total_size(len(key), len(value), flags)
        self.cls = 0  # the slab class, once stored

    def __repr__(self):
        return f"<Item {self.key!r} {len(self.value)} bytes flags={self.flags} cas={self.cas}>"


class Store:
    """Items by key in LRU order (least recent first), bounded by ``memory_limit`` bytes."""

    def __init__(self, *, clock=time.time, memory_limit=DEFAULT_MEMORY_LIMIT,
                 item_size_max=DEFAULT_ITEM_SIZE_MAX, evictions=True, pending_limit=None):
        if item_size_max < 1024:
            raise ValueError(f"item_size_max={item_size_max} is below memcached's minimum "
                             "of 1024 bytes; pass a larger item_size_max.")
        if item_size_max > memory_limit // 2:
            raise ValueError(
                f"item_size_max={item_size_max} is more than half of memory_limit="
                f"{memory_limit}; memcached refuses that too. Lower item_size_max or "
                "raise memory_limit.")
        self.clock = clock
        self.memory_limit = memory_limit
        self.evictions = evictions  # False: memcached -M, refuse new items when memory is full
        # Items whose data is still arriving (memcached allocates them when their command line
        # arrives): their sizes, reserved by reserve() and given back by release().
        self.pending = 0
        self.pending_limit = memory_limit if pending_limit is None else pending_limit
        self.item_size_max = item_size_max
        self.started = clock()
        self.process_started = int(self.started) - _FIRST_TICK
        self.items = {}  # key -> Item
        self.bytes = 0
        self.cas_id = 0
        self.oldest_live = 0
        self.oldest_cas = 0
        self.classes = slab_classes()
        count = len(self.classes) + 1  # class ids start at 1, as memcached's
        self.lrus = [OrderedDict() for _ in range(count)]  # per class, least recent first
        self.pages = [0] * count
        self.used_chunks = [0] * count
        self.per_page = [0] + [SLAB_PAGE_SIZE // size for size in self.classes]
        self.malloced = 0  # bytes of pages handed to classes (memcached's total_malloced)
        self.class_stats = [dict.fromkeys(CLASS_COUNTERS, 0) for _ in range(count)]
        # ``stats slabs``' per-class command counters (memcached's slab_stats).
        self.slab_counters = [dict.fromkeys(SLAB_COUNTERS, 0) for _ in range(count)]
        self.stats = dict.fromkeys(("total_items", "get_expired", "get_flushed"), 0)

    # -- time ---------------------------------------------------------------

    def now(self):
        """memcached's ``current_time``: 62, plus one per whole second since the store began.

        memcached's timer ticks once a second from its start (not on the
        wall clock's second boundaries); counting the same way keeps TTLs
        and access times equal to a real server started at the same moment.
        """
        return int(self.clock() - self.started) + _FIRST_TICK

    def realtime(self, exptime):
        """An item expiry in server time from a client's exptime (relative, absolute or negative)."""
        if exptime < 0:
            exptime = REALTIME_MAXDELTA + 1  # memcached: negative means already expired
        if exptime == 0:
            return 0
        if exptime > REALTIME_MAXDELTA:
            return 1 if exptime <= self.process_started else exptime - self.process_started
        return exptime + self.now()

    # -- lookup -------------------------------------------------------------

    def size_ok(self, nkey, nvalue, flags):
        """Whether an item this big fits under ``item_size_max`` (memcached's ``item_size_ok``)."""
        return item_total_size(nkey, nvalue, flags) <= self.item_size_max

    def slab_class(self, size):
        """The slab class id memcached would store an item of ``size`` bytes in."""
        return min(bisect_left(self.classes, size) + 1, len(self.classes))

    @staticmethod
    def chunks(size):
        """Chunks an item of ``size`` bytes takes in its class (more than one when large)."""
        if size <= SLAB_CHUNK_MAX:
            return 1
        return -(-size // (SLAB_CHUNK_MAX - _ITEM_CHUNK_HEADER))

    def totals(self):
        """The per-class counters summed over all classes (``stats``' global figures)."""
        totals = dict.fromkeys(CLASS_COUNTERS, 0)
        for counters in self.class_stats:
            for name, value in counters.items():
                totals[name] += value
        return totals

    def get(self, key, update=True):
        """The live item under ``key`` or None; expired and flushed items are dropped on sight."""
        item = self.items.get(key)
        if item is None:
            return None
        now = int(self.clock() - self.started) + _FIRST_TICK
        if item.exptime and item.exptime <= now:
            self.stats["get_expired"] += 1
            self._drop(item)
            return None
        if self.oldest_live and self._is_flushed(item, now):
            self.stats["get_flushed"] += 1
            self._drop(item)
            return None
        if update:
            self.bump(item)
        return item

    def _is_flushed(self, item, now):
        oldest = self.oldest_live
        if oldest == 0 or oldest > now:
            return False
        return item.time <= oldest or (self.oldest_cas and item.cas < self.oldest_cas)

    def bump(self, item):
        """A fetch (memcached's flat ``do_item_bump``): mark it fetched, then :meth:`update`."""
        item.fetched = True
        self.update(item)

    def update(self, item):
        """memcached's ``do_item_update``: at most once a minute, refresh and move to the head."""
        now = int(self.clock() - self.started) + _FIRST_TICK
        if item.time < now - ITEM_UPDATE_INTERVAL:
            item.time = now
            self.lrus[item.cls].move_to_end(item.key)

    # -- change -------------------------------------------------------------

    def next_cas(self):
        """A fresh cas unique (memcached's global counter, first value 1)."""
        self.cas_id += 1
        return self.cas_id

    def link(self, item):
        """Store ``item`` (replacing any item under its key) with a new cas unique.

        Memory for it comes from its slab class (reclaiming or evicting in
        that class if needed); None when there is none to be had.
        """
        cls = item.cls
        if not cls:
            cls = item.cls = self.slab_class(item.size)
        if not self.allocate(cls, 1 if item.size <= SLAB_CHUNK_MAX else self.chunks(item.size)):
            return None
        old = self.items.get(item.key)
        if old is not None:
            self._free(old)
        self.cas_id += 1
        item.cas = self.cas_id
        item.time = int(self.clock() - self.started) + _FIRST_TICK
        self.items[item.key] = item
        self.lrus[cls][item.key] = item
        self.bytes += item.size
        self.stats["total_items"] += 1
        return item

    def reserve(self, size):
        """Hold ``size`` bytes for an item whose data is arriving; False past ``pending_limit``."""
        if self.pending + size > self.pending_limit:
            return False
        self.pending += size
        return True

    def release(self, size):
        """Give back bytes held by :meth:`reserve`."""
        self.pending -= size

    def resize(self, item, value):
        """Change an item's value in place (incr/decr of same length keeps its size)."""
        item.value = value

    def unlink(self, key):
        """Remove the item under ``key``; True if there was one."""
        item = self.items.get(key)
        if item is None:
            return False
        self._free(item)
        return True

    def _drop(self, item):
        self._free(item)

    def _free(self, item):
        del self.items[item.key]
        del self.lrus[item.cls][item.key]
        self.used_chunks[item.cls] -= 1 if item.size <= SLAB_CHUNK_MAX else self.chunks(item.size)
        self.bytes -= item.size

    # -- slab memory --------------------------------------------------------

    def allocate(self, cls, chunks=1):
        """memcached's ``do_item_alloc_pull``: take ``chunks`` chunks of class ``cls``.

        Each round first reclaims expired items at the class's LRU tail, then
        tries the class's free chunks and a new page; failing that it evicts
        (with evictions on) and tries again.  False when memory cannot be had.
        """
        if not self.oldest_live \
                and self.pages[cls] * self.per_page[cls] - self.used_chunks[cls] >= chunks:
            lru = self.lrus[cls]  # fast path: a free chunk and nothing expired at the tail
            tail = next(iter(lru.values())) if lru else None
            if tail is None or not tail.exptime \
                    or tail.exptime >= int(self.clock() - self.started) + _FIRST_TICK:
                self.used_chunks[cls] += chunks
                return True
        tries, allocated = 0, False
        while tries < _ALLOC_TRIES:
            self._pull_tail(cls, evict=False)
            allocated = self._slabs_alloc(cls, chunks)
            if allocated or self._pull_tail(cls, evict=True) <= 0:
                break
            tries += 1
        counters = self.class_stats[cls]
        counters["direct_reclaims"] += tries
        if not allocated:
            counters["outofmemory"] += 1
        return allocated

    def _slabs_alloc(self, cls, chunks):
        free = self.pages[cls] * self.per_page[cls] - self.used_chunks[cls]
        while free < chunks:
            # memcached's do_slabs_newslab: a class's first page is granted past the limit.
            if self.malloced + SLAB_PAGE_SIZE > self.memory_limit and self.pages[cls] > 0:
                return False
            self.pages[cls] += 1
            self.malloced += SLAB_PAGE_SIZE
            free += self.per_page[cls]
        self.used_chunks[cls] += chunks
        return True

    def _pull_tail(self, cls, evict):
        """memcached's ``lru_pull_tail`` on a flat LRU: the number of items removed.

        Up to five items from the tail: expired or flushed ones are reclaimed;
        the first live one stops the walk, evicted first when ``evict`` (and
        evictions are on).
        """
        lru = self.lrus[cls]
        if not lru:
            return 0
        now = int(self.clock() - self.started) + _FIRST_TICK
        if not evict or not self.evictions:  # the common case: a live item at the tail
            tail = next(iter(lru.values()))
            if not (tail.exptime and tail.exptime < now) and not self.oldest_live:
                return 0
        counters, removed = self.class_stats[cls], 0
        for item in list(islice(lru.values(), _TAIL_TRIES)):
            if (item.exptime and item.exptime < now) or (
                    self.oldest_live and self._is_flushed(item, now)):
                counters["reclaimed"] += 1
                if not item.fetched:
                    counters["expired_unfetched"] += 1
                self._free(item)
                removed += 1
                continue
            if evict and self.evictions:
                counters["evicted"] += 1
                counters["evicted_time"] = now - item.time
                if item.exptime:
                    counters["evicted_nonzero"] += 1
                if not item.fetched:
                    counters["evicted_unfetched"] += 1
                if item.active:
                    counters["evicted_active"] += 1
                self._free(item)
                removed += 1
            break
        return removed

    def set_memory_limit(self, memory_limit):
        """``cache_memlimit``: later pages count against the new limit; none are given back."""
        self.memory_limit = memory_limit

    def flush(self, delay):
        """``flush_all [delay]``: invalidate items, now or ``delay`` seconds from now."""
        now = self.now()
        new_oldest = self.realtime(delay) if delay > 0 else now
        self.oldest_live = new_oldest - 1
        if self.oldest_live <= now:
            self.oldest_cas = self.next_cas()

    def __len__(self):
        return len(self.items)
