"""memcached behaviours its own test suite checks, compared byte for byte with a real memcached.

Each test runs the same exchanges against a fresh Debian ``memcached`` (with
the matching command-line options) and a fresh lab server (with the matching
plugin options), then compares the replies and the counters both report.
"""

import contextlib
import re
import time

import pytest

from tests.memcached_peers import exchange, in_process_lab, real_memcached

pytestmark = [pytest.mark.peers, pytest.mark.reactor]


def stats(port, group=b""):
    """``{name: value}`` of ``stats [group]`` read on a fresh connection."""
    reply = exchange(port, b"stats" + group + b"\r\n")
    pairs = (line.split(b" ", 2)[1:] for line in reply.split(b"\r\n") if line.startswith(b"STAT "))
    return {name.decode(): value for name, value in pairs}


def run_both(exchanges, real_args=(), **lab_options):
    """Send each exchange on its own connection to both servers; ``(real, ours)`` results.

    A result is ``(replies, stats, settings)``: the list of replies and the
    two statistics groups read afterwards.
    """
    results = []
    for server in (real_memcached(*real_args), in_process_lab(**lab_options)):
        with server as port:
            replies = [exchange(port, data) for data in exchanges]
            results.append((replies, stats(port), stats(port, b" settings")))
    return results


def run_phases(phases, pauses, real_args=(), **lab_options):
    """Like :func:`run_both` with both servers up at once and ``pauses`` (seconds) between phases.

    For items that must expire: both servers see the same wait.  Returns
    ``(real replies, our replies)``, each a flat list over the phases.
    """
    with contextlib.ExitStack() as stack:
        ports = (stack.enter_context(real_memcached(*real_args)),
                 stack.enter_context(in_process_lab(crawl_interval=0, **lab_options)))
        replies = ([], [])
        for number, phase in enumerate(phases):
            if number:
                time.sleep(pauses[number - 1])
            for data in phase:
                for port, out in zip(ports, replies):
                    out.append(exchange(port, data))
        return replies


def without(reply, *names):
    """``stats`` reply lines, minus those naming one of ``names`` (values that follow the clock)."""
    return [line for line in reply.split(b"\r\n")
            if not any(name in line for name in names)]


def times_close(real, ours):
    """Replace ``la=``/``exp=`` times by a mark after checking both servers agree within 1 s."""
    pattern = re.compile(rb"(la|exp)=(\d+)")
    real_times = [int(m.group(2)) for m in pattern.finditer(real)]
    our_times = [int(m.group(2)) for m in pattern.finditer(ours)]
    assert len(real_times) == len(our_times)
    assert all(abs(a - b) <= 1 for a, b in zip(real_times, our_times)), (real, ours)
    return pattern.sub(rb"\1=T", real), pattern.sub(rb"\1=T", ours)


def test_http_looking_commands_close_the_connection(lab_reactor):
    """A command whose last token starts with HTTP/ closes, unless its name is one memcached knows."""
    exchanges = [b"set a 0 0 1\r\nx\r\nGET / HTTP/1.0\r\nget a\r\n",
                 b"version\r\nPOST /form HTTP/1.1\r\nversion\r\n",
                 b"get / HTTP/1.1\r\nHTTP/1.1 200\r\nGET / http/1.0\r\nmx a HTTP/1.0\r\n"
                 b"mxy a HTTP/1.0\r\nversion\r\n",
                 b"bogus HTTP/\r\nversion\r\n"]
    (real, _, _), (ours, _, _) = run_both(exchanges)
    assert real == ours
    assert ours[0] == b""  # the STORED not yet sent is lost when memcached closes


