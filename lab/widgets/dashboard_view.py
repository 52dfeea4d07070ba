"""The dashboard (``lab.dashboard()``): listeners, their traffic, a client, the reactor, chains and plugins.

Top: the reactor status and the listeners panel, one row per running
listener with its own Show and Stop.  Below: tabs that follow the listener
chosen in the panel (its conversation and a client console), the reactor
view, the chains the user adds with :meth:`Dashboard.add_chain`, and the
plugin browser.  Why one column: beside JupyterLab's file browser a
notebook at 1280x800 is ~850 px wide, and a second column pushed the tabs
below the first screen (and cut the plugin graph at 1920).  Every part is the
same widget the notebooks show on its own.

Adding a tab: append ``(title, factory)`` to :data:`TABS` (the factory takes
the dashboard and returns a widget), or call :meth:`Dashboard.add_tab`.
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
from lab.widgets._live import StaticPicture
from lab.widgets.status import StatusPanel
from lab.widgets.wait_graph import WaitGraphView

__all__ = ["Dashboard", "dashboard", "TABS"]

_HINT = '<i style="color:#57606a">{}</i>'
# The dashboard's tabs, in order: (title, factory(dashboard) -> widget).
TABS = [
    ("Conversation", lambda dash: dash.conversation_box),
    ("Client", lambda dash: dash.client_box),
    ("Reactor", lambda dash: dash.reactor),
    ("Chains", lambda dash: dash.chains),
    ("Proxy", lambda dash: dash.proxy_box),
    ("Pending", lambda dash: dash.pending),
    ("Errors", lambda dash: dash.errors),
    ("Plugins", lambda dash: dash.plugins),
]
TAB_TITLES = tuple(title for title, _ in TABS)
# ipywidgets gives every tab the same basis (144 px) and lets Lumino shrink it, so
# eight tabs beside the file browser read "Convers...".  Here a tab keeps that width,
# or its title's if longer, and the bar wraps onto a second row when the notebook is
# narrow.  (The selectors outweigh ipywidgets' own, whatever order the styles load in.)
_TABS = ".jupyter-widgets.jupyter-widget-tab.lab-dashboard-tabs > .lm-TabBar"
_TAB_STYLE = ("<style>"
              f"{_TABS} > .lm-TabBar-content{{flex-wrap:wrap}}"
              f"{_TABS} .lm-TabBar-tab{{flex:0 0 auto;"
              "min-width:var(--jp-widgets-horizontal-tab-width)}"
              "</style>")


class Dashboard(StaticPicture, widgets.VBox):
    """Every view of the lab in one widget, wired to the listener chosen in its panel."""

    def __init__(self, listener: Any = None, chains: Iterable[Any] = ()) -> None:
        super().__init__(layout=widgets.Layout(width="100%"))
        self.add_class("lab-dashboard")
        self._listener: Any = None
        self._shown = False
        self.status = StatusPanel()
        self.listeners = ListenersPanel()
        self.plugins = PluginBrowser(lab.plugins())
        self.reactor = ReactorView(auto=True)
        self.conversation_box = widgets.VBox()
        self.client_box = widgets.VBox()
        self.chains = widgets.Accordion()
        self.proxy_box = widgets.VBox()
        self.pending = WaitGraphView()
        self.errors = ReactorErrorsView()
        self.tabs = widgets.Tab()
        self.tabs.add_class("lab-dashboard-tabs")
        for title, factory in TABS:
            self.add_tab(title, factory(self))
        self.children = (self.status, _section("Listeners", self.listeners, _TAB_STYLE),
                         self.tabs)
        self.listeners.observe(lambda change: self.select(change["new"]), names="selected")
        self.select(listener or self.listeners.selected or _newest())
        for chain in chains:
            self.add_chain(chain)
        if not chains:
            self.chains.children = (widgets.HTML(_HINT.format(
                "No chains yet: dash.add_chain(lab.step(d)) shows one here.")),)
            self.chains.set_title(0, "chains")

    def add_tab(self, title: str, widget: widgets.Widget) -> int:
        """Add ``widget`` as a tab called ``title`` (after the others); return its index."""
        self.tabs.children = (*self.tabs.children, widget)
        index = len(self.tabs.children) - 1
        self.tabs.set_title(index, title)
        return index

    def tab_titles(self) -> list[str]:
        """The tabs' titles, in order."""
        return [self.tabs.get_title(i) for i in range(len(self.tabs.children))]

    @property
    def listener(self) -> Any:
        """The listener whose traffic and client the tabs show, or None."""
        return self._listener

    def select(self, listener: Any) -> None:
        """Show ``listener`` (a Listener or a running listener's name) in the tabs."""
        if isinstance(listener, str):
            listener = model.get_listener(listener)
        if listener is self._listener and self._shown:
            return
        self._shown = True
        self._listener = listener
        if listener is not None and listener.running and self.listeners.selected is not listener:
            self.listeners.select(listener)  # the panel's bold row is the one shown here
        for box in (self.conversation_box, self.client_box, self.proxy_box):
            for child in box.children:
                child.close()
        self.proxy_box.children = (
            (ProxyPanel(listener),) if isinstance(listener, model.Proxy) else
            (widgets.HTML(_HINT.format("Choose a proxy above (lab.proxy(...)) to hold, "
                                       "edit and break its messages here.")),))
        if listener is None:
            hint = widgets.HTML(_HINT.format("Start a listener above (or press Show on its row) to see its traffic."))
            self.conversation_box.children = (hint,)
            self.client_box.children = (widgets.HTML(hint.value),)
            return
        title = widgets.HTML(f"<b>{html.escape(listener.name)}</b> on "
                             f"{html.escape(str(listener.host))}:{listener.port}")
        self.conversation_box.children = (title, ConversationView(listener))
        self.client_box.children = (widgets.HTML(title.value), ClientConsole(listener))

    def add_chain(self, chain: Any, title: str | None = None) -> ChainView:
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
        self.tabs.selected_index = self.tab_titles().index("Chains")
        return view

    def snapshot_html(self) -> str:
        """The listeners and, if one is chosen, its conversation."""
        shown = [c for c in self.conversation_box.children if hasattr(c, "snapshot_html")]
        return self.listeners.snapshot_html() + "".join(c.snapshot_html() for c in shown)

    def close(self) -> None:
        """Stop every live view, then close."""
        for part in (self.listeners, *self.tabs.children):
            for child in getattr(part, "children", ()):
                child.close()
            part.close()
        super().close()


def _newest():
    running = list(model.listeners())
    return running[-1] if running else None


def _section(title, body, style=""):
    return widgets.VBox((widgets.HTML(
        f"{style}<h4 style='margin:6px 0'>{html.escape(title)}</h4>"), body))


def dashboard(listener: Any = None, chains: Iterable[Any] = ()) -> Dashboard:
    """A new :class:`Dashboard`, optionally showing ``listener`` and some chains."""
    if listener is not None and not isinstance(listener, (str, model.Listener)):
        raise TypeError(f"dashboard() shows a Listener (or a running listener's name), not "
                        f"{type(listener).__name__} {listener!r}")
    if isinstance(listener, str) and not listener.strip():
        raise ValueError("dashboard() needs a listener's name, not an empty string; see "
                         "lab.listeners() for the running ones.")
    return Dashboard(listener, chains)
