"""The dashboard (``lab.dashboard()``): plugins, listeners, traffic, a client, the reactor and chains, side by side.

Left: the reactor status, the listeners panel (Start/Stop) and the plugin
browser.  Right: tabs that follow the listener chosen on the left (its
conversation and a client console), the reactor view, and the chains the
user adds with :meth:`Dashboard.add_chain`.  One place for exploratory
debugging; every part is the same widget the notebooks show on its own.
"""

import html

from collections.abc import Iterable
from typing import Any

import ipywidgets as widgets

import lab
from lab import model
from lab.widgets.client_console import ClientConsole
from lab.widgets.conversation import ConversationView
from lab.widgets.deferreds import ChainView
from lab.widgets.listeners import ListenersPanel
from lab.widgets.plugin_browser import PluginBrowser
from lab.widgets.proxy_view import ProxyPanel
from lab.widgets.reactor_errors_view import ReactorErrorsView
from lab.widgets.reactor_view import ReactorView
from lab.widgets.status import StatusPanel
from lab.widgets.wait_graph import WaitGraphView

__all__ = ["Dashboard", "dashboard"]

TAB_TITLES = ("Conversation", "Client", "Reactor", "Chains", "Proxy", "Pending", "Errors")
_HINT = '<i style="color:#57606a">{}</i>'


class Dashboard(widgets.GridBox):
    """Every view of the lab in one widget, wired to one chosen listener."""

    def __init__(self, listener: Any = None, chains: Iterable[Any] = ()) -> None:
        # Two columns when there is room for both, one under the other when not
        # (a notebook beside JupyterLab's file browser at 1280 px is ~850 px wide).
        super().__init__(layout=widgets.Layout(
            grid_template_columns="repeat(auto-fit, minmax(560px, 1fr))", grid_gap="12px",
            width="100%"))
        self.add_class("lab-dashboard")
        self.status = StatusPanel()
        self.listeners = ListenersPanel()
        self.plugins = PluginBrowser(lab.plugins())
        self.reactor = ReactorView(auto=False)
        self.conversation_box = widgets.VBox()
        self.client_box = widgets.VBox()
        self.chains = widgets.Accordion()
        self.proxy_box = widgets.VBox()
        self.pending = WaitGraphView()
        self.errors = ReactorErrorsView()
        self.tabs = widgets.Tab(children=(self.conversation_box, self.client_box,
                                          self.reactor, self.chains, self.proxy_box,
                                          self.pending, self.errors))
        for index, title in enumerate(TAB_TITLES):
            self.tabs.set_title(index, title)
        left = widgets.VBox((self.status, _section("Listeners", self.listeners),
                             _section("Plugins", self.plugins)))
        self.children = (left, self.tabs)
        self.listeners.running.observe(lambda change: self.select(change["new"]), names="value")
        # A restart under the same name leaves `running` unchanged: follow the new listener.
        self.listeners.start_button.on_click(lambda _: self.select(self.listeners.running.value))
        self.select(listener or self.listeners.running.value)
        for chain in chains:
            self.add_chain(chain)
        if not chains:
            self.chains.children = (widgets.HTML(_HINT.format(
                "No chains yet: dash.add_chain(lab.step(d)) shows one here.")),)
            self.chains.set_title(0, "chains")

    @property
    def listener(self) -> Any:
        """The listener whose traffic and client the tabs show, or None."""
        return self._listener

    def select(self, listener: Any) -> None:
        """Show ``listener`` (a Listener or a running listener's name) in the right-hand tabs."""
        if isinstance(listener, str):
            listener = model.get_listener(listener)
        self._listener = listener
        for box in (self.conversation_box, self.client_box, self.proxy_box):
            for child in box.children:
                child.close()
        self.proxy_box.children = (
            (ProxyPanel(listener),) if isinstance(listener, model.Proxy) else
            (widgets.HTML(_HINT.format("Choose a proxy on the left (lab.proxy(...)) to hold, "
                                       "edit and break its messages here.")),))
        if listener is None:
            hint = widgets.HTML(_HINT.format("Start a listener on the left to see its traffic."))
            self.conversation_box.children = (hint,)
            self.client_box.children = (widgets.HTML(hint.value),)
            return
        title = widgets.HTML(f"<b>{html.escape(listener.name)}</b> on "
                             f"{html.escape(str(listener.host))}:{listener.port}")
        self.conversation_box.children = (title, ConversationView(listener))
        self.client_box.children = (widgets.HTML(title.value), ClientConsole(listener))

    def add_chain(self, chain: Any, title: str | None = None) -> Any:
        """Add a traced or stepped chain (``lab.trace``/``lab.step``) to the Chains tab; return its view."""
        if not hasattr(chain, "subscribe"):
            raise TypeError(
                f"add_chain() takes what lab.trace() or lab.step() returns, not "
                f"{type(chain).__name__}; write dash.add_chain(lab.step(d)).")
        view = ChainView(chain)
        existing = [c for c in self.chains.children if isinstance(c, ChainView)]
        self.chains.children = (*existing, view)
        for index, child in enumerate(self.chains.children):
            self.chains.set_title(index, title if child is view and title else
                                  self.chains.get_title(index) or f"chain {index + 1}")
        self.chains.selected_index = len(self.chains.children) - 1
        self.tabs.selected_index = TAB_TITLES.index("Chains")
        return view

    def close(self) -> None:
        """Stop every live view, then close."""
        for part in (self.listeners, self.plugins, self.reactor, self.conversation_box,
                     self.client_box, self.chains, self.proxy_box, self.pending,
                     self.errors):
            for child in getattr(part, "children", ()):
                child.close()
            part.close()
        super().close()


def _section(title, body):
    return widgets.VBox((widgets.HTML(f"<h4 style='margin:6px 0'>{html.escape(title)}</h4>"),
                         body))


def dashboard(listener: Any = None, chains: Iterable[Any] = ()) -> Dashboard:
    """A new :class:`Dashboard`, optionally showing ``listener`` and some chains."""
    if listener is not None and not isinstance(listener, (str, model.Listener)):
        raise TypeError(f"dashboard() shows a Listener (or a running listener's name), not "
                        f"{type(listener).__name__} {listener!r}")
    if isinstance(listener, str) and not listener.strip():
        raise ValueError("dashboard() needs a listener's name, not an empty string; see "
                         "lab.listeners() for the running ones.")
    return Dashboard(listener, chains)
