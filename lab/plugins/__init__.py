"""The lab's Twisted plugin package.

Every module here holds module-level plugin objects (see ``lab.interfaces``);
``twisted.plugin.getPlugins(ILabPlugin, lab.plugins)`` finds them.  Other
distributions may ship their own ``lab/plugins/*.py``: ``pluginPackagePaths``
adds every such folder on ``sys.path`` to this package's search path.
Twisted imports every module in this package when it scans it, so nothing
but that happens here, and one fix of a name clash below: ``lab.plugins(...)``
(this package, called) returns the plugin registry.
"""

import sys
import types

from twisted.plugin import pluginPackagePaths

__path__.extend(pluginPackagePaths(__name__))
__all__ = []


class _CallablePackage(types.ModuleType):
    """This package, callable: ``lab.plugins(paths=None)`` returns the plugin registry.

    Why: the public function ``lab.plugins`` and this package share one name.
    Importing the package binds the attribute ``lab.plugins`` to it, and
    Twisted resolves ``lab.plugins.echo`` by attributes (``namedAny``), so a
    plain function bound there would break discovery, and the package bound
    there would hide the function.  One object that is both avoids either.
    """

    def __call__(self, paths=None):
        """Return the process-wide plugin registry; see :func:`lab.plugin.registry`."""
        from lab.plugin import registry

        return registry(paths)


sys.modules[__name__].__class__ = _CallablePackage
