"""Views: ipywidgets over the lab's model.  Views only show and forward clicks.

Each panel lives in its own module; this package imports none of them until
asked, so ``import lab.widgets`` stays cheap.
"""

from importlib import import_module

_EXPORTS = {
    "dashboard": "lab.widgets.dashboard",
    "StatusPanel": "lab.widgets.status",
    "PluginBrowser": "lab.widgets.plugin_browser",
}

__all__ = list(_EXPORTS)


def __getattr__(name):
    """Import the module that defines a view on first use."""
    try:
        module = _EXPORTS[name]
    except KeyError:
        raise AttributeError(f"module 'lab.widgets' has no attribute {name!r}") from None
    return getattr(import_module(module), name)
