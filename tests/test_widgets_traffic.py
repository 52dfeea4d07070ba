"""Traffic views without a browser: listeners panel, conversation, client console, reactor."""

import pytest

import lab
from lab.model import stop_all
from lab.widgets.client_console import ClientConsole, parse_input
from lab.widgets.conversation import ConversationView, hex_dump
from lab.widgets.listeners import ListenersPanel
from lab.widgets.reactor_view import ReactorView
from tests.polling import eventually

pytestmark = pytest.mark.reactor


@pytest.fixture
def cleanup(lab_reactor):
    """Close the views a test made and stop its listeners."""
    made = []
    yield made
    for view in made:
        view.close()
    stop_all()


def talk(listener, data, until):
    """One client conversation: send, read up to ``until``, close, wait for the server's close."""
    client = lab.connect(listener)
    client.send(data)
    client.read_until(until)
    client.close()
    assert listener.capture.wait_for(lambda c: c.open_count == 0)


def test_panel_starts_and_stops_a_listener(cleanup):
    """Start shows the new listener in the table; Stop removes it and frees the name."""
    panel = ListenersPanel(live=False)
    cleanup.append(panel)
    panel.plugin.value, panel.endpoint.value = "chat", "tcp:0"
    panel.start_button.click()
    listener = lab.model.get_listener("chat")
    assert f"listening: chat on {listener.endpoint}" == panel.message.value
    assert "<td>chat</td>" in panel.table.value and "chat" == panel.running.value
    panel.stop_button.click()
    assert "no listeners running" in panel.table.value
    assert not listener.running


def test_panel_table_counts_live_traffic(cleanup):
    """The live table shows connections and byte counts as traffic flows."""
    panel = ListenersPanel(interval=0.05)
    cleanup.append(panel)
    panel.start_button.click()
    talk(lab.model.get_listener("echo"), b"12345", b"5")
    assert eventually(lambda: "<td>1</td><td>5</td><td>5</td>" in panel.table.value)


@pytest.mark.parametrize("endpoint, shown", [
    ("tcp:nope", "EndpointError"),
    ("tcp:0:interface=0.0.0.0", "RemoteNotAllowed"),
])
def test_panel_shows_errors_in_the_widget(cleanup, endpoint, shown):
    """A bad endpoint shows its error in the panel, raises nothing, and leaves listeners running."""
    survivor = lab.listen("echo", name="survivor")
    panel = ListenersPanel(live=False)
    cleanup.append(panel)
    panel.endpoint.value = endpoint
    panel.start_button.click()
    assert shown in panel.message.value and "lab-error" in panel.message.value
    assert survivor.running


def test_conversation_shows_both_directions_as_text_and_hex(cleanup):
    """The conversation view shows both sides' bytes, as text and as a hex dump."""
    listener = lab.listen("echo")
    talk(listener, b"hi there\r\n", b"\n")
    view = ConversationView(listener, live=False)
    cleanup.append(view)
    assert 2 == view.body.value.count("hi there\\r\\n")
    assert "&rarr; client" in view.body.value and "&larr; server" in view.body.value
    view.mode.value = "hex"
    assert view.body.value.count("68 69 20 74 68 65 72 65 0d 0a") == 2


def test_conversation_updates_live(cleanup):
    """New traffic appears in a live conversation view without any call from the test."""
    listener = lab.listen("echo")
    view = ConversationView(listener, interval=0.05)
    cleanup.append(view)
    talk(listener, b"live!", b"!")
    assert eventually(lambda: "live!" in view.body.value)


def test_paused_conversation_holds_still_then_catches_up(cleanup):
    """While paused the view keeps what it showed; unpausing draws what arrived meanwhile."""
    listener = lab.listen("echo")
    view = ConversationView(listener, live=False)
    cleanup.append(view)
    view.paused.value = True
    talk(listener, b"meanwhile", b"e")
    view.refresh()
    assert "meanwhile" not in view.body.value
    view.paused.value = False
    assert "meanwhile" in view.body.value


def test_conversation_filters_one_connection(cleanup):
    """Choosing a connection shows only that connection's events."""
    listener = lab.listen("echo")
    talk(listener, b"first", b"t")
    talk(listener, b"second", b"d")
    view = ConversationView(listener, connection=2, live=False)
    cleanup.append(view)
    assert "second" in view.body.value and "first" not in view.body.value


def test_conversation_decodes_with_the_plugins_decoder(cleanup):
    """For a plugin with a decoder the view offers 'decoded' and shows its lines."""
    listener = lab.listen("chat")
    talk(listener, b"/nick ada\r\n", b"ada\r\n")
    view = ConversationView(listener, mode="decoded", live=False)
    cleanup.append(view)
    assert "decoded" in view.mode.options
    assert "command /nick ada" in view.body.value
    assert "room * you are now ada" in view.body.value
    assert "events to go" not in view.status.value  # the close event is not "undecoded"