@pytest.mark.parametrize("reqs", [20, 5])
def test_yields_between_pipelined_commands_match(lab_reactor, reqs):
    """reqs_per_event (memcached -R) decides when a connection yields; conn_yields counts each."""
    exchanges = [b"version\r\n" * n for n in (1, 4, 5, 6, 19, 20, 21, 22, 40, 41, 61)]
    exchanges += [b"set a 0 0 1\r\nx\r\n" + b"get a\r\n" * n for n in (4, 5, 20, 21, 41)]
    exchanges += [b"set a 0 0 1\r\nx\r\n" * 30 + b"get " + b"k" * 251 + b"\r\n"]
    (real, real_stats, real_settings), (ours, our_stats, our_settings) = run_both(
        exchanges, ("-R", str(reqs)), reqs_per_event=reqs)
    assert real == ours
    assert real_stats["conn_yields"] == our_stats["conn_yields"] != b"0"
    assert real_settings["reqs_per_event"] == our_settings["reqs_per_event"] == b"%d" % reqs


def test_stats_detail_counts_per_prefix(lab_reactor):
    """stats detail on|off|dump: per-prefix gets, hits, sets, deletes, in memcached's order."""
    keys = [b"user:1", b"user:2", b"post:9", b"a:b:c", b"nodelimiter", b":empty", b"zeta:z"]
    sets = b"".join(b"set %s 0 0 1\r\nx\r\n" % key for key in keys[:4])
    exchanges = [b"stats detail dump\r\nstats detail on\r\n" + sets
                 + b"get user:1 user:3 nodelimiter zeta:z\r\ngets post:9\r\ndelete user:2\r\n"
                 b"delete post:nothing\r\nget :empty\r\nstats detail dump\r\n",
                 b"stats detail off\r\nget user:1\r\nstats detail dump\r\nstats detail\r\n"
                 b"stats detail bogus\r\n",
                 b"stats detail on\r\nstats reset\r\nstats detail dump\r\n"]
    (real, _, real_settings), (ours, _, our_settings) = run_both(exchanges)
    assert real == ours
    assert b"PREFIX user get 2 hit 1 set 2 del 1\r\n" in ours[0]
    assert real_settings["detail_enabled"] == our_settings["detail_enabled"] == b"yes"


def _sets(prefix, count, size, exptime=0):
    value = b"v" * size
    return b"".join(b"set %s%d 0 %d %d\r\n%s\r\n" % (prefix, n, exptime, size, value)
                    for n in range(count))


def test_same_sets_evict_the_same_items_per_slab_class(lab_reactor):
    """Under the same -m, the same sets fill the same pages and evict the same items per class."""
    sets = b"".join(_sets(b"big%d-" % r, 12, 100000) + _sets(b"mid%d-" % r, 400, 1000)
                    + _sets(b"small%d-" % r, 3000, 10) for r in range(10))
    keys = b" ".join(b"big%d-%d mid%d-%d small%d-%d" % (r, n, r, n, r, n)
                     for r in range(10) for n in (0, 5, 11))
    exchanges = [sets, b"get " + keys + b"\r\n", b"stats items\r\n", b"stats slabs\r\n",
                 b"stats cachedump 1 3\r\n"]
    (real, real_stats, _), (ours, our_stats, _) = run_both(
        exchanges, ("-m", "8"), memory_limit=8 * 1048576)
    assert real[:2] == ours[:2]
    assert without(real[2], b":age ", b"evicted_time") == without(ours[2], b":age ", b"evicted_time")
    assert real[3:] == ours[3:]
    for name in ("evictions", "curr_items", "total_items", "bytes", "reclaimed"):
        assert real_stats[name] == our_stats[name], name
    assert int(our_stats["evictions"]) > 1000


def test_no_evict_mode_answers_out_of_memory(lab_reactor):
    """With evictions off (memcached -M), a full cache refuses sets and counts store_no_memory."""
    value = b"x" * 100000
    sets = b"".join(b"set k%d 0 0 %d\r\n%s\r\n" % (i, len(value), value) for i in range(120))
    (real, real_stats, real_settings), (ours, our_stats, our_settings) = run_both(
        [sets, b"get k0 k119\r\n", b"ms k0 2 MA\r\nxx\r\nincr k0 1\r\n",
         b"stats items\r\n"], ("-M", "-m", "8"), evictions=0, memory_limit=8 * 1048576)
    assert real[:3] == ours[:3]
    assert without(real[3], b":age ", b"evicted_time") == without(ours[3], b":age ", b"evicted_time")
    assert b"SERVER_ERROR out of memory storing object\r\n" in ours[0]
    for name in ("store_no_memory", "evictions", "curr_items"):
        assert real_stats[name] == our_stats[name], name
    assert real_settings["evictions"] == our_settings["evictions"] == b"off"


