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
    """Start shows the new listener in its own row; that row's Stop stops it and says what closed."""
    panel = ListenersPanel(live=False)
    cleanup.append(panel)
    panel.plugin.value, panel.endpoint.value = "chat", "tcp:0"
    panel.start_button.click()
    listener = lab.model.get_listener("chat")
    assert f"listening: chat on {listener.endpoint}" == panel.message.value
    assert "<td>chat</td>" in panel.table.value and listener is panel.selected
    panel._rows["chat"].stop_button.click()
    assert "no listeners running" in panel.table.value
    assert not listener.running and panel.selected is None
    assert "stopped: chat (port" in panel.message.value and "0 open connections closed" \
        in panel.message.value


def test_each_row_stops_its_own_listener_however_often_clicked(cleanup):
    """Stop on a row stops that row's listener only; clicking it again does not stop another."""
    first, second = lab.listen("echo", name="first"), lab.listen("echo", name="second")
    panel = ListenersPanel(live=False)
    cleanup.append(panel)
    row = panel._rows["first"]
    row.stop_button.click()
    assert not first.running and second.running
    row.stop_button.click()  # the row is gone from the panel; a stale click changes nothing
    assert second.running and "not running" in panel.message.value
    assert ["second"] == list(panel._rows)


def test_start_under_a_running_name_says_what_it_replaced(cleanup):
    """Start with a running listener's name replaces it and says which port and connections closed."""
    old = lab.listen("echo", name="same")
    client = lab.connect(old)
    assert old.capture.wait_for(lambda c: c.open_count == 1)
    panel = ListenersPanel(live=False)
    cleanup.append(panel)
    panel.name.value = "same"
    panel.start_button.click()
    assert not old.running
    assert f"replaced the running same on port {old.port}, closing 1 open connection" \
        in panel.message.value
    client.close()


def test_start_without_a_name_never_replaces(cleanup):
    """Start with no name picks a free one, so a running listener keeps its clients."""
    old = lab.listen("echo")
    panel = ListenersPanel(live=False)
    cleanup.append(panel)
    panel.start_button.click()
    assert old.running and "echo-2" == panel.selected.name


def test_panel_rows_name_what_they_serve(cleanup):
    """Every row says what it serves: the plugin's name, or the factory's class for a factory."""
    from lab.adapters.echo import EchoFactory

    lab.listen("echo", name="by-plugin")
    lab.listen(EchoFactory(), name="by-factory")
    panel = ListenersPanel(live=False)
    cleanup.append(panel)
    assert "<td>echo</td>" in panel.table.value
    assert "Factory(Echo)" in panel._rows["by-factory"].cells[1].value


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
    assert 2 == view.rows.html.count("hi there\\r\\n")
    assert "client &rarr; server" in view.rows.html and "server &rarr; client" in view.rows.html
    view.mode.value = "hex"
    assert view.rows.html.count("68 69 20 74 68 65 72 65 0d 0a") == 2


def test_conversation_updates_live(cleanup):
    """New traffic appears in a live conversation view without any call from the test."""
    listener = lab.listen("echo")
    view = ConversationView(listener, interval=0.05)
    cleanup.append(view)
    talk(listener, b"live!", b"!")
    assert eventually(lambda: "live!" in view.rows.html)


def test_paused_conversation_holds_still_then_catches_up(cleanup):
    """While paused the view keeps what it showed; unpausing draws what arrived meanwhile."""
    listener = lab.listen("echo")
    view = ConversationView(listener, live=False)
    cleanup.append(view)
    view.paused.value = True
    talk(listener, b"meanwhile", b"e")
    view.refresh()
    assert "meanwhile" not in view.rows.html
    view.paused.value = False
    assert "meanwhile" in view.rows.html


def test_conversation_filters_one_connection(cleanup):
    """Choosing a connection shows only that connection's events."""
    listener = lab.listen("echo")
    talk(listener, b"first", b"t")
    talk(listener, b"second", b"d")
    view = ConversationView(listener, connection=2, live=False)
    cleanup.append(view)
    assert "second" in view.rows.html and "first" not in view.rows.html


