"""The dashboard puts every view together and follows the listener the user picks."""

import pytest
from twisted.internet import defer

import lab
from lab.widgets import ChainView, ClientConsole, ConversationView, Dashboard

pytestmark = pytest.mark.reactor


@pytest.fixture
def dash(lab_reactor):
    """A dashboard, closed (and its listeners stopped) after the test."""
    board = lab.dashboard()
    yield board
    board.close()
    for listener in list(lab.listeners()):
        if listener.name.startswith("dash-"):
            listener.stop()


def _views(box, kind):
    return [c for c in box.children if isinstance(c, kind)]


def test_dashboard_holds_every_view(dash):
    """Listeners, plugins, status on the left; conversation, client, reactor, chains, proxy, pending and errors as tabs."""
    assert isinstance(dash, Dashboard)
    titles = [dash.tabs.get_title(i) for i in range(len(dash.tabs.children))]
    assert ["Conversation", "Client", "Reactor", "Chains", "Proxy", "Pending", "Errors"] == titles
    assert "echo" in dash.listeners.plugin.options
    assert "echo" in dash.plugins.registry.names()


def test_selecting_a_listener_shows_its_traffic_and_a_client(dash):
    """Choosing a listener gives its conversation view and a client console wired to it."""
    listener = lab.listen("echo", name="dash-one")
    dash.select("dash-one")
    assert dash.listener is listener
    [conversation] = _views(dash.conversation_box, ConversationView)
    [console] = _views(dash.client_box, ClientConsole)
    console.send("ping from the dashboard")
    reply = console.client.read_until(b"\r\n", timeout=5)
    assert b"ping from the dashboard\r\n" == reply
    assert console.target is listener and conversation.listener is listener


def test_start_button_restarting_a_name_follows_the_new_listener(dash):
    """Start under a running name replaces that listener, and the tabs follow the new one."""
    dash.listeners.plugin.value = "echo"
    dash.listeners.start_button.click()
    first = dash.listener
    dash.listeners.start_button.click()
    try:
        assert dash.listener is not first and dash.listener.running
        assert not first.running
    finally:
        dash.listener.stop()


def test_add_chain_shows_a_stepper_in_the_chains_tab(dash):
    """add_chain puts a stepper's view in the Chains tab and switches to it."""
    d = defer.Deferred()
    d.addCallback(lambda n: n * 2)
    view = dash.add_chain(lab.step(d), title="double")
    assert isinstance(view, ChainView)
    assert "double" == dash.chains.get_title(0)
    assert "Chains" == dash.tabs.get_title(dash.tabs.selected_index)
    d.callback(21)
    view.run_button.click()
    assert 42 == view.chain.result


def test_add_chain_refuses_a_bare_deferred(dash):
    """A raw Deferred is refused with the call to make instead."""
    with pytest.raises(TypeError, match=r"lab.step\(d\)"):
        dash.add_chain(defer.Deferred())


def test_pending_and_errors_tabs_show_live_inspection(dash):
    """The Pending tab lists an orphan Deferred after Refresh; the Errors tab shows a timer's error."""
    from twisted.internet import reactor

    from tests.polling import eventually

    (orphan,) = lab.call(lambda: [defer.Deferred()])
    dash.pending.refresh_button.click()
    entry = dash.pending.snapshot.entry(orphan)
    dash.pending.select(entry.id)
    assert "orphan" in dash.pending.details.value
    lab.call(reactor.callLater, 0, lambda: {}["missing key"])
    assert eventually(lambda: "missing key" in dash.errors.notice.value)
    assert "missing key" in dash.errors.body.value