def test_cache_memlimit_changes_take_effect_like_memcached(lab_reactor):
    """Raising cache_memlimit grants more pages; lowering it keeps them but evicts for new items."""
    exchanges = [_sets(b"a", 100, 100000), b"cache_memlimit 16\r\n", _sets(b"b", 100, 100000),
                 b"cache_memlimit 8\r\n", _sets(b"c", 50, 100000) + _sets(b"d", 2000, 10),
                 b"stats slabs\r\n", b"get a99 b0 b99 c49 d0\r\n"]
    (real, real_stats, real_settings), (ours, our_stats, our_settings) = run_both(
        exchanges, ("-m", "8"), memory_limit=8 * 1048576)
    assert real == ours
    for name in ("evictions", "curr_items", "limit_maxbytes"):
        assert real_stats[name] == our_stats[name], name
    assert real_settings["maxbytes"] == our_settings["maxbytes"] == b"8388608"


def test_expired_items_are_reclaimed_when_memory_is_needed(lab_reactor):
    """Expired items at a class's LRU tail make room instead of evictions; reclaimed counts them."""
    first = [_sets(b"old", 80, 100000, exptime=1) + _sets(b"tiny", 100, 10, exptime=1)
             + b"get old0\r\n"]
    second = [_sets(b"new", 80, 100000) + _sets(b"tinier", 50, 10), b"stats items\r\n",
              b"stats slabs\r\n", b"stats\r\n"]
    real, ours = run_phases([first, second], [2.5], ("-m", "8"), memory_limit=8 * 1048576)
    assert real[:2] == ours[:2]
    assert without(real[2], b":age ", b"evicted_time") == without(ours[2], b":age ", b"evicted_time")
    assert real[3] == ours[3]
    names = (b"evictions", b"reclaimed", b"expired_unfetched", b"curr_items", b"total_items")
    pick = [[line for line in reply.split(b"\r\n") if line.split(b" ")[1:2] and
             line.split(b" ")[1] in names] for reply in (real[4], ours[4])]
    assert pick[0] == pick[1]
    assert b"STAT reclaimed 180\r\n" in ours[4]  # 80 big, 100 tiny (up to 5 per set)
    assert b"STAT total_malloced 9437184" in ours[3]  # 8 pages for the big class, 1 for tiny


