"""Write notebooks/06-custom-protocol.ipynb (without outputs) from the cells below.

    python notebook_sources/06_custom_protocol.py     # or build.py for every notebook
"""
from _notebook import code, md, write

NAIVE = '''%%writefile {folder}/shout.py
"""The shout protocol, first attempt: one dataReceived call taken as one request."""
from twisted.internet.protocol import Factory, Protocol
from lab import protocol_plugin


class Shout(Protocol):
    def dataReceived(self, data):
        length, _, rest = data.partition(b":")
        command, _, argument = rest[:-1].partition(b":")
        if command == b"PING":
            reply = b"PONG"
        elif command == b"UPPER":
            reply = b"OK:" + argument.upper()
        else:
            reply = b"ERR:unknown command " + command
        self.transport.write(b"%d:%s," % (len(reply), reply))


def make_factory():
    return Factory.forProtocol(Shout)


# The plugin object: cheap metadata. factory= names the implementation by path;
# __name__ is this module's own importable name, whatever folder it lives in.
shout = protocol_plugin(
    "shout", "Netstring request/response: PING, UPPER, REVERSE.",
    factory=__name__ + ":make_factory",
)
'''
FIXED = '''%%writefile {folder}/shout.py
"""The shout protocol: netstring framing by Twisted, a bound on frame size, every command."""
from twisted.internet.protocol import Factory
from twisted.protocols.basic import NetstringReceiver
from lab import protocol_plugin


class Shout(NetstringReceiver):
    MAX_LENGTH = 1000          # a bigger frame closes the connection: memory stays bounded

    def stringReceived(self, request):
        command, _, argument = request.partition(b":")
        if command == b"PING":
            self.sendString(b"PONG")
        elif command == b"UPPER":
            self.sendString(b"OK:" + argument.upper())
        elif command == b"REVERSE":
            self.sendString(b"OK:" + argument[::-1])
        else:
            self.sendString(b"ERR:unknown command " + command)


def make_factory():
    return Factory.forProtocol(Shout)


shout = protocol_plugin(
    "shout", "Netstring request/response: PING, UPPER, REVERSE.",
    factory=__name__ + ":make_factory",
)
'''
CELLS = [
 md("# Exercise: your own protocol, as a plugin\n\n"
    "You will write **shout**, a small request/response protocol with framing, as a lab plugin; serve it; talk to it; "
    "let a checker tell you what is still wrong; fix it; and step the Deferred chain of a client request.\n\n"
    "**The protocol.** Every message, both ways, is a [netstring](https://cr.yp.to/proto/netstrings.txt): "
    "`<length>:<bytes>,` such as `4:PING,`.\n\n"
    "| request | reply |\n|---|---|\n| `PING` | `PONG` |\n| `UPPER:<text>` | `OK:<TEXT>` |\n"
    "| `REVERSE:<text>` | `OK:<txet>` |\n| anything else | `ERR:unknown command <COMMAND>` |\n\n"
    "A frame longer than 1,000 bytes, or a malformed frame, closes the connection."),
 code("import tempfile\n\nimport lab\nfrom lab.exercises import check_shout, netstring\n\n"
      "lab.start()\nfolder = tempfile.mkdtemp(prefix='my-plugins-')\n"
      "registry = lab.plugins(paths=[folder])   # the lab now also scans this folder\nprint('plugins go in', folder)"),
 md("## A first attempt\n\nMost first attempts parse in `dataReceived`, as if each call brought exactly one request. Write it as a plugin module:"),
 code(NAIVE),
 code("report = registry.rescan()\nprint('added:', report.added, 'reloaded:', report.reloaded)\nregistry.info('shout')"),
 md("Serve it and try it by hand: one request, one reply. It seems to work."),
 code("server = lab.listen('shout', name='shout')\nclient = lab.connect(server)\nclient.send(netstring('PING'))\n"
      "print('reply to PING:', client.read(timeout=2))\nclient.close()"),
 md("## What the checker says\n\n`check_shout` talks to your server over plain sockets and says, check by check, what is wrong and what to do."),
 code("first = check_shout(server)\nprint(first)"),
 md("TCP is a byte *stream*: two requests may arrive in one `dataReceived` call, and one request may arrive in three. "
    "Look at what the checker sent, as the server saw it: each row is one `dataReceived` call, with its size and where "
    "it starts in the stream. Pick a connection in the dropdown, or search for `PING`."),
 code("from lab.widgets import ConversationView\nConversationView(server, live=False)"),
 md("### The same checks in a simulation\n\n"
    "Over real sockets, whether two requests share a segment, or one is split, depends on timing. "
    "In a simulation (`lab.simulation()`) each write is its own segment and nothing depends on timing: "
    "the checker gives the same verdict every run. With `fragment=1` every byte arrives on its own, "
    "so a server that parses in `dataReceived` fails even `PING`, every time."),
 code("print(check_shout('shout', simulation=True))\n"
      "print(check_shout('shout', simulation=lab.simulation(fragment=1)))"),
 md("## Fix it\n\nLet Twisted do the framing: `NetstringReceiver` buffers bytes, calls `stringReceived` once per complete frame, "
    "and drops the connection when a frame is longer than `MAX_LENGTH` or malformed. Edit the module and rescan: the registry "
    "reloads the edited module, and `lab.listen` under the same name replaces the old server."),
 code(FIXED),
 code("print('reloaded:', registry.rescan().reloaded)\nserver = lab.listen('shout', name='shout')\nsecond = check_shout(server)\nprint(second)"),
 code("second"),
 code("fragmented = check_shout('shout', simulation=lab.simulation(fragment=1))\nprint(fragmented)"),
 md("## Step a request's Deferred chain\n\nA client that returns a Deferred per request, made in the reactor thread; the chain decodes the reply and checks it. "
    "Step it in the widget below (Step, Run, Run to next Failure), or programmatically:"),
 code("from twisted.internet import defer, reactor\nfrom twisted.internet.endpoints import TCP4ClientEndpoint, connectProtocol\n"
      "from twisted.protocols.basic import NetstringReceiver\n\n\n"
      "class ShoutClient(NetstringReceiver):\n"
      "    def connectionMade(self):\n        self.waiting = []\n\n"
      "    def request(self, text):\n        self.waiting.append(defer.Deferred())\n"
      "        self.sendString(text.encode())\n        return self.waiting[-1]\n\n"
      "    def stringReceived(self, reply):\n        self.waiting.pop(0).callback(reply)\n\n\n"
      "def check_ok(reply):\n    status, _, text = reply.partition(':')\n"
      "    if status != 'OK':\n        raise ValueError(f'server said {reply!r}')\n    return text\n\n\n"
      "endpoint = TCP4ClientEndpoint(reactor, server.host, server.port)\n"
      "shout_client = lab.call(connectProtocol, endpoint, ShoutClient())\n\n\n"
      "def ask(text):\n"
      "    # Runs in the reactor thread: the request and its chain are made there.\n"
      "    d = shout_client.request(text)\n"
      "    d.addCallback(bytes.decode)\n    d.addCallback(check_ok)\n"
      "    d.addErrback(lambda failure: f'refused: {failure.value}')\n"
      "    return d\n\n\n"
      "good = lab.step(ask, 'UPPER:hello', runner=lab.call)\n"
      "display(good.widget())\n"
      "first = good.step(timeout=10)    # waits for the reply, then runs one stage in the reactor\n"
      "print('first stage:', first.name, '->', first.output)\n"
      "good.run(timeout=10)\n"
      "print('result:', good.result)"),
 code("bad = lab.step(ask, 'BOGUS:x', runner=lab.call)\n"
      "bad.run(timeout=10)\n"
      "print('path:', [stage.ran for stage in bad.stages])\n"
      "print('result:', bad.result)\n"
      "bad"),
 md("The unknown command made `check_ok` raise; the errback recovered with a value, so the chain ended on the callback side again. "
    "Now extend the protocol yourself (a `COUNT:<text>` command, say), add a check for it, and step its chain."),
 code("server.stop()\nprint('stopped; port', server.port, 'is free again')"),
]

if __name__ == "__main__":
    write(CELLS, "06-custom-protocol.ipynb")
