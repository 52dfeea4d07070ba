"""The lab's Twisted plugin package.

Every module here holds module-level plugin objects (see ``lab.interfaces``);
``twisted.plugin.getPlugins(ILabPlugin, lab.plugins)`` finds them.  Other
distributions may ship their own ``lab/plugins/*.py``: ``pluginPackagePaths``
adds every such folder on ``sys.path`` to this package's search path.
There is deliberately no other code here; Twisted imports every module in
this package when it scans it.
"""

from twisted.plugin import pluginPackagePaths

__path__.extend(pluginPackagePaths(__name__))
__all__ = []
