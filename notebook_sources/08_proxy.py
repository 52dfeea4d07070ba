"""Write notebooks/08-proxy.ipynb (without outputs) from the cells below.

    python notebook_sources/08_proxy.py     # or build.py for every notebook

tests/test_nb_08_proxy.py executes it in a real kernel.
"""
from _notebook import code, md, write

CELLS = [
 md("""# Between a client and a server: the intercepting proxy

A proxy sits in the middle of a conversation it did not start: a **real client** connects to
the proxy, and the proxy opens its own connection to a **real server**. Everything in between
passes through the lab, where you can watch it, hold it, edit it, drop it, and break it on
purpose.

The lab's proxy works on **messages**, not on TCP segments. A *framer* splits each direction of
the byte stream into whole protocol messages (memcached commands, Redis's RESP values, lines,
netstrings...). That is what makes editing safe: you edit a whole `SET` command, never half of
one that happened to arrive in the same segment as the next.

In this notebook: real pymemcache to a real memcached, real redis-py to a real Redis, an edited
reply, a server that breaks when its input arrives one byte at a time, and a replay."""),
 code("""import os
import shutil
import socket
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor

import lab

lab.start()


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(argv, port):
    if shutil.which(argv[0]) is None:
        raise RuntimeError(f"{argv[0]} is not installed: `sudo apt-get install {argv[0]}` "
                           "(python3 tasks.py lab does it when run as root), then re-run this cell.")
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(500):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return proc
        except OSError:
            time.sleep(0.01)
    raise RuntimeError(f"{argv[0]} did not start")


mc_port, redis_port = free_port(), free_port()
as_root = ["-u", "root"] if os.geteuid() == 0 else []   # memcached refuses root without -u
memcached = start_server(["memcached", "-l", "127.0.0.1", "-p", str(mc_port), "-U", "0", *as_root],
                         mc_port)
redis_server = start_server(["redis-server", "--port", str(redis_port), "--bind", "127.0.0.1",
                             "--save", "", "--appendonly", "no"], redis_port)
print("memcached on", mc_port, "and redis-server on", redis_port)"""),
 md("""## A real client, a real memcached

`lab.proxy(target)` listens on a free loopback port and forwards every connection to `target`.
`framer="memcached"` frames commands with the lab's own memcached parser (a `set` and its data
block are one message) and replies by their `VALUE` lengths. The proxy is a listener like any
other: it has a `capture`, shows in `lab.listeners()`, and stops with `stop()`."""),
 code("""from pymemcache.client.base import Client

mc = lab.proxy(f"tcp:127.0.0.1:{mc_port}", framer="memcached", name="memcached-proxy")
client = Client(("127.0.0.1", mc.port), timeout=5)
client.set("greeting", "hello", noreply=False)
print("get:", client.get("greeting"))
print("get_many:", client.get_many(["greeting", "missing"]))
client.close()
print(mc)
print("\\n".join(mc.conversation()))"""),
 md("""Each proxied connection has **two legs**: the client leg (the client and the proxy) and the
server leg (the proxy and memcached). The picture shows both side by side, in the order things
happened: what the client sent on the left, what reached the server on the right."""),
 code("mc"),
 md("""## A real client, a real Redis

Redis speaks RESP: `*3\\r\\n$3\\r\\nSET\\r\\n...` for commands, `+OK`, `:1`, `$5\\r\\nhello`
for replies, and with RESP3, out-of-band **pushes** (`>`), which is how pub/sub messages
arrive. The framer is pure Python in `lab.protocols.resp`."""),
 code("""import redis

rp = lab.proxy(f"tcp:127.0.0.1:{redis_port}", framer="resp", name="redis-proxy")
r = redis.Redis(port=rp.port, socket_timeout=5)
r.set("colour", "blue")
r.hset("user:1", mapping={"name": "ada", "lang": "python"})
pipe = r.pipeline(transaction=False)
pipe.incr("visits").incr("visits").hgetall("user:1")
print("pipeline:", pipe.execute())
print("\\n".join(rp.conversation()))   # redis-py opens with HELLO 3 and CLIENT SETINFO"""),
 md("""## Hold a reply and change it

`proxy.intercept(direction, match=...)` holds the messages that match; `proxy.held` lists them;
`proxy.forward(message, data)` lets one go, edited. Here the reply to `GET colour` is held on its
way to the client and rewritten. The client never knows: it sees a well-formed RESP reply,
because the edit replaced a whole message."""),
 code("""rp.intercept("to_client", match=b"blue")
with ThreadPoolExecutor(1) as pool:
    pending = pool.submit(r.get, "colour")        # the client waits for its reply...
    while not rp.held:
        time.sleep(0.01)
    held = rp.held[0]
    print("held:", held.direction, held.data)
    rp.forward(held, b"$6\\r\\norange\\r\\n")          # ...and gets our version
    print("the client read:", pending.result(timeout=5))
rp.intercept(None)
print("Redis still says:", redis.Redis(port=redis_port).get("colour"))"""),
 md("""## Framing matters: one byte at a time

Notebook 06's first attempt at the **shout** server took each `dataReceived` call as one
request. On a quiet loopback that seems to work, because a small request usually arrives in one
piece. `proxy.fault(fragment=1)` makes the proxy send every message one byte per write, each on
its own reactor turn, the way a slow or busy network could. The naive server falls apart; the
fixed one (Twisted's `NetstringReceiver`) does not care."""),
 code("""from twisted.internet.protocol import Factory, Protocol
from twisted.protocols.basic import NetstringReceiver


class NaiveShout(Protocol):
    def dataReceived(self, data):             # one call taken as one request: the bug
        length, _, rest = data.partition(b":")
        command, _, argument = rest[:-1].partition(b":")
        reply = b"PONG" if command == b"PING" else b"ERR:unknown command " + command
        self.transport.write(b"%d:%s," % (len(reply), reply))


class FixedShout(NetstringReceiver):
    def stringReceived(self, request):
        command, _, argument = request.partition(b":")
        self.sendString(b"PONG" if command == b"PING" else b"ERR:unknown command " + command)


def ping_through_fragments(server_factory, name):
    server = lab.listen(server_factory, name=name)
    shout = lab.proxy(server, framer="netstring", name=name + "-proxy")
    shout.fault(fragment=1)
    talk = lab.connect(shout)
    talk.send(b"4:PING,")
    time.sleep(0.3)
    print(f"{name}: {talk.read(timeout=1)!r}")
    talk.close()
    return shout


naive = ping_through_fragments(Factory.forProtocol(NaiveShout), "naive-shout")
fixed = ping_through_fragments(Factory.forProtocol(FixedShout), "fixed-shout")"""),
 md("""The naive server answered each byte as if it were a request. Both legs side by side show it:
the proxy sent `4`, `:`, `P`, ... as separate writes, and the server replied to each."""),
 code("naive"),
 md("""## Replay a session

`proxy.replay(connection)` sends what a captured client sent, **message by message**, waiting
for each reply, and compares the replies then and now. Change the data behind memcached's back,
replay, and the diff shows exactly which replies changed."""),
 code("""reader = Client(("127.0.0.1", mc.port), timeout=5)
reader.get("greeting")
reader.get_many(["greeting", "missing"])
reader.close()
session = mc.legs()[-1][0]          # the reader's connection (its client leg)
print(mc.replay(session))
Client(("127.0.0.1", mc_port)).set("greeting", "bonjour", noreply=False)
report = mc.replay(session)
print(report)
print(report.diff())"""),
 md("""## Faults and the panel

`proxy.fault(...)` also delays (with seeded jitter), limits throughput, closes or resets after N
bytes or messages, and half-closes; `proxy.fault()` clears it. `proxy.widget()` is the live
panel: held messages with a text and hex editor and **Forward**, **Drop**, **Forward all**, and
the fault controls. The dashboard (`lab.dashboard(proxy)`) has it in its *Proxy* tab."""),
 code("""mc.fault(delay=0.05, jitter=0.02, seed=7)
slow = Client(("127.0.0.1", mc.port), timeout=5)
started = time.perf_counter()
slow.get("greeting")
print(f"a get through 50 ms of delay each way took {(time.perf_counter() - started) * 1000:.0f} ms")
slow.close()
mc.fault()
mc.widget()"""),
 code("""for each in lab.proxies():
    each.stop()
for server in ("naive-shout", "fixed-shout"):
    lab.model.get_listener(server).stop()
memcached.terminate()
redis_server.terminate()
print("stopped; running listeners:", len(lab.listeners()))"""),
]

if __name__ == "__main__":
    write(CELLS, "08-proxy.ipynb")