def test_decoded_lines_of_a_quiet_connection_survive_busy_neighbours(cleanup):
    """A connection's decoded lines stay visible after thousands of lines from other connections."""
    from lab.widgets import conversation

    listener = lab.listen("chat")
    talk(listener, b"/nick quiet\r\n", b"quiet\r\n")
    view = ConversationView(listener, connection=1, mode="decoded", live=False)
    cleanup.append(view)
    busy = lab.connect(listener)
    busy.send(b"/nick busy\r\n" + b"/who\r\n" * conversation.MAX_DECODED_LINES)
    assert eventually(lambda: listener.capture.bytes_in > 6 * conversation.MAX_DECODED_LINES)
    busy.close()
    view.refresh()
    assert "command /nick quiet" in view.body.value


def test_conversation_over_100000_events_draws_a_bounded_page(cleanup):
    """Over 100,000 events the view draws only its last max_rows, and redraws only on change."""
    listener = lab.listen("chat")
    capture = listener.capture
    cid = capture.opened("tcp", ("127.0.0.1", 40000), ("127.0.0.1", listener.port), None)
    for n in range(50_000):
        capture.record("in", cid, b"line %d\n" % n)
        capture.record("out", cid, b"* reply %d\r\n" % n)
    view = ConversationView(listener, live=False, max_rows=200)
    cleanup.append(view)
    assert 200 == view.body.value.count("<tr")
    assert "line 49999" in view.body.value and "line 49000" not in view.body.value
    drawn = view.body.value
    view.refresh()
    assert drawn is view.body.value
    view.mode.value = "decoded"
    assert "decoding, 95000 events to go" in view.status.value
    for _ in range(19):
        view.refresh()
    assert "events to go" not in view.status.value
    assert "says line 49999" in view.body.value


def test_console_sends_text_and_hex_and_shows_the_transcript(cleanup):
    """Text (with CRLF) and hex input both reach the server and both directions appear."""
    listener = lab.listen("echo")
    console = ClientConsole(listener, interval=0.05)
    cleanup.append(console)
    console.input.value = "hello"
    console.send_button.click()
    console.mode.value = "hex"
    console.input.value = "68 69"
    console.send_button.click()
    assert listener.capture.wait_for(lambda c: c.bytes_in == 9)
    assert b"hello\r\nhi" == listener.capture.stream(1, "in")
    assert eventually(lambda: "&lt;</b>" in console.transcript.value)
    assert "68 69" in console.transcript.value
    console.close_button.click()
    assert "closed" == console.message.value


def test_console_bad_hex_is_shown_and_nothing_is_sent(cleanup):
    """Bad hex shows an error in the console, sends nothing, and the connection keeps working."""
    listener = lab.listen("echo")
    console = ClientConsole(listener, live=False)
    cleanup.append(console)
    console.send("ok")
    console.mode.value = "hex"
    console.send("6g")
    assert "is not hex" in console.message.value
    console.send("21")
    assert listener.capture.wait_for(lambda c: c.bytes_in == 5)
    assert b"ok\r\n!" == listener.capture.stream(1, "in")


def test_console_to_a_stopped_listener_shows_the_error(cleanup):
    """Sending to a stopped listener shows why in the console instead of raising."""
    listener = lab.listen("echo")
    listener.stop()
    console = ClientConsole(listener, live=False)
    cleanup.append(console)
    console.send("anyone?")
    assert "ClientError" in console.message.value and "stopped" in console.message.value


def test_parse_input_modes():
    """Text gets the chosen line ending; hex ignores spaces and must be whole bytes."""
    assert b"hi\n" == parse_input("hi", "text", "\n")
    assert b"\x00\xff" == parse_input("00 f f", "hex")
    with pytest.raises(ValueError, match="not hex"):
        parse_input("abc", "hex")


def test_hex_dump_layout():
    """A hex dump line has the offset, the bytes and their printable characters."""
    assert "0000  68 69 0a" + " " * 41 + "hi." == hex_dump(b"hi\n")


def test_reactor_view_shows_listeners_and_refreshes(cleanup):
    """The reactor view lists a listener's port, and auto-refresh picks up a new one."""
    first = lab.listen("echo", name="seen")
    view = ReactorView(auto=False)
    cleanup.append(view)
    assert f"listening 127.0.0.1:{first.port}" in view.body.value
    view.interval = 0.05
    view.auto.value = True
    second = lab.listen("echo", name="later")
    assert eventually(lambda: f"listening 127.0.0.1:{second.port}" in view.body.value)
    view.internal.value = True
    assert "lab watch every 0.05 s (internal)" in view.body.value
    view.auto.value = False


def test_reactor_view_creator_stacks_toggle(cleanup):
    """Ticking 'creator stacks' turns Twisted's DelayedCall debugging on and off."""
    view = ReactorView(auto=False)
    cleanup.append(view)
    view.debug.value = True
    assert view.state.debug
    view.debug.value = False
    assert not view.state.debug
