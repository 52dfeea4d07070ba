"""The plugin registry: Twisted's plugin discovery, plus the dependencies and error reports it lacks.

    registry = lab.plugins()                 # the process-wide registry
    registry.names()                         # ['chat', 'echo', 'memcached', ...]
    registry.info("echo")                    # name, description, provides, requires, status, error...
    echo = registry.load("echo")             # its dependencies first, then the plugin
    lab.plugins(paths=["my_plugins"])        # the same registry, now also scanning a folder

Discovery is ``twisted.plugin``'s: for each plugin package, ``getCache`` reads
(and rewrites) ``dropin.cache`` and imports the modules it has no fresh entry
for; then each cached plugin is adapted to :class:`~lab.interfaces.ILabPlugin`,
the loop of ``getPlugins``.  That loop is inlined here so that a plugin that
fails is attributed to its module and attribute, not only logged (and so that
an already-imported module's plugin is read without re-entering the import
machinery: warm discovery costs less than ``getPlugins``, see bench/plugins.py).
Twisted's own log output during the scan is captured and turned into
per-plugin errors (import failures) or registry notes (an unwritable cache).

The shipped plugin package is ``lab.dropins``.  A plain folder of plugin
modules becomes a plugin package by a module object made for it,
``lab.dropins.<folder>_<hash>``, whose ``__path__`` is the folder; its
modules import as ``lab.dropins.<folder>_<hash>.<module>``, and may import
each other with ``from . import helper``.

Twisted's traps that :meth:`PluginRegistry.rescan` steps around (DESIGN.md):
an edited module still in ``sys.modules`` would be used as it was, so changed
modules are evicted; a stale ``__pycache__`` file may survive an edit made in
the same second with the same size, so it is removed; a file edited within
the file system's timestamp granularity of a scan looks unchanged, so such
"racy" files are re-imported at the next scan; an unchanged package is not
re-scanned at all, so a read-only folder costs Twisted's "unable to write
dropin.cache" once, not on every call; and ``lab.dropins.__path__`` is
extended with folders that appeared on ``sys.path`` since it was computed.

One module per concern: ``_records`` (what the registry tells, errors with
their tracebacks), ``_twisted_log`` (Twisted's log during a scan),
``_packages`` (plugin packages), ``_freshness`` (stale modules, caches and
bytecode), ``_scan`` (one scan of one package), ``_dependencies`` (the
dependency graph) and ``_registry`` (the registry and ``plugins()``).
"""

from lab.plugin._dependencies import DependencyGraph
from lab.plugin._freshness import RACY_SECONDS
from lab.plugin._records import PluginInfo, ScanReport
from lab.plugin._registry import PluginRegistry, plugins

__all__ = ["plugins", "PluginRegistry", "PluginInfo", "ScanReport", "DependencyGraph", "RACY_SECONDS"]
