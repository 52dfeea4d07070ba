"""Protocol Lab: learn and debug network protocols on Twisted, interactively, in Jupyter.

Everything a notebook needs is a top-level name of this package.  Names are
resolved lazily, so ``import lab`` stays cheap and imports no reactor, no
crochet and no widgets until a name that needs them is used.

    import lab
    lab.start()                      # the reactor, in a background thread
    lab.plugins().names()            # protocol plugins found by twisted.plugin
    echo = lab.listen("echo")        # a TCP echo server on 127.0.0.1
    lab.trace(d)                     # every stage of a Deferred's chain
"""

from importlib import import_module

from lab import display as _display
from lab._version import __version__

# The views layer registers the displays of lower layers (lab.display); it is
# imported the first time one is asked for, never by the lower layers.
_display.add_view_provider("lab.widgets")

# Public name -> module that defines it.  One table, so the public surface
# can be read in one place and each layer is imported only when used.
_EXPORTS = {
    # reactor bridge
    "start": "lab.bridge",
    "call": "lab.bridge",
    "submit": "lab.bridge",
    "wait": "lab.bridge",
    "LabError": "lab.errors",
    "LabTimeout": "lab.errors",
    "WrongThread": "lab.errors",
    "ReactorNotRunning": "lab.errors",
    # Deferred tracing and stepping
    "trace": "lab.deferreds",
    "step": "lab.deferreds",
    "Trace": "lab.deferreds",
    "Stepper": "lab.deferreds",
    # plugins
    "plugins": "lab.plugin",
    "ILabPlugin": "lab.interfaces",
    "IProtocolPlugin": "lab.interfaces",
    "protocol_plugin": "lab.interfaces",
    "PluginError": "lab.errors",
    "MissingDependency": "lab.errors",
    "DependencyCycle": "lab.errors",
    # listeners, clients, traffic, reactor view
    "listen": "lab.model",
    "listeners": "lab.model",
    "connect": "lab.model",
    "load_test": "lab.model",
    "reactor_state": "lab.model",
    "Listener": "lab.model",
    "Client": "lab.model",
    "ListenError": "lab.model",
    "EndpointError": "lab.model",
    "RemoteNotAllowed": "lab.model",
    "ClientError": "lab.model",
    "ConnectionClosed": "lab.model",
    # the simulated network
    "simulation": "lab.simulator",
    "Simulation": "lab.simulator",
    # intercepting proxies
    "proxy": "lab.model",
    "proxies": "lab.model",
    "Proxy": "lab.model",
    "ProxyError": "lab.model",
    # live inspection: pending Deferreds, reactor-thread errors
    "pending": "lab.inspect",
    "track_deferreds": "lab.inspect",
    "reactor_errors": "lab.inspect",
    "Snapshot": "lab.inspect",
    # a classroom: listeners private to their owner, limits a teacher sets
    "teacher_limits": "lab.model",
    "LimitReached": "lab.model",
    "PrivacyUnavailable": "lab.model",
    # the all-in-one view
    "dashboard": "lab.widgets",
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name):
    """Import the module that defines a public name on first use."""
    try:
        module = _EXPORTS[name]
    except KeyError:
        raise AttributeError(f"module 'lab' has no attribute {name!r}") from None
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))
