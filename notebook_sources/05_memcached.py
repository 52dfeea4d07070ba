"""Write notebooks/05-memcached.ipynb (without outputs) from the cells below.

    python notebook_sources/05_memcached.py     # or build.py for every notebook

tests/test_nb_05_memcached.py executes it in a real kernel.
"""

from _notebook import write

CELLS = [
    ("md", """\
# memcached: a real protocol, byte for byte

memcached speaks a small text protocol over TCP. A client sends a **command line** ending in
`\\r\\n`; storage commands (`set`, `add`, `replace`, `append`, `prepend`, `cas`) follow it with a
**data block** of exactly the announced length, also ending in `\\r\\n`. Replies are lines too
(`STORED`, `NOT_FOUND`, `VALUE <key> <flags> <bytes>` + data + `END`), and errors come in three
kinds: `ERROR` (no such command), `CLIENT_ERROR <why>` and `SERVER_ERROR <why>`. memcached 1.6
added the **meta** commands (`mg`, `ms`, `md`, `ma`, `mn`, `me`): two letters, a key, and one-letter
flags such as `v` (value), `c` (cas), `t` (TTL), `q` (quiet).

The lab's `memcached` plugin is a server written in the sans-IO style: a pure **core** (bytes in,
one event out per call; events in, reply bytes out) under a thin Twisted adapter. Its replies are
tested byte for byte against Debian's memcached 1.6, errors included."""),
    ("code", """\
import lab

lab.start()"""),
    ("md", """\
## The core: one event per call

`Parser.next_event()` returns one event each time it is called, or `NEED_DATA` when the bytes
so far do not make a complete command. That is what lets you *step* a protocol."""),
    ("code", """\
from lab.protocols.memcached import Parser

parser = Parser()
parser.receive_data(b"set greeting 0 0 5\\r\\nhello\\r\\nget greeting\\r\\nGET greeting\\r\\nset k 0 0 3\\r\\nab")
for _ in range(4):
    print(parser.next_event())
print("state:", parser.state, "| waiting for:", parser.pending.describe(), "| bytes expected:", parser.expected)"""),
    ("md", """\
The parser only frames: `GET greeting` is a well-formed line, and the engine will answer it
with `ERROR` (commands are case-sensitive). The last `set` waits for its data.
The **engine** runs events against a **store**; a `Connection` wires the two for one client.
The store takes its clock as an argument, so expiry can be shown without waiting:"""),
    ("code", """\
from lab.protocols.memcached import Connection, Engine, Store


class Clock:
    \"\"\"A clock we move by hand.\"\"\"
    now = 1_700_000_000.0

    def __call__(self):
        return self.now


clock = Clock()
conn = Connection(Engine(Store(clock=clock)))
print(conn.feed(b"set session 0 30 4\\r\\nabcd\\r\\nset forever 0 0 1\\r\\nx\\r\\nset gone 0 -1 1\\r\\ny\\r\\n"))
print(conn.feed(b"get session forever gone\\r\\n"))
clock.now += 30
print(conn.feed(b"get session forever\\r\\n"))"""),
    ("md", """\
A TTL up to 30 days is relative, a larger number is a Unix time, and a negative one means
"already expired". Errors are memcached's own, including a classic: a `set` whose command line
is refused does **not** swallow its data line, which then gets an `ERROR` of its own."""),
    ("code", """\
for request in [b"set k 0 0 notanumber\\r\\nab\\r\\n",       # bad command line, then the data line
                b"set k 0 0 1\\r\\nabc\\r\\n",               # data longer than announced
                b"set n 0 0 20\\r\\n18446744073709551615\\r\\nincr n 2\\r\\n",  # 64-bit wrap-around
                b"set m 0 0 2\\r\\n10\\r\\ndecr m 3\\r\\nget m\\r\\n",          # decr pads in place
                b"ms n 2 T0 F3\\r\\nhi\\r\\nmg n v c f t k\\r\\nmg nope v\\r\\nmn\\r\\n"]:
    print(repr(request), "->", Connection(Engine(Store())).feed(request))"""),
    ("md", """\
## Where the memory goes: slab classes, eviction, the crawler

memcached does not evict "the oldest item". Its memory limit is cut into 1 MiB **pages**, and each
page belongs to one **slab class**: a chunk size (96 bytes, 120, 152, ... up to 512 KiB). An item
takes one chunk of the smallest class it fits in, and each class keeps its own LRU. When a class
has no free chunk and no page is left to give it, *that class* evicts its least recently used
item, even if other classes sit on free chunks. The lab's store does the same arithmetic, so the
same sets evict the same items as a real memcached:"""),
    ("code", """\
def stats(conn, group=b""):
    \"\"\"The server's `stats [group]` as a dict of names to values.\"\"\"
    reply = conn.feed(b"stats" + group + b"\\r\\n").decode()
    return dict(line.split(" ")[1:3] for line in reply.splitlines() if line.startswith("STAT "))


cache_memory = Connection(Engine(Store(clock=clock, memory_limit=8 * 1024 * 1024)))
big = b"x" * 100_000                        # ~100 kB values: ten to a page in class 32
cache_memory.feed(b"".join(b"set big%d 0 0 %d\\r\\n%s\\r\\n" % (n, len(big), big) for n in range(100)))
cache_memory.feed(b"".join(b"set small%d 0 0 1 noreply\\r\\nx\\r\\n" % n for n in range(12000)))
slabs, items = stats(cache_memory, b" slabs"), stats(cache_memory, b" items")
for cls in ("1", "32"):
    print(f"class {cls}: chunk {slabs[cls + ':chunk_size']} B, {slabs[cls + ':total_pages']} pages, "
          f"{items['items:' + cls + ':number']} items, {items['items:' + cls + ':evicted']} evicted")
print("total_malloced:", slabs["total_malloced"], "| limit:", 8 * 1024 * 1024)"""),
    ("md", """\
The 100 big values needed ten pages and got eight: twenty were evicted. The small items' class got
its first page even past the limit (memcached always grants a class one page), and evicts once
that page is full. A lesson for real caches: a workload whose value sizes change over time can
leave memory stranded in the wrong classes ("slab calcification").

Expired items also hold memory until something notices them: a `get` of that key, an allocation
in their class that finds them at the LRU's tail, or the **LRU crawler**. `lru_crawler metadump`
lists what the cache holds (key, expiry, last access, cas, fetched, class, size) and
`lru_crawler crawl` reclaims what has expired:"""),
    ("code", """\
crawled = Connection(Engine(Store(clock=clock)))
crawled.feed(b"set page:home 0 60 5\\r\\nhello\\r\\nset page:about 0 0 3\\r\\nabc\\r\\n"
             b"set session:42 0 10 1\\r\\nx\\r\\nget page:home\\r\\n")
print(crawled.feed(b"lru_crawler metadump all\\r\\n").decode())
clock.now += 11                              # session:42 has expired, but is still stored
print("items before the crawl:", stats(crawled)["curr_items"])
print("crawl:", crawled.feed(b"lru_crawler crawl all\\r\\n"))
print("items after:", stats(crawled)["curr_items"],
      "| crawler_reclaimed:", stats(crawled, b" items")["items:1:crawler_reclaimed"])"""),
    ("md", """\
## The server as a plugin

The plugin declaration is one module-level object; the factory is imported only when used.
`lab.listen` starts it on 127.0.0.1 (port 0 means "any free port") and wiretaps its connections."""),
    ("code", """\
registry = lab.plugins()
info = registry.info("memcached")
print(info["description"])
print(sorted(registry.get("memcached").options))
cache = lab.listen("memcached", name="memcached", memory_limit=16 * 1024 * 1024)
print("listening on", cache.host, "port", cache.port > 0)"""),
    ("md", """\
## Real clients

Clients nobody here wrote: pymemcache and python-memcached."""),
    ("code", """\
from pymemcache.client.base import Client as PyMemcache
import memcache

py = PyMemcache((cache.host, cache.port), connect_timeout=5, timeout=5)
print("pymemcache set:", py.set("greeting", b"hello"))
print("pymemcache get:", py.get("greeting"))
py.set("visits", b"41")
print("pymemcache incr:", py.incr("visits", 1))
value, token = py.gets("greeting")
print("cas with the right token:", py.cas("greeting", b"hello!", token))
print("cas with a stale token:", py.cas("greeting", b"nope", token))

old = memcache.Client([f"{cache.host}:{cache.port}"], socket_timeout=5)
old.set("python-memcached", {"pickled": [1, 2, 3]})
print("python-memcached get:", old.get("python-memcached"))
print("server version:", py.version().decode())"""),
    ("md", """\
## Traffic

Every byte went through the listener's capture. The plugin's **decoder** turns it back into
commands and replies (the conversation view's "decoded" mode uses the same decoder):"""),
    ("code", """\
raw = lab.connect(cache)
raw.send(b"set k 0 0 x\\r\\nab\\r\\nset k 0 0 2\\r\\nok\\r\\nget k nothing\\r\\nmg k v t Oreq1\\r\\nmn\\r\\n")
print(raw.read_until(b"MN\\r\\n", timeout=5))

capture = cache.capture
raw_id = max(c.id for c in capture.connections())   # the newest connection: raw
decoder = cache.decoder()
for event in capture.events(connection=raw_id, kinds=("in", "out")):
    for line in decoder.feed(event.kind, event.data):
        print(line)"""),
    ("code", """\
from lab.widgets.conversation import ConversationView

ConversationView(cache, connection=raw_id, mode="decoded")"""),
    ("md", """\
## Stepping the parser through captured bytes

The protocol stepper feeds a byte stream (typed, or captured) to a fresh core and runs it one
event at a time. Here it holds what the raw client sent, and nothing has run yet: press
**Step** to parse and run one command (the list below grows, with the server's reply), or
**Run** to go on until the parser needs more data."""),
    ("code", """\
from lab.widgets.protocol_stepper import ProtocolStepper

stepper = ProtocolStepper()
stepper.feed_capture(capture, raw_id)
stepper"""),
    ("md", """\
The same from code, on a stepper of its own (so the one above stays yours to click):
`step()` returns the step, `run()` the steps it took."""),
    ("code", """\
in_code = ProtocolStepper()
in_code.feed_capture(capture, raw_id)
first = in_code.step()
print("step 1:", first.describe(), "->", first.reply)
print("state:", in_code.state_summary()["state"])
for done in in_code.run():
    print("step:", done.describe(), "->", done.reply)"""),
    ("md", """\
## Stepping a Deferred chain against the server

Twisted ships a memcached client, `twisted.protocols.memcache.MemCacheProtocol`, whose calls
return Deferreds. The client and its chain live in the reactor thread; `lab.step(...,
runner=lab.call)` builds the chain there and pauses it before each stage. The widget below
waits before stage #0 with the server's reply: press **Step** to run `value_only`, then
`bytes.decode`."""),
    ("code", """\
from twisted.internet import reactor
from twisted.internet.protocol import ClientCreator
from twisted.protocols.memcache import MemCacheProtocol

twisted_client = lab.call(ClientCreator(reactor, MemCacheProtocol).connectTCP, cache.host, cache.port)


def value_only(flags_and_value):
    flags, value = flags_and_value
    return value


def fetch(key):
    # Runs in the reactor thread: the request and its chain are made there.
    d = twisted_client.get(key)
    d.addCallback(value_only)
    d.addCallback(bytes.decode)
    return d


chain = lab.step(fetch, b"greeting", runner=lab.call)
chain.wait(timeout=10)   # until the reply is at the first gate
print(chain.status, "(press Step below)")
chain.widget()"""),
    ("md", """\
The same from code, on a chain of its own: `step()` runs one stage and returns it, `run()`
runs the rest."""),
    ("code", """\
in_code = lab.step(fetch, b"greeting", runner=lab.call)
first_stage = in_code.step(timeout=10)
print("first stage:", first_stage.name, "->", first_stage.output)
in_code.run(timeout=10)
print("result:", in_code.result)"""),
    ("md", """\
## Load

`lab.load_test` opens many connections at once, each sending requests and waiting for the end
of each reply. Afterwards the server's own `stats` tell the same story."""),
    ("code", """\
report = lab.load_test(cache, connections=8, requests=250, payload=b"get greeting\\r\\n",
                       until=b"END\\r\\n", timeout=60)
print("requests:", report.summary()["requests"], "of", report.summary()["expected"],
      "| errors:", report.summary()["errors"])
stats = py.stats()
print("cmd_get >= 2000:", stats[b"cmd_get"] >= 2000, "| curr_items:", stats[b"curr_items"])
report"""),
    ("md", """\
For throughput against the real thing, `python bench/memcached.py` runs `memcaslap` against the
lab's server, against `memcached -t 1`, a naive `LineReceiver` server and a do-nothing Twisted
server (the ceiling of any server on Twisted's reactor), interleaved in one run, and prints the
ratios."""),
    ("code", """\
py.close()
old.disconnect_all()
raw.close()
lab.call(twisted_client.transport.loseConnection)
cache.stop()
print("stopped:", not cache.running)"""),
]



if __name__ == "__main__":
    write(CELLS, "05-memcached.ipynb")
