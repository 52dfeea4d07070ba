"""Write notebooks/07-debugging.ipynb (without outputs) from the cells below.

    python notebook_sources/07_debugging.py     # or build.py for every notebook

tests/test_nb_07_debugging.py executes it in a real kernel.
"""

from _notebook import code, md, write

CELLS = [
    md("""\
# Why is it stuck? Debugging a running reactor

A request hangs, memory grows, a timer silently stopped: the reactor is running your program and
you do not know which Deferred to look at. This notebook hunts three real bugs on real sockets:

1. a client request that **hangs**, found with `lab.pending()` and `why`, fixed and verified;
2. a **leak**: one Deferred per request that never fires, found by diffing snapshots under load;
3. an **error in the reactor thread** that nobody saw, surfaced by `lab.reactor_errors()`.

`lab.track_deferreds(True)` records where each new Deferred is made (file, line, function). It is
cheap enough to leave on while debugging; off, it costs nothing."""),
    code("""\
import asyncio

import lab

lab.start()
lab.track_deferreds(True)
print("tracking creation sites:", lab.inspect.tracking())"""),
    md("""\
## 1. A request that hangs

A tiny quote service: the client sends a symbol per line and keeps one Deferred per request
until its answer arrives. Both sides have a bug we do not know about yet."""),
    code("""\
from collections import deque

from twisted.internet import defer, endpoints, reactor
from twisted.internet.protocol import Factory
from twisted.protocols.basic import LineReceiver

PRICES = {b"TWST": b"12.50", b"JUPY": b"7.25"}


class QuoteServer(LineReceiver):
    def lineReceived(self, symbol):
        if symbol in PRICES:
            self.sendLine(b"PRICE " + symbol + b" " + PRICES[symbol])


class QuoteClient(LineReceiver):
    def __init__(self):
        self.waiting = deque()

    def get(self, symbol):
        d = defer.Deferred()
        self.waiting.append(d)
        self.sendLine(symbol.encode())
        return d

    def lineReceived(self, line):
        self.waiting.popleft().callback(line.decode())


def serve(protocol):
    return reactor.listenTCP(0, Factory.forProtocol(protocol), interface="127.0.0.1")


def connect(port, protocol):
    endpoint = endpoints.TCP4ClientEndpoint(reactor, "127.0.0.1", port.getHost().port)
    return endpoints.connectProtocol(endpoint, protocol())


server = lab.call(serve, QuoteServer)
client = lab.call(connect, server, QuoteClient)
print(lab.call(client.get, "TWST"))"""),
    md("""\
That worked. Now a symbol the server does not know. `lab.submit` returns at once, so the cell does
not hang with the request:"""),
    code("""\
hung = lab.submit(client.get, "ACME")
await asyncio.sleep(0.5)
print("answered after 0.5 s?", hung.done)"""),
    md("""\
Which Deferred is stuck, and on what? `lab.pending()` takes a snapshot, in the reactor thread, of
every Deferred that has not produced its result, and says what each one waits on."""),
    code("""\
snap = lab.pending()
print(snap.text())"""),
    code("""\
request = client.waiting[0]
print(snap.why(request))"""),
    md("""\
It waits on the connection, and the connection has been **silent** since the answer to `TWST`:
the server never answered. The server's `lineReceived` has no `else`. Before fixing it, the
second bug: what happens to the waiting request when the server goes away?"""),
    code("""\
lab.call(server.stopListening)
lab.call(lambda: client.transport.loseConnection())
await asyncio.sleep(0.3)
later = lab.pending()
print(later.why(request))
print("orphans:", [entry.label for entry in later.orphans])"""),
    md("""\
Now it is an **orphan**: the connection is gone, nothing in the process can fire it, and
`lab.wait` on it would hang forever. The client forgot its waiting requests in
`connectionLost`. An entry can be acted on: cancel it (or `fire(value)`, or `fire(failure=...)`,
or open it in the stepper with `step()`):"""),
    code("""\
later.entry(request).cancel()
try:
    hung.wait(5)
except defer.CancelledError:
    print("the hung request was cancelled:", hung.done)"""),
    md("""\
The fix, on both sides: the server answers every line, and the client fails every waiting request
when the connection is lost (and gives up after a timeout)."""),
    code("""\
from twisted.internet.error import ConnectionAborted


class FixedServer(QuoteServer):
    def lineReceived(self, symbol):
        if symbol in PRICES:
            self.sendLine(b"PRICE " + symbol + b" " + PRICES[symbol])
        else:
            self.sendLine(b"ERROR unknown symbol " + symbol)


class FixedClient(QuoteClient):
    def get(self, symbol, timeout=5):
        return super().get(symbol).addTimeout(timeout, reactor)

    def connectionLost(self, reason):
        waiting, self.waiting = self.waiting, deque()
        for d in waiting:
            d.errback(reason)


server = lab.call(serve, FixedServer)
client = lab.call(connect, server, FixedClient)
print(lab.call(client.get, "ACME"))"""),
    code("""\
def ask_then_drop_the_connection():
    request = client.get("TWST")
    client.transport.abortConnection()
    return request


try:
    lab.call(ask_then_drop_the_connection)
except ConnectionAborted:
    print("a request in flight fails with ConnectionAborted when the connection goes")
left = [e for e in lab.pending() if e.site and e.site.function.endswith(".get")]
print("Deferreds still waiting in get():", len(left))"""),
    md("""\
## 2. A leak, found by diffing snapshots

An echo service that also records an *audit* Deferred per line, to be fired when an auditor
acknowledges it. The auditor was never written. Under load, memory grows: one Deferred per
request. Two snapshots around a load test show which **group** (creation site) grows."""),
    code("""\
class AuditedEcho(LineReceiver):
    def lineReceived(self, line):
        audit = defer.Deferred()
        audit.addCallback(lambda ack: ack)
        self.factory.audits.append(audit)
        self.sendLine(line)


def serve_audited():
    factory = Factory.forProtocol(AuditedEcho)
    factory.audits = []
    return reactor.listenTCP(0, factory, interface="127.0.0.1")


audited = lab.call(serve_audited)
target = f"tcp:127.0.0.1:{audited.getHost().port}"
before = lab.pending()
report = lab.load_test(target, connections=20, requests=10, payload=b"ping\\r\\n", progress=False)
after = lab.pending()
print(report.summary()["requests"], "requests answered")
print(after.diff(before).text())"""),
    code("""\
key, was, now = after.diff(before).growing[0]
example = next(e for e in after if e.group == key)
print(after.why(example))"""),
    md("""\
The group that grew by exactly one per request is the leak, and `why` says what holds those
Deferreds: only the listening port's factory (its `audits` list), and no code ever fires them. The fix: do not keep a Deferred nobody will
fire. Verified the same way: no group grows under the same load."""),
    code("""\
class Echo(LineReceiver):
    def lineReceived(self, line):
        self.sendLine(line)


lab.call(audited.stopListening)
lab.call(lambda: audited.factory.audits.clear())
fixed = lab.call(serve, Echo)
before = lab.pending()
lab.load_test(f"tcp:127.0.0.1:{fixed.getHost().port}", connections=20, requests=10,
              payload=b"ping\\r\\n", progress=False)
after = lab.pending()
print("groups that grew:", [key for key, was, now in after.diff(before).growing])"""),
    md("""\
## 3. An error nobody saw

The seed's `print_time` forgets `import time`. In a plain notebook its `NameError` is raised in
the reactor thread and goes to a log nobody reads; the timer silently stops. The lab captures
every error in the reactor thread and shows a notice under the cell that scheduled the work:"""),
    code("""\
def print_time():
    print("Current time:", time.time())
    reactor.callLater(1, print_time)


lab.call(reactor.callLater, 0.1, print_time)
await asyncio.sleep(0.5)"""),
    code("""\
error = lab.reactor_errors()[-1]
print(error)
print(error.traceback.strip().splitlines()[-1])"""),
    md("""\
A failed Deferred that nobody handles is reported when it is garbage-collected ("Unhandled error
in Deferred"); with tracking on, the report names where that Deferred was made. The errors view
lists them all and shows new ones as they happen:"""),
    code("""\
import gc


def lose_a_failure():
    defer.Deferred().errback(ValueError("nobody handled this"))


lab.call(lose_a_failure)
lab.call(gc.collect)
await asyncio.sleep(0.2)
print(lab.reactor_errors()[-1])

from lab.widgets import ReactorErrorsView

ReactorErrorsView()"""),
    md("""\
## The wait graph

`snapshot.widget()` draws the wait graph: each pending Deferred (grouped by creation site when
there are many) points at what it waits on; orphans are red, old ones outlined in orange. Select
a node for its details; **Cancel**, **Fire** and **Trace** act on it; **Refresh** takes a new
snapshot. The same view is the *Pending* tab of `lab.dashboard()`."""),
    code("""\
def waits_of_every_kind():
    timer = defer.Deferred()
    reactor.callLater(60, timer.callback, "a minute later")
    lonely = defer.Deferred()
    both = defer.gatherResults([timer, lonely])
    return [timer, lonely, both]


kept = lab.call(waits_of_every_kind)
graph = lab.pending()
view = graph.widget()
view"""),
    code("""\
print(graph.why(kept[2]))
print(len(graph.graph().nodes), "nodes,", len(graph.graph().edges), "edges")"""),
    md("""\
When you are done: `view.close()`, `lab.track_deferreds(False)`, and stop the servers
(`lab.call(fixed.stopListening)`); a kernel shutdown stops the reactor too."""),
]

if __name__ == "__main__":
    write(CELLS, "07-debugging.ipynb")
