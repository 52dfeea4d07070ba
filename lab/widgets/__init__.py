"""Views: ipywidgets over the lab's model.  Views only show and forward clicks.

Each panel lives in its own module; this package imports none of them until
asked, so ``import lab.widgets`` stays cheap.
"""

from importlib import import_module

# A module must not share its name with a name exported here: once imported,
# the submodule attribute would shadow the name (hence dashboard_view.py).
_EXPORTS = {
    "dashboard": "lab.widgets.dashboard_view",
    "StatusPanel": "lab.widgets.status",
    "Dashboard": "lab.widgets.dashboard_view",
    "PluginBrowser": "lab.widgets.plugin_browser",
    "ListenersPanel": "lab.widgets.listeners",
    "ConversationView": "lab.widgets.conversation",
    "ClientConsole": "lab.widgets.client_console",
    "ReactorView": "lab.widgets.reactor_view",
    "ChainView": "lab.widgets.deferreds",
    "ProtocolStepper": "lab.widgets.protocol_stepper",
}

__all__ = list(_EXPORTS)


def __getattr__(name):
    """Import the module that defines a view on first use."""
    try:
        module = _EXPORTS[name]
    except KeyError:
        raise AttributeError(f"module 'lab.widgets' has no attribute {name!r}") from None
    return getattr(import_module(module), name)
