"""The cache itself: items, an LRU with a memory limit, cas uniques and memcached's clock.

Time comes from an injected ``clock`` (seconds, like ``time.time``), so tests
can move it.  Like memcached, the store counts time in whole seconds from a
``process_started`` that lies 62 s before its creation, and converts client
expiry times with memcached's rules (:meth:`Store.realtime`).

Memory is accounted per item with memcached's own item size (header, key,
value, flags, cas), so ``me``'s ``size=`` and the slab class agree with a
real server; eviction is a single LRU, not memcached's per-slab-class LRUs.
"""

import time
from collections import OrderedDict

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
                 "active", "stale", "token_sent", "key_binary", "size")

    def __init__(self, key, value, flags=0, exptime=0):
        self.key, self.value, self.flags, self.exptime = key, value, flags, exptime
        self.cas = self.time = 0
        self.fetched = self.active = self.stale = self.token_sent = self.key_binary = False
        self.size = item_total_size(len(key), len(value), flags)

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
        self.items = OrderedDict()
        self.bytes = 0
        self.cas_id = 0
        self.oldest_live = 0
        self.oldest_cas = 0
        self.classes = slab_classes()
        self.stats = dict.fromkeys(
            ("total_items", "evictions", "expired_unfetched", "evicted_unfetched",
             "reclaimed", "get_expired", "get_flushed"), 0)

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
        for index, chunk in enumerate(self.classes, 1):
            if size <= chunk:
                return index
        return len(self.classes)

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
        """A fetch: mark the item fetched (then active) and move it to the LRU's fresh end."""
        if not item.active:
            if not item.fetched:
                item.fetched = True
            else:
                item.active = True
                item.time = self.now()
        self.items.move_to_end(item.key)

    def update(self, item):
        """memcached's ``do_item_update``: refresh the access time at most once a minute."""
        now = self.now()
        if item.time < now - ITEM_UPDATE_INTERVAL:
            item.time = now

    # -- change -------------------------------------------------------------

    def next_cas(self):
        """A fresh cas unique (memcached's global counter, first value 1)."""
        self.cas_id += 1
        return self.cas_id

    def link(self, item):
        """Store ``item`` (replacing any item under its key) with a new cas unique."""
        old = self.items.pop(item.key, None)
        if old is not None:
            self.bytes -= old.size
        if self.bytes + item.size > self.memory_limit and self.evictions:
            self._make_room(item.size)
        self.cas_id += 1
        item.cas = self.cas_id
        item.time = int(self.clock() - self.started) + _FIRST_TICK
        self.items[item.key] = item
        self.bytes += item.size
        self.stats["total_items"] += 1
        return item

    def reserve(self, size):
        """Hold ``size`` bytes for an item whose data is arriving; False when there is no room.

        All connections' incomplete items together stay under ``pending_limit``;
        without evictions they also count against ``memory_limit``.
        """
        if self.pending + size > self.pending_limit:
            return False
        if not self.evictions and self.bytes + self.pending + size > self.memory_limit:
            return False
        self.pending += size
        return True

    def release(self, size):
        """Give back bytes held by :meth:`reserve`."""
        self.pending -= size

    def fits(self, size):
        """Whether an item of ``size`` more bytes can be stored (always, with evictions)."""
        return self.evictions or self.bytes + size <= self.memory_limit

    def resize(self, item, value):
        """Change an item's value in place (incr/decr of same length keeps its size)."""
        item.value = value

    def unlink(self, key):
        """Remove the item under ``key``; True if there was one."""
        item = self.items.pop(key, None)
        if item is None:
            return False
        self.bytes -= item.size
        return True

    def _drop(self, item):
        del self.items[item.key]
        self.bytes -= item.size

    def _make_room(self, size):
        """Evict least recently used items until ``size`` more bytes fit the memory limit."""
        items = self.items
        while items and self.bytes + size > self.memory_limit:
            _, victim = items.popitem(last=False)
            self.bytes -= victim.size
            if victim.exptime and victim.exptime <= self.now():
                self.stats["reclaimed"] += 1
                if not victim.fetched:
                    self.stats["expired_unfetched"] += 1
            else:
                self.stats["evictions"] += 1
                if not victim.fetched:
                    self.stats["evicted_unfetched"] += 1

    def flush(self, delay):
        """``flush_all [delay]``: invalidate items, now or ``delay`` seconds from now."""
        now = self.now()
        new_oldest = self.realtime(delay) if delay > 0 else now
        self.oldest_live = new_oldest - 1
        if self.oldest_live <= now:
            self.oldest_cas = self.next_cas()

    def __len__(self):
        return len(self.items)
