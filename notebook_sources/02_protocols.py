"""Write notebooks/02-protocols.ipynb (without outputs) from the cells below.

    python notebook_sources/02_protocols.py     # or build.py for every notebook

tests/test_nb_02_protocols.py executes it in a real kernel.
"""

from _notebook import write

CELLS = [
    ("md", """\
# Protocols, factories and transports

Three objects make a Twisted server:

* a **Protocol** handles *one* connection: `connectionMade()`, `dataReceived(data)` for each chunk
  of bytes that arrives (chunks follow the network, not your messages), `connectionLost(reason)`;
* a **Factory** builds one protocol per new connection and holds what they share;
* a **Transport** is the protocol's handle on the connection: `write(bytes)`, `loseConnection()`,
  `getPeer()`, `getHost()`.

`lab.listen(...)` starts a server in the reactor thread and **wiretaps** every connection, so
you can watch the traffic."""),
    ("code", """\
import lab

lab.start()"""),
    ("md", """\
## The seed's echo server

The article's example:

```python
class EchoProtocol(Protocol):
    def connectionMade(self):
        print("Connected to client")
        self.transport.loseConnection()
    def dataReceived(self, data):
        print("Received data:", data.decode())
        self.transport.write(data)
factory = Factory(); factory.protocol = EchoProtocol
reactor.listenTCP(12345, factory); reactor.run()
```

It never echoes: `connectionMade` hangs up straight away. Also, `listenTCP(12345, ...)` listens on
every network interface, `reactor.run()` blocks the notebook, `data.decode()` fails on bytes that
are not UTF-8, and `print` from the reactor thread lands in whatever cell runs at the time.
Here is what a client sees:"""),
    ("code", """\
from twisted.internet.protocol import Factory, Protocol

class SeedEcho(Protocol):
    def connectionMade(self):
        self.transport.loseConnection()     # the seed's bug
    def dataReceived(self, data):
        self.transport.write(data)

seed = lab.listen(Factory.forProtocol(SeedEcho), name="seed-echo")
client = lab.connect(seed)
try:
    client.send("hello?\\r\\n")
except lab.ConnectionClosed as error:   # the server may have hung up already
    print("send refused:", error)
print("reply:", client.read(timeout=1))
print("closed:", client.closed_reason)"""),
    ("md", """\
Done right: keep the connection open, write back what arrives, count instead of printing, and
let the lab listen on 127.0.0.1 on a free port."""),
    ("code", """\
class EchoProtocol(Protocol):
    def connectionMade(self):
        self.factory.connections += 1
    def dataReceived(self, data):
        self.transport.write(data)

factory = Factory.forProtocol(EchoProtocol)
factory.connections = 0
echo = lab.listen(factory, name="seed-echo")    # same name: the broken one is replaced
print(echo)
print("seed listener still running?", seed.running)"""),
    ("code", """\
client = lab.connect(echo)
client.send("hello, reactor\\r\\n")
print(client.read_until(b"\\r\\n"))
client.send(bytes([0, 255, 10]))                # any bytes, not just text
print(client.read_until(b"\\n"))
print("connections counted by the factory:", factory.connections)"""),
    ("md", """\
## The transport

Each connection's transport knows both ends. The listener's wiretap keeps a table of
connections, and the client keeps a transcript of what it sent and received."""),
    ("code", """\
(conn,) = echo.connections
print("client side:", conn.peer, "-> server side:", conn.local)
print("bytes in:", conn.bytes_in, "out:", conn.bytes_out)
print(client.transcript)
client.close()"""),
    ("md", """\
## A chat room

The shipped `chat` plugin is a `LineReceiver` (Twisted splits the byte stream into lines for it)
over a small pure core that knows nicknames and who hears what. A line longer than `max_line`
bytes gets you disconnected: a server must never buffer without bound."""),
    ("code", """\
chat = lab.listen("chat", max_line=200)

def join(nick):
    person = lab.connect(chat)
    person.read_until(b"\\r\\n")                  # the welcome line
    person.send(f"/nick {nick}\\r\\n")
    print(nick, "hears:", person.read_until(b"\\r\\n"))
    return person

ada = join("ada")
bob = join("bob")
print("ada hears:", ada.read_until(b"\\r\\n"))
ada.send("hello bob\\r\\n")
print("bob hears:", bob.read_until(b"\\r\\n"))
bob.send("/who\\r\\n")
print("bob asks /who:", bob.read_until(b"\\r\\n"))"""),
    ("code", """\
ada.send(b"x" * 500)                            # no newline, too long
try:
    ada.read_until(b"never", timeout=3)
except lab.LabError as error:
    print(type(error).__name__, "-", ada.closed_reason)
print("bob hears:", bob.read_until(b"\\r\\n"))"""),
    ("md", """\
### Three members in a simulated network

The same chat plugin runs unchanged in a simulation (`lab.simulation()`): four hosts, in-memory
links with 10 ms of latency, virtual time, and every message drawn as an arrow labelled by the
plugin's decoder. Nothing here depends on timing: run it again and you get the same log."""),
    ("code", """\
sim = lab.simulation(seed=1)
room = sim.listen("chat", 6667, host="server")
members = {nick: sim.connect(room, host=nick) for nick in ("ada", "bob", "cy")}
sim.run_until_idle()
for nick, member in members.items():
    member.send(f"/nick {nick}\\r\\n")
sim.run_until_idle()
members["ada"].send("hello, both of you\\r\\n")
sim.run_until_idle()
for nick, member in members.items():
    print(f"{nick:3} last heard: {member.lines()[-1]}")
for member in members.values():
    member.read()                               # mark everything as read
sim.diagram()"""),
    ("md", """\
Now cut `cy` off from the server. TCP does not lose bytes: across a partition they wait (a real
stack would retransmit), so `cy` hears nothing until the network heals, then everything, in order."""),
    ("code", """\
sim.partition("cy", "server")
members["ada"].send("cy, are you there?\\r\\n")
sim.advance(5)
for nick, member in members.items():
    print(f"during the partition {nick:3} hears: {member.read()!r}")
print("waiting:", *[p for p in sim.pending() if p.held], sep="\\n  ")
sim.heal()
sim.run_until_idle()
print("after heal, cy hears:", members["cy"].read())
sim.diagram()"""),
    ("md", """\
## UDP

UDP has no connections, only datagrams. The same `echo` plugin serves UDP when the endpoint says
so; the client reads one datagram at a time."""),
    ("code", """\
udp = lab.listen("echo", "udp:0", name="echo-udp")
shout = lab.connect(udp)
for word in ("one", "two", "three"):
    shout.send(word)
print([shout.read() for _ in range(3)])
shout.close()
print([(e.kind, e.data) for e in udp.capture.events()][:4])"""),
    ("md", """\
## Watching the traffic

Every listener captures its connections: each event has a `kind` (`connect`, `in`, `out`,
`close`), a `connection`, a `time` and `data`. The capture is a ring buffer with limits on events
and bytes, and says how many events it dropped."""),
    ("code", """\
for event in chat.capture.events(connection=2)[:6]:
    print(f"#{event.connection} {event.kind:7} {event.data!r} {event.reason}")
print(chat.capture)"""),
    ("md", """\
The conversation view shows it live, per connection, as text, hex or decoded by the plugin's
decoder (the chat plugin has one):"""),
    ("code", """\
from lab.widgets.conversation import ConversationView

conversation = ConversationView(chat, mode="decoded")
conversation"""),
    ("md", """\
Export a capture as a `.pcap` file that Wireshark and tshark open, and replay what a client sent
against a listener:"""),
    ("code", """\
import pathlib, tempfile

pcap = chat.capture.write_pcap(pathlib.Path(tempfile.gettempdir()) / "chat.pcap", overwrite=True)
print("wrote", pcap.name, pcap.stat().st_size, "bytes")

fresh = lab.listen("chat", name="chat-replay")  # a new room, where 'bob' is free
again = chat.replay(2, fresh)                   # bob's session, sent again
print(again.read_until(b"you are now bob\\r\\n", timeout=3).decode().splitlines()[-1])
again.close()"""),
    ("md", """\
The listeners panel starts servers from any plugin; each running listener has its own row,
with its own **Stop**.  The client console sends text or hex (press Enter or **Send**) and
keeps a transcript that follows the newest line.  The cell below sent three things for you,
the last one a mistake, so the console shows its error in red.  Type your own line and press
Enter; switch to **hex** and send `68 69 0d 0a`."""),
    ("code", """\
from lab.widgets.client_console import ClientConsole
from lab.widgets.listeners import ListenersPanel

panel = ListenersPanel()
console = ClientConsole(echo)
console.send("typed in the console")
console.mode.value = "hex"
console.send("68 65 78 21")                     # 'hex!'
console.send("not hex")                         # shows an error in the console
display(panel, console)"""),
    ("md", """\
## Load

`lab.load_test` opens many connections at once from the reactor and times each request. The
progress bar is updated from the reactor thread while the cell waits."""),
    ("code", """\
target = lab.listen("echo", name="load-target")   # its own: the console's server keeps serving
report = lab.load_test(target, connections=100, requests=20,
                       payload=b"ping\\r\\n", verify=True)
report"""),
    ("code", """\
print(f"{report.requests} requests, {report.errors} errors, "
      f"peak {report.peak_open} open connections")"""),
    ("md", """\
Stop what you no longer need; the rest stops when the kernel shuts down (or all at once with
`lab.model.stop_all()`). The panels above stay live meanwhile."""),
    ("code", """\
target.stop()
print("still running:", sorted(listener.name for listener in lab.listeners()))"""),
    ("md", """\
## Safe by default

A listener binds loopback unless you pass `allow_remote=True`, however the endpoint is written.
A client that sends without reading its replies cannot fill the kernel's memory: the wiretap
stops reading from it until it reads (Twisted's producer/consumer back-pressure), and the
capture says so in `limits` (the panel's *limited* column). A call that times out before the
reactor started it never runs; one that did start is reported as still running."""),
    ("code", """\
import select, socket, threading

try:
    lab.listen("echo", r"tcp:0:backlog=50\\:interface=0.0.0.0", name="wide")
except lab.LabError as error:
    print("refused:", type(error).__name__)

guarded = lab.listen("echo", name="guarded")
hog = socket.create_connection(("127.0.0.1", guarded.port))   # sends, never reads
hog.setblocking(False)
sent = 0
while sent < 256 * 1024 * 1024 and select.select([], [hog], [], 1.0)[1]:
    sent += hog.send(b"x" * 65536)
print(f"the client got {sent / 2**20:.0f} MiB in, then the server stopped reading")
print("limits:", guarded.capture.limits[0].what)
hog.close()

gate, ran = threading.Event(), []
lab.submit(gate.wait, 5)                        # keep the reactor busy for a moment
try:
    lab.call(ran.append, "late", timeout=0.2)
except lab.LabTimeout as error:
    print("started?", error.started)
gate.set()
lab.call(lambda: None)
print("ran:", ran)
guarded.stop()"""),
]



if __name__ == "__main__":
    write(CELLS, "02-protocols.ipynb")
