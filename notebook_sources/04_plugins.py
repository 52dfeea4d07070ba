"""Write notebooks/04-plugins.ipynb (without outputs) from the cells below.

    python notebook_sources/04_plugins.py     # or build.py for every notebook

The notebook is generated so that its text can be reviewed as code and it is
committed with no outputs; tests/test_nb_04_plugins.py executes it.
"""

from _notebook import write

CELLS = [
    ("md", """\
# Plugins: how Twisted finds them, and what the lab adds

Every protocol the lab serves (echo, chat, memcached, ...) is a **Twisted plugin**.
This notebook looks at Twisted's plugin system as it really is, corrects the seed
article where it goes wrong, and then uses the lab's registry to write a plugin here,
declare dependencies, meet a missing one and a cycle, and fix a broken plugin while
the kernel keeps running."""),
    ("md", """\
## What the seed article says, and what Twisted does

The article (section 3) describes a plugin *manager* that lazily loads plugins, calls an
`initialize()` method, and resolves dependencies declared by `getDependencies()`.
Checked against Twisted itself:

| the article | Twisted |
|---|---|
| plugins implement `IPlugin` with `initialize()` and `getDependencies()` | `IPlugin` is an empty marker interface: no methods at all |
| the manager loads dependencies first | there is **no** dependency mechanism in `twisted.plugin` |
| plugins are loaded lazily, only when needed | the *first* scan imports **every** module of the plugin package to build `dropin.cache`; later scans read the cache and import only the modules whose plugins you ask for |
| the manager scans paths for modules following a naming convention | `getPlugins(interface, package)` scans the folders of one *package's* `__path__`; any module-level object providing `IPlugin` and `interface` is a plugin |
| a failing plugin stops the load | an import error is **logged** and the plugin silently disappears |

Let's see each of these."""),
    ("code", """\
import twisted.plugin
from twisted.plugin import IPlugin, getPlugins

import lab

print("methods of IPlugin:", list(IPlugin.names()))
print("dependency helpers in twisted.plugin:",
      [n for n in dir(twisted.plugin) if "depend" in n.lower()])"""),
    ("md", """\
The lab's own plugin package is `lab/dropins/` (`lab.dropins`).  Raw Twisted finds its plugins
like this (the lab's registry, `lab.plugins()` below, finds the same ones):"""),
    ("code", """\
import os

import lab.dropins

found = sorted(p.name for p in getPlugins(lab.ILabPlugin, lab.dropins))
print("getPlugins found:", ", ".join(found))
print("cache written next to the modules:",
      os.path.exists(os.path.join(lab.dropins.__path__[0], "dropin.cache")))"""),
    ("md", """\
### Errors are logged, not raised

Here is a throw-away plugin *package* (Twisted needs an importable package) with one good
module and one with a syntax error.  `getPlugins` raises nothing: the broken module just
vanishes from the answer, and the only trace is in Twisted's log.  Until logging is set up,
Twisted also prints such errors on stderr as an "Unhandled Error" traceback; to keep that
out of this notebook, the scan runs in a child Python, which reports what `getPlugins`
returned, what Twisted logged, and the first line of what it printed."""),
    ("code", """\
import pathlib, subprocess, sys, tempfile, textwrap

scratch = pathlib.Path(tempfile.mkdtemp(prefix="lab-raw-"))
package = scratch / "raw_demo_plugins"
package.mkdir()
(package / "__init__.py").write_text("")
(package / "good.py").write_text(textwrap.dedent('''
    from lab import protocol_plugin
    good = protocol_plugin("good", "A plugin that imports.", factory="collections:OrderedDict")
'''))
(package / "bad.py").write_text("oops = (\\n")
sys.path.insert(0, str(scratch))

scan = textwrap.dedent('''
    from twisted.logger import globalLogPublisher
    from twisted.plugin import getPlugins
    import lab
    import raw_demo_plugins

    logged = []
    globalLogPublisher.addObserver(logged.append)
    names = [p.name for p in getPlugins(lab.ILabPlugin, raw_demo_plugins)]
    print("getPlugins returned:", names)
    failures = [e["failure"].value for e in logged if "failure" in e]
    print("Twisted logged:", [f"{type(f).__name__}: {f}" for f in failures])
''')
child = subprocess.run([sys.executable, "-c", scan], cwd=scratch, capture_output=True,
                       text=True, timeout=120)
print(child.stdout, end="")
print("and printed on its stderr:", (child.stderr.splitlines() or ["nothing"])[0])"""),
    ("md", """\
## The lab's registry

`lab.plugins()` is one registry per process.  It still discovers through `twisted.plugin`
(and its `dropin.cache`), and adds what Twisted lacks:

- **plain folders**: `lab.plugins(paths=[folder])` adds a folder of plugin modules, no
  `__init__.py` and no `sys.path` change needed; the folder stays added;
- **declared dependencies**: `requires=[...]`, loaded first, in topological order, with
  `lab.MissingDependency` and `lab.DependencyCycle` naming the chain;
- **errors per plugin**, with their traceback, instead of a line in a log;
- **`rescan()`** that sees files written or edited while the kernel runs.

Let's write a plugin into a fresh folder with `%%writefile`."""),
    ("code", """\
folder = pathlib.Path(tempfile.mkdtemp(prefix="lab-plugins-"))
registry = lab.plugins(paths=[folder])
print("plugin folder:", folder)
print("plugins so far:", ", ".join(registry.names()))"""),
    ("code", """\
%%writefile {folder}/hello.py
from twisted.internet.protocol import Factory, Protocol

from lab import protocol_plugin


class Hello(Protocol):
    def connectionMade(self):
        self.transport.write(b"hello, plugin world\\r\\n")


class HelloFactory(Factory):
    protocol = Hello


hello = protocol_plugin("hello", "Greets every client, then listens.", factory=HelloFactory)"""),
    ("code", """\
print(registry.rescan())
info = registry.info("hello")
print(info.name, "|", info.description, "|", info.status)
print("provides:", ", ".join(info.provides))
print("module:", info.module)
print("origin:", info.origin)"""),
    ("md", """\
`load()` returns the plugin object, which builds the server factory.  A factory needs no
reactor to be tried: Twisted's `StringTransport` stands in for a connection."""),
    ("code", """\
from twisted.internet.testing import StringTransport

plugin = registry.load("hello")
protocol = plugin.build_factory().buildProtocol(None)
transport = StringTransport()
protocol.makeConnection(transport)
print("the server said:", transport.value())
print("status:", registry.info("hello").status)"""),
    ("md", """\
## Dependencies

`fancy` requires `hello` and `auth`.  There is no `auth` yet."""),
    ("code", """\
%%writefile {folder}/fancy.py
from lab import protocol_plugin

fancy = protocol_plugin("fancy", "Needs hello and auth.", factory="collections:OrderedDict",
                        requires=["hello", "auth"])"""),
    ("code", """\
registry.rescan()
try:
    registry.load("fancy")
except lab.MissingDependency as error:
    print("MissingDependency:", error)
    print("chain:", error.chain)
print("status:", registry.info("fancy").status)"""),
    ("md", """\
Two plugins that require each other can never load: neither can go first."""),
    ("code", """\
%%writefile {folder}/pingpong.py
from lab import protocol_plugin

ping = protocol_plugin("ping", "Needs pong.", factory="collections:OrderedDict", requires=["pong"])
pong = protocol_plugin("pong", "Needs ping.", factory="collections:OrderedDict", requires=["ping"])"""),
    ("code", """\
registry.rescan()
try:
    registry.load("ping")
except lab.DependencyCycle as error:
    print("DependencyCycle:", error)
print("statuses:", registry.info("ping").status, registry.info("pong").status)"""),
    ("md", """\
Now provide `auth`; `fancy` loads, after what it requires."""),
    ("code", """\
%%writefile {folder}/auth.py
from lab import protocol_plugin

auth = protocol_plugin("auth", "Pretends to check passwords.", factory="collections:OrderedDict")"""),
    ("code", """\
print(registry.rescan())
print("load order:", registry.order(["fancy"]))
print("hello is still", registry.info("hello").status)
registry.load("fancy")
print("fancy is", registry.info("fancy").status)"""),
    ("md", """\
## A broken plugin, fixed while the kernel runs

A typo in a plugin module: the registry reports it on that plugin, with the traceback,
and every other plugin keeps working."""),
    ("code", """\
%%writefile {folder}/shout.py
from lab import protocol_plugin

shout = protocol_plugin("shout", "Upper-cases everything.", factory="collections:OrderedDict"""),
    ("code", """\
print(registry.rescan())
info = registry.info("shout")
print("status:", info.status)
print(info.error)
print(info.error.traceback)
print("hello still loads:", registry.load("hello").name)"""),
    ("code", """\
%%writefile {folder}/shout.py
from lab import protocol_plugin

shout = protocol_plugin("shout", "Upper-cases everything.", factory="collections:OrderedDict")"""),
    ("code", """\
print(registry.rescan())
registry.load("shout")
print("shout is", registry.info("shout").status)"""),
    ("md", """\
Editing a plugin that is loaded reloads it: `rescan()` imports the module again and loads
the new version in place of the old one."""),
    ("code", """\
%%writefile {folder}/hello.py
from twisted.internet.protocol import Factory, Protocol

from lab import protocol_plugin


class Hello(Protocol):
    def connectionMade(self):
        self.transport.write(b"hello again, edited plugin\\r\\n")


class HelloFactory(Factory):
    protocol = Hello


hello = protocol_plugin("hello", "Greets every client, then listens.", factory=HelloFactory)"""),
    ("code", """\
print(registry.rescan())
protocol = registry.get("hello").build_factory().buildProtocol(None)
transport = StringTransport()
protocol.makeConnection(transport)
print("the server says now:", transport.value(), "| status:", registry.info("hello").status)"""),
    ("md", """\
What `rescan()` had to step around, each a trap of `twisted.plugin` inside a long-running kernel:

- the edited module was still in `sys.modules`, so importing it again would have returned the
  old one: the registry evicts modules whose file changed (and their siblings, which may hold
  the old objects);
- a `__pycache__` file written in the same second, for a file of the same size, would be
  taken as current: it is removed;
- an edit within the file system's timestamp granularity leaves the mtime unchanged: files
  modified within 2 s of a scan are re-imported at the next one;
- `dropin.cache` is trusted while it is newer than the files: a file copied with an old date
  is older than the cache, so that cache is removed;
- in a read-only folder Twisted cannot write `dropin.cache` and says so on every scan: the
  registry scans a folder again only when one of its files changed.

## The plugin browser

`registry.browser()` (or `registry` as the last line of a cell) shows every plugin with its
status, the details and traceback of the chosen one, Load / Unload / Rescan buttons, and the
dependency graph: a plugin is drawn right of what it requires, missing plugins are dashed,
the edges of a cycle are red."""),
    ("code", """\
browser = registry.browser()
browser.chooser.value = "fancy"
browser"""),
    ("code", """\
from IPython.display import HTML

HTML(browser.graph.value)"""),
    ("code", """\
import shutil

sys.path.remove(str(scratch))
shutil.rmtree(scratch)
shutil.rmtree(folder)
print("removed the scratch folders")"""),
]



if __name__ == "__main__":
    write(CELLS, "04-plugins.ipynb")