def test_lru_crawler_commands_and_metadump_match(lab_reactor):
    """lru_crawler enable/disable/crawl/metadump (all, a class, hash) answer as memcached's do."""
    first = [b"lru_crawler enable\r\nlru_crawler crawl all\r\n",
             b"lru_crawler metadump all\r\n",  # nothing to dump yet
             b"set a 0 0 1\r\nx\r\nset b:c%20 5 100 2\r\nhi\r\nset gone 0 1 1\r\nz\r\n"
             + _sets(b"big", 3, 3000) + _sets(b"dies", 5, 3000, exptime=1)
             + b"get a\r\nms \x01bin 1 b\r\nq\r\n",
             b"version\r\nlru_crawler metadump all\r\n",
             b"lru_crawler crawl 99\r\nlru_crawler crawl 0\r\nlru_crawler crawl x\r\n"
             b"lru_crawler metadump 99\r\nlru_crawler bogus\r\nlru_crawler\r\n"
             b"lru_crawler tocrawl x\r\nlru_crawler sleep 2000000\r\nlru_crawler crawl hash\r\n"]
    second = [b"stats\r\n", b"lru_crawler metadump all\r\n", b"lru_crawler metadump 1\r\n",
              b"lru_crawler metadump 1,17\r\n", b"lru_crawler metadump hash\r\n",
              b"lru_crawler tocrawl 2\r\nlru_crawler crawl 17\r\n", b"lru_crawler crawl 1,17\r\n"]
    third = [b"stats items\r\n", b"lru_crawler disable\r\n",
             b"lru_crawler crawl all\r\nlru_crawler metadump all\r\n", b"lru_crawler disable\r\n",
             b"stats\r\n"]  # the crawler is off: no lru_crawler_* statistics
    # memcached crawls in a thread: a moment passes before the counters are read.
    real, ours = run_phases([first, second, third], [2.5, 0.5], ("-m", "8"),
                            memory_limit=8 * 1048576)
    pairs = [times_close(r, o) for r, o in zip(real, ours)]
    starts = [[line for line in reply.split(b"\r\n") if b"lru_crawler_" in line]
              for reply in pairs.pop()]
    assert starts[0] == starts[1] == []
    started = [[line for line in reply.split(b"\r\n") if b"lru_crawler_" in line]
               for reply in pairs.pop(5)]  # stats after the first phase's crawls
    assert started[0] == started[1] == [b"STAT lru_crawler_running 0",
                                        b"STAT lru_crawler_starts 2"]
    for number, (r, o) in enumerate(pairs):
        if number == 11:  # stats items: without the ages, which follow each server's clock
            r, o = without(r, b":age "), without(o, b":age ")
        assert r == o, (number, r, o)
    assert b"key=b%3Ac%2520 exp=T la=T cas=2 fetch=no cls=1 size=71\n" in pairs[5][1]
    assert b"crawler_reclaimed" in pairs[11][1]


@pytest.mark.parametrize("crawler", [1, 0])
def test_stats_list_what_stats_settings_says_runs(lab_reactor, crawler):
    """With the crawler on or off, stats lists the statistics memcached lists in that mode."""
    def names(reply):
        return [line.split(b" ")[1] for line in reply.split(b"\r\n") if line.startswith(b"STAT ")]
    exchanges = [b"set a 0 0 1\r\nx\r\nstats\r\n", b"stats items\r\n", b"stats slabs\r\n",
                 b"stats settings\r\n"]
    real_args = () if crawler else ("-o", "no_lru_crawler")
    (real, _, real_settings), (ours, _, our_settings) = run_both(
        exchanges, real_args, lru_crawler=crawler)
    for r, o in zip(real, ours):
        assert names(r) == names(o)
    for name in ("lru_crawler", "lru_maintainer_thread", "lru_segmented", "dump_enabled",
                 "evictions", "reqs_per_event", "detail_enabled", "hash_algorithm"):
        assert real_settings[name] == our_settings[name], name


def test_background_crawl_reclaims_expired_items(lab_reactor):
    """With crawl_interval set, expired items leave memory with no client asking for them."""
    with in_process_lab(crawl_interval=1) as port:
        exchange(port, b"".join(b"set k%d 0 1 100 noreply\r\n%s\r\n" % (n, b"x" * 100)
                                for n in range(50)) + b"set keep 0 0 1\r\nx\r\n")
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and stats(port)["curr_items"] != b"1":
            time.sleep(0.2)
        assert stats(port)["curr_items"] == b"1"
        assert stats(port)["crawler_reclaimed"] == b"50"
        assert int(stats(port)["lru_crawler_starts"]) >= 1


def test_pipelined_large_gets_are_all_answered_in_order(lab_reactor):
    """Gets of a 1 MB value pipelined past the reply limit all come back, as from memcached."""
    value = bytes(range(256)) * 3900
    data = (b"set big 0 0 %d\r\n%s\r\n" % (len(value), value) + b"get big\r\n" * 12
            + b"gets big\r\nversion\r\n" * 3)
    (real, real_stats, _), (ours, our_stats, _) = run_both([data])
    assert real == ours
    assert ours[0].count(value) == 15
    assert real_stats["conn_yields"] == our_stats["conn_yields"]
