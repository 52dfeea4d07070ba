"""memcached's LRU crawler: ``lru_crawler crawl`` reclaims expired items, ``metadump`` lists items.

memcached runs its crawler in a thread that walks each slab class's LRU from
the tail, one item per class in turn.  Here a crawl runs to its end inside
the command (the store is small enough, and nothing else runs meanwhile), in
the same order, so ``metadump`` lists items as memcached does and the
counters (``crawler_reclaimed``, ``crawler_items_checked``,
``lru_crawler_starts``) move by the same amounts.  :meth:`LruCrawler.background`
is the periodic pass the adapter schedules.
"""

from itertools import islice

from lab.protocols.memcached._cnum import strtoul
from lab.protocols.memcached._stats import murmur3_32

__all__ = ["LruCrawler"]

_MAX_CLASSES = 64  # memcached's MAX_NUMBER_OF_SLAB_CLASSES
_HASHPOWER = 16  # memcached's initial hash table: 2**16 buckets
_UNRESERVED = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
ERROR = b"ERROR\r\n"
DISABLED = b"CLIENT_ERROR lru crawler disabled\r\n"


def _uriencode(key):
    return b"".join(bytes((c,)) if c in _UNRESERVED else b"%%%02X" % c for c in key)


class LruCrawler:
    """The crawler's settings and counters, and the commands that drive it."""

    def __init__(self, store, enabled=True):
        self.store = store
        self.enabled = enabled
        self.sleep = 100
        self.tocrawl = 0
        self.starts = 0
        self.running = False

    # -- commands -----------------------------------------------------------

    def command(self, tokens, ntokens, pipelined):
        """``lru_crawler ...``: the reply bytes (``pipelined``: replies are queued before it)."""
        word = tokens[1] if ntokens >= 3 else b""
        if ntokens == 4 and word == b"crawl":
            if not self.enabled:
                return DISABLED
            if tokens[2] == b"hash":  # memcached walks the hash table only to dump it
                return b"ERROR an unknown error happened\r\n"
            classes = self._classes(tokens[2])
            if classes is None:
                return b"BADCLASS invalid class id\r\n"
            self.crawl(classes, self.tocrawl)
            return b"OK\r\n"
        if ntokens == 4 and word == b"metadump":
            if not self.enabled:
                return DISABLED
            if pipelined:
                return b"ERROR cannot pipeline other commands before metadump\r\n"
            if tokens[2] == b"hash":
                return self.metadump_hash()
            classes = self._classes(tokens[2])
            if classes is None:
                return b"BADCLASS invalid class id\r\n"
            return self.metadump(classes)
        if ntokens == 4 and word in (b"tocrawl", b"sleep"):
            value = strtoul(tokens[2])
            if value is None:
                return b"CLIENT_ERROR bad command line format\r\n"
            if word == b"sleep":
                if value > 1000000:
                    return b"CLIENT_ERROR sleep must be one second or less\r\n"
                self.sleep = value
            else:
                self.tocrawl = value
            return b"OK\r\n"
        if ntokens == 3 and word == b"enable":
            if self.enabled:
                return b"ERROR failed to start lru crawler thread\r\n"
            self.enabled = True
            return b"OK\r\n"
        if ntokens == 3 and word == b"disable":
            self.enabled = False
            return b"OK\r\n"
        return ERROR

    @staticmethod
    def _classes(text):
        """Class ids from ``all`` or ``1,2,...``; None when one is not a valid id."""
        if text == b"all":
            return list(range(1, _MAX_CLASSES))
        ids = []
        for part in text.split(b","):
            value = strtoul(part)
            if value is None or not 1 <= value < _MAX_CLASSES:
                return None
            ids.append(value)
        return ids

    # -- walking ------------------------------------------------------------

    def _walk(self, classes, tocrawl):
        """Items of ``classes``, tail first, one class after another in turns (the crawler's order).

        With ``tocrawl`` set, each class stops after that many items.
        """
        lrus = self.store.lrus
        limit = tocrawl or None
        walkers = [(cls, list(islice(lrus[cls].values(), limit)))
                   for cls in dict.fromkeys(classes) if cls < len(lrus) and lrus[cls]]
        depth = 0
        while walkers:
            still = []
            for cls, items in walkers:
                if depth < len(items):
                    yield cls, items[depth]
                    still.append((cls, items))
            walkers = still
            depth += 1

    def _expired(self, item, now):
        store = self.store
        return (item.exptime and item.exptime < now) or (
            store.oldest_live and store._is_flushed(item, now))

    def crawl(self, classes, limit=0):
        """Reclaim the expired and flushed items of ``classes``; return how many were."""
        store, now, reclaimed = self.store, self.store.now(), 0
        self.starts += 1
        for cls, item in self._walk(classes, limit):
            counters = store.class_stats[cls]
            counters["crawler_items_checked"] += 1
            if item.key in store.items and self._expired(item, now):
                counters["crawler_reclaimed"] += 1
                if not item.fetched and not (store.oldest_live
                                             and store._is_flushed(item, now)):
                    counters["expired_unfetched"] += 1
                store.unlink(item.key)
                reclaimed += 1
        return reclaimed

    def background(self):
        """The periodic pass: crawl every class when the crawler is enabled; items reclaimed."""
        if not self.enabled or not len(self.store):
            return 0
        return self.crawl(range(1, len(self.store.lrus)), self.tocrawl)

    def _line(self, item):
        started = self.store.process_started
        expires = item.exptime + started if item.exptime else -1
        return b"key=%s exp=%d la=%d cas=%d fetch=%s cls=%d size=%d\n" % (
            _uriencode(item.key), expires, item.time + started, item.cas,
            b"yes" if item.fetched else b"no", item.cls, item.size)

    def metadump(self, classes):
        """``lru_crawler metadump <classes>``: one line per live item, then END."""
        self.starts += 1
        store, now, lines = self.store, self.store.now(), []
        for cls, item in self._walk(classes, 0):
            store.class_stats[cls]["crawler_items_checked"] += 1
            if not self._expired(item, now):
                lines.append(self._line(item))
        return b"".join(lines) + b"END\r\n"

    def metadump_hash(self):
        """``lru_crawler metadump hash``: the items in memcached's hash table order."""
        self.starts += 1
        store, now = self.store, self.store.now()
        mask = (1 << _HASHPOWER) - 1
        # A bucket's chain starts with the item linked last; dicts keep link order.
        order = sorted(enumerate(store.items.values()),
                       key=lambda pair: (murmur3_32(pair[1].key) & mask, -pair[0]))
        lines = [self._line(item) for _, item in order if not self._expired(item, now)]
        return b"".join(lines) + b"END\r\n"
