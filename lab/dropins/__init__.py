"""The lab's Twisted plugin package: the plugins the lab ships, and other distributions'.

Every module here holds module-level plugin objects (see ``lab.interfaces``);
``twisted.plugin.getPlugins(ILabPlugin, lab.dropins)`` finds them, and so
does the registry, ``lab.plugins()``.  Other distributions may ship their own
``lab/dropins/*.py``: ``pluginPackagePaths`` adds every such folder on
``sys.path`` to this package's search path.  Twisted imports every module in
this package when it scans it, so nothing else happens here.
"""

from twisted.plugin import pluginPackagePaths

__path__.extend(pluginPackagePaths(__name__))
__all__: list[str] = []
