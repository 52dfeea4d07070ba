"""notebooks/02-protocols.ipynb, executed in a real kernel, shows each protocol lesson working."""

import pytest

from tests.notebook_runner import cell_text, errors, execute_notebook, find_cell, html_values

pytestmark = pytest.mark.kernel


@pytest.fixture(scope="module")
def notebook():
    """The protocols notebook, executed top to bottom."""
    return execute_notebook("02-protocols.ipynb")


VIEWS = ("HTMLModel", "AnyModel")  # the live logs are AnyModel widgets


def test_runs_without_errors(notebook):
    """No cell raises."""
    assert [] == errors(notebook)


def test_the_seeds_echo_hangs_up_before_echoing(notebook):
    """The seed's EchoProtocol closes on connect, so the client gets nothing back."""
    text = cell_text(find_cell(notebook, "class SeedEcho"))
    assert "reply: b''" in text and "closed: Connection was closed cleanly." in text


def test_the_fixed_echo_replaces_the_seed_and_echoes_any_bytes(notebook):
    """The fixed echo takes over the name, echoes text and raw bytes, and counts its connection."""
    replaced = cell_text(find_cell(notebook, "class EchoProtocol"))
    assert "seed listener still running? False" in replaced
    text = cell_text(find_cell(notebook, 'client.send("hello, reactor'))
    assert "b'hello, reactor\\r\\n'\nb'\\x00\\xff\\n'" in text
    assert "connections counted by the factory: 1" in text


def test_transport_and_transcript(notebook):
    """The connection table knows both ends and the transcript shows both directions."""
    text = cell_text(find_cell(notebook, "(conn,) = echo.connections"))
    assert "bytes in: 19 out: 19" in text
    assert "> hello, reactor\\r\\n\n< hello, reactor\\r\\n" in text


def test_chat_room_conversation(notebook):
    """Two chat members name themselves, talk, list the room, and see an over-long line cut off."""
    text = cell_text(find_cell(notebook, 'chat = lab.listen("chat"'))
    for line in ("ada hears: b'* bob joined\\r\\n'", "bob hears: b'<ada> hello bob\\r\\n'",
                 "bob asks /who: b'* here: ada, bob\\r\\n'"):
        assert line in text
    cut = cell_text(find_cell(notebook, 'ada.send(b"x" * 500)'))
    assert "ConnectionClosed" in cut and "bob hears: b'* ada left\\r\\n'" in cut


def test_udp_echoes_datagrams(notebook):
    """The UDP echo returns each datagram whole and the capture records them."""
    text = cell_text(find_cell(notebook, 'lab.listen("echo", "udp:0"'))
    assert "[b'one', b'two', b'three']" in text
    assert "[('connect', b''), ('in', b'one'), ('out', b'one'), ('in', b'two')]" in text


def test_capture_events_and_summary(notebook):
    """Bob's captured events print with kinds and data, and the capture shows its bounds."""
    text = cell_text(find_cell(notebook, "chat.capture.events(connection=2)"))
    assert "#2 in      b'/nick bob\\r\\n'" in text
    assert "0 dropped" in text


def test_conversation_view_decodes_the_chat(notebook):
    """The conversation view's saved body shows the chat decoded by the plugin's decoder."""
    bodies = html_values(notebook, "lab-conversation", VIEWS)
    assert bodies and "command /nick ada" in bodies[-1] and "says hello bob" in bodies[-1]


def test_pcap_and_replay(notebook):
    """The capture exports to a pcap file and bob's replayed session gets his nickname again."""
    text = cell_text(find_cell(notebook, "write_pcap"))
    assert "wrote chat.pcap" in text and "* you are now bob" in text


def test_panel_and_console(notebook):
    """The panel lists listeners; the console shows text and hex sends, and bad hex as an error."""
    assert html_values(notebook, 'title="chat">chat</span>', VIEWS)  # the chat listener's row
    transcripts = html_values(notebook, "lab-transcript", VIEWS)
    # the console is left in hex mode, so the text shows in the dump's ASCII column
    assert transcripts and "typed in the con" in transcripts[-1] and "hex!" in transcripts[-1]
    assert html_values(notebook, "is not hex", VIEWS)  # in the console's message line
    assert "lab-error" not in cell_text(find_cell(notebook, "ClientConsole(echo)"))  # no raw HTML


def test_load_test_progress_bar_and_report(notebook):
    """The load test's progress bar ends full and the report shows no errors at full concurrency."""
    text = cell_text(find_cell(notebook, "report = lab.load_test("))
    assert '<progress value="2000" max="2000">' in text
    assert "2000/2000 requests over 100 connections" in text and "0 errors" in text
    assert "2000 requests, 0 errors, peak 100 open connections" in cell_text(
        find_cell(notebook, "peak {report.peak_open} open"))


def test_the_load_target_is_stopped_and_the_others_keep_serving(notebook):
    """The last cell stops the load test's listener; the ones the panels show keep running."""
    text = cell_text(find_cell(notebook, "target.stop()"))
    assert "load-target" not in text and "'seed-echo'" in text


def test_safe_by_default(notebook):
    """A smuggled interface is refused, a never-reading client is paused and said so, a late call never runs."""
    text = cell_text(find_cell(notebook, 'name="guarded"'))
    assert "refused: EndpointError" in text
    assert "then the server stopped reading" in text and "limits: reading paused" in text
    assert "started? False" in text and "ran: []" in text


def test_three_members_chat_in_a_simulation_with_its_diagram(notebook):
    """In the simulation the three members hear each other and the diagram draws the decoded chat."""
    cell = find_cell(notebook, "sim = lab.simulation(seed=1)")
    text = cell_text(cell)
    assert "bob last heard: <ada> hello, both of you" in text
    assert "cy  last heard: <ada> hello, both of you" in text
    svg = "".join(o.get("data", {}).get("image/svg+xml", "") for o in cell.outputs)
    assert ">cy<" in svg and "says hello, both of you" in svg


def test_a_partition_delays_cy_until_it_heals(notebook):
    """During the partition only bob hears ada; cy's line waits as partitioned and arrives after heal."""
    text = cell_text(find_cell(notebook, 'sim.partition("cy", "server")'))
    assert "during the partition bob hears: b'<ada> cy, are you there?\\r\\n'" in text
    assert "during the partition cy  hears: b''" in text
    assert "[partitioned]" in text
    assert "after heal, cy hears: b'<ada> cy, are you there?\\r\\n'" in text