def test_conversation_decodes_with_the_plugins_decoder(cleanup):
    """For a plugin with a decoder the view offers 'decoded' and shows its lines."""
    listener = lab.listen("chat")
    talk(listener, b"/nick ada\r\n", b"ada\r\n")
    view = ConversationView(listener, mode="decoded", live=False)
    cleanup.append(view)
    assert "decoded" in view.mode.options
    assert "command /nick ada" in view.rows.html
    assert "room * you are now ada" in view.rows.html
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
    assert "command /nick quiet" in view.rows.html


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
    assert 200 == view.rows.html.count("<tr style")
    assert "line 49999" in view.rows.html and "line 49000" not in view.rows.html
    drawn = view.rows.html
    view.refresh()
    assert drawn is view.rows.html
    view.mode.value = "decoded"
    assert "decoding, 95001 events to go" in view.status.value  # the open counts too
    for _ in range(20):
        view.refresh()
    assert "events to go" not in view.status.value
    assert "says line 49999" in view.rows.html


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
    assert eventually(lambda: "&lt;</b>" in console.transcript.html)
    assert "68 69" in console.transcript.html
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
    # eventually: a snapshot taken during a tick cannot see the ticker's own next call
    assert eventually(lambda: "lab view refresh every 0.05 s (internal)" in view.body.value)
    view.auto.value = False


def test_reactor_view_creator_stacks_toggle(cleanup):
    """Ticking 'creator stacks' turns Twisted's DelayedCall debugging on and off."""
    view = ReactorView(auto=False)
    cleanup.append(view)
    view.debug.value = True
    assert view.state.debug
    view.debug.value = False
    assert not view.state.debug


def test_console_sends_on_enter_and_refuses_an_empty_send(cleanup):
    """Enter in the input sends like Send; an empty input is refused with a reason, nothing sent."""
    listener = lab.listen("echo")
    console = ClientConsole(listener, live=False)
    cleanup.append(console)
    console.send("")
    assert "nothing to send" in console.message.value and console.client is None
    console.input.value = "entered"
    console._input_message(console.input, {"event": "submit"}, [])  # what Enter sends
    assert b"entered\r\n" == console.client.read_until(b"\r\n", timeout=5)
    assert "" == console.input.value


def test_console_draws_a_huge_message_shortened(cleanup):
    """A 200 KB reply is drawn shortened, with how many bytes were left out."""
    listener = lab.listen("echo")
    console = ClientConsole(listener, live=False)
    cleanup.append(console)
    console.line_ending.value = ""
    console.send("x" * 200_000)
    assert eventually(lambda: listener.capture.bytes_out >= 200_000)
    assert eventually(lambda: sum(len(e.data) for e in console.client.transcript
                                  if e.direction == "received") >= 200_000)
    console.refresh(force=True)
    assert len(console.transcript.html) < 20_000
    assert "bytes not shown" in console.transcript.html


def test_console_holds_still_while_the_reader_scrolled_up(cleanup):
    """With the transcript not following (scrolled up) it keeps its lines; back at the bottom it catches up."""
    listener = lab.listen("echo")
    console = ClientConsole(listener, live=False)
    cleanup.append(console)
    console.send("one")
    console.client.read_until(b"one\r\n", timeout=5)
    console.refresh()
    console.transcript.following = False
    console.send("two")
    console.client.read_until(b"two\r\n", timeout=5)
    console.refresh()
    assert "two" not in console.transcript.html and "not following" in console.message.value
    console.transcript.following = True
    assert "two" in console.transcript.html


def test_conversation_follows_only_at_the_bottom(cleanup):
    """A conversation whose reader scrolled up keeps its rows and counts what arrived; back at the bottom it redraws."""
    listener = lab.listen("echo")
    view = ConversationView(listener, live=False)
    cleanup.append(view)
    talk(listener, b"before", b"e")
    view.refresh()
    view.rows.following = False
    talk(listener, b"meanwhile", b"e")
    view.refresh()
    assert "meanwhile" not in view.rows.html and "not following" in view.status.value
    view.rows.following = True
    assert "meanwhile" in view.rows.html


