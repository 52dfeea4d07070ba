"""Views: ipywidgets over the lab's model.  Views only show and forward clicks.

Each panel lives in its own module; this package imports none of them until
asked, so ``import lab.widgets`` stays cheap.
"""

from importlib import import_module

from lab import display as _display

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
    "SimulationView": "lab.widgets.simulation",
    "ProxyPanel": "lab.widgets.proxy_view",
    "WaitGraphView": "lab.widgets.wait_graph",
    "ReactorErrorsView": "lab.widgets.reactor_errors_view",
}

__all__ = list(_EXPORTS)


def _plugin_browser(registry):
    """The plugin browser of a registry (lab.plugin asks for it through lab.display)."""
    return import_module("lab.widgets.plugin_browser").PluginBrowser(registry)


def _chain_view(chain):
    """The chain view of a Trace or Stepper (lab.deferreds asks for it through lab.display)."""
    return import_module("lab.widgets.deferreds").ChainView(chain)


_display.register_view("plugin registry", _plugin_browser)
_display.register_view("deferred chain", _chain_view)
_display.register_view("simulation", lambda sim: import_module(
    "lab.widgets.simulation").SimulationView(sim))
_display.register_view("proxy", lambda proxy: import_module(
    "lab.widgets.proxy_view").ProxyPanel(proxy))
_display.register_view("load progress", lambda total: import_module(
    "lab.widgets.load_progress").LoadProgress(total))
_display.register_view("pending snapshot", lambda snapshot: import_module(
    "lab.widgets.wait_graph").WaitGraphView(snapshot=snapshot))
_display.register_view("reactor errors", lambda errors: import_module(
    "lab.widgets.reactor_errors_view").ReactorErrorsView())


def __getattr__(name):
    """Import the module that defines a view on first use."""
    try:
        module = _EXPORTS[name]
    except KeyError:
        raise AttributeError(f"module 'lab.widgets' has no attribute {name!r}") from None
    return getattr(import_module(module), name)
