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
    """Status and listeners on top; conversation, client, reactor, chains and plugins as tabs."""
    assert isinstance(dash, Dashboard)
    assert ["Conversation", "Client", "Reactor", "Chains", "Proxy", "Pending", "Errors",
            "Plugins"] == dash.tab_titles()
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


def test_start_twice_starts_a_second_listener_and_the_tabs_follow_it(dash):
    """Start never silently replaces: a second Start gets a free name; the tabs follow the newest."""
    dash.listeners.plugin.value = "echo"
    dash.listeners.name.value = "dash-echo"
    dash.listeners.start_button.click()
    first = dash.listener
    dash.listeners.name.value = ""
    dash.listeners.start_button.click()
    second = dash.listener
    try:
        assert second is not first and first.running and second.running
        assert first.name != second.name
        assert second is dash.listeners.selected
        [conversation] = _views(dash.conversation_box, ConversationView)
        assert conversation.listener is second
    finally:
        second.stop()


def test_dashboard_of_a_listener_shows_and_stops_that_listener(dash):
    """lab.dashboard(server): the tabs, the bold row and that row's Stop all act on `server`."""
    other = lab.listen("echo", name="dash-other")
    server = lab.listen("echo", name="dash-server")
    board = lab.dashboard(other)
    try:
        assert board.listener is other and board.listeners.selected is other
        [conversation] = _views(board.conversation_box, ConversationView)
        assert conversation.listener is other
        board.listeners._rows["dash-other"].stop_button.click()
        assert not other.running and server.running
        assert "stopped: dash-other" in board.listeners.message.value
        assert board.listener is None
        assert "dash-other" not in board.listeners._rows
    finally:
        board.close()


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