def test_conversation_search_direction_times_and_offsets(cleanup):
    """Search keeps matching rows, the direction filter one side; rows carry times, sizes and offsets."""
    listener = lab.listen("echo")
    client = lab.connect(listener)
    client.send(b"alpha\r\n")
    client.read_until(b"alpha\r\n")
    client.send(b"beta\r\n")
    client.read_until(b"beta\r\n")
    view = ConversationView(listener, live=False)
    cleanup.append(view)
    assert "all connections" == view.connection.label
    assert "6 B @ 7" in view.rows.html  # beta\r\n: 6 bytes, starting at byte 7 of its stream
    assert "t (s)" in view.rows.html and "&Delta; (s)" in view.rows.html
    view.search.value = "beta"
    assert "beta" in view.rows.html and "alpha" not in view.rows.html
    view.search.value = ""
    view.direction.value = "out"
    assert "server &rarr; client" in view.rows.html and "client &rarr; server" not in view.rows.html
    client.close()


def test_conversation_exports_a_pcap(cleanup, tmp_path):
    """The .pcap button writes the kept events to a file the status line names."""
    listener = lab.listen("echo")
    talk(listener, b"to wireshark", b"k")
    view = ConversationView(listener, live=False)
    cleanup.append(view)
    written = view.export_pcap(tmp_path / "out.pcap")
    assert written.stat().st_size > 24 and "out.pcap" in view.status.value


def test_decoded_mode_shows_the_incomplete_line_and_the_close(cleanup):
    """Decoded traffic shows the open, bytes not yet a whole message, and the close, without doubled arrows."""
    listener = lab.listen("memcached")
    client = lab.connect(listener)
    client.send(b"set k 0 0 5\r\nabc")
    assert listener.capture.wait_for(lambda c: c.bytes_in >= 16)
    view = ConversationView(listener, mode="decoded", live=False)
    cleanup.append(view)
    assert "opened" in view.rows.html and "incomplete" in view.rows.html
    assert "-&gt;" not in view.rows.html
    client.close()
    assert listener.capture.wait_for(lambda c: c.open_count == 0)
    view.refresh()
    assert "closed" in view.rows.html


def test_panel_errors_speak_the_panels_language(cleanup):
    """A remote interface in the panel is explained without an argument the panel does not have."""
    panel = ListenersPanel(live=False)
    cleanup.append(panel)
    panel.endpoint.value = "tcp:0:interface=0.0.0.0"
    panel.start_button.click()
    assert "RemoteNotAllowed" in panel.message.value
    assert "Pass allow_remote=True" not in panel.message.value and "loopback" in panel.message.value


def test_listen_accepts_a_factory_class(cleanup):
    """lab.listen(MyFactory) makes the factory itself, and the row names it."""
    from twisted.internet.protocol import Factory

    from lab.adapters.echo import Echo

    class MyFactory(Factory):
        protocol = Echo

    listener = lab.listen(MyFactory)
    assert "MyFactory" == listener.stats()["serves"]


def test_decoded_mode_shows_no_incomplete_row_once_every_line_is_decoded(cleanup):
    """Chunks that end in whole lines leave nothing marked incomplete."""
    listener = lab.listen("chat")
    talk(listener, b"/nick ada\r\nhello there\r\n", b"ada\r\n")
    view = ConversationView(listener, mode="decoded", live=False)
    cleanup.append(view)
    assert "command /nick ada" in view.rows.html and "incomplete" not in view.rows.html


def test_views_leave_a_static_picture_in_their_display(cleanup):
    """A view's display carries HTML of what it shows, for saved notebooks and viewers without widgets."""
    listener = lab.listen("echo")
    talk(listener, b"kept in the picture", b"e")
    view = ConversationView(listener, live=False)
    panel = ListenersPanel(live=False)
    cleanup.extend([view, panel])
    for shown, expected in ((view, "kept in the picture"), (panel, "<td>echo</td>")):
        bundle = shown._repr_mimebundle_()
        assert "application/vnd.jupyter.widget-view+json" in bundle
        assert expected in bundle["text/html"]
