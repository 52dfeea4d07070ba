"""Display hooks: a lower layer shows itself through a view that the widgets layer registers.

Arrows point down: the plugin registry and the Deferred tracer never import
``lab.widgets``.  They ask this module for the view of a *kind* of object::

    display.view("plugin registry", registry)      # -> a PluginBrowser

and ``lab.widgets`` registers a factory for each kind when it is imported::

    display.register_view("plugin registry", make_plugin_browser)

So that a notebook that only did ``import lab`` still gets its views, the
top of the package (``lab/__init__.py``, which already names every layer)
names the module that registers them: it is imported the first time a kind
has no view yet.  This module knows no layer above it.
"""

from collections.abc import Callable
from importlib import import_module
from typing import Any

from lab.errors import LabError

__all__ = ["register_view", "add_view_provider", "view", "NoView"]

_factories: dict[str, Callable[[Any], Any]] = {}
_providers: list[str] = []


class NoView(LabError, LookupError):
    """No view is registered for a kind of object (the widgets layer was not installed)."""


def register_view(kind: str, factory: Callable[[Any], Any]) -> None:
    """Make ``factory(obj)`` the view of every object of ``kind`` (the last registration wins)."""
    _factories[kind] = factory


def add_view_provider(module: str) -> None:
    """Import ``module`` the first time a view is missing (it registers views when imported)."""
    if module not in _providers:
        _providers.append(module)


def view(kind: str, obj: object) -> Any:
    """A new view of ``obj``, made by the factory registered for ``kind``."""
    if kind not in _factories:
        for module in list(_providers):
            import_module(module)
    try:
        factory = _factories[kind]
    except KeyError:
        raise NoView(f"no view is registered for a {kind}; import lab.widgets (it needs "
                     "ipywidgets) or show the object as text with print().") from None
    return factory(obj)
