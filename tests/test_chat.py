"""The chat room: its pure core, its decoder, and the plugin served on a real socket."""

import pytest

import lab
from lab.protocols.chat import ChatDecoder, ChatRoom


def texts(deliveries, member):
    """The lines ``member`` receives from a list of deliveries."""
    return [d.text for d in deliveries if member in d.to]


def room_of(*members):
    """A room the given members have joined."""
    room = ChatRoom()
    for member in members:
        room.join(member)
    return room


def test_newcomer_is_greeted_and_announced_once_named():
    """Joining greets the newcomer as a guest; the others hear of them when they choose a name."""
    room = room_of(1)
    out = room.join(2)
    assert texts(out, 2)[0].startswith("* welcome, guest2")
    assert [] == texts(out, 1)
    assert ["* ada joined"] == texts(room.line(2, "/nick ada"), 1)
    assert ["* ada is now bea"] == texts(room.line(2, "/nick bea"), 1)


def test_a_line_goes_to_everyone_else_under_the_nickname():
    """A plain line is broadcast to the other members, prefixed with the sender's nickname."""
    room = room_of(1, 2, 3)
    room.line(1, "/nick ada")
    out = room.line(1, "hello\r")
    assert [(2, 3)] == [d.to for d in out]
    assert ["<ada> hello"] == texts(out, 2)


@pytest.mark.parametrize("name, reply", [
    ("bob", "* you are now bob"),
    ("9lives", "* a nickname is a letter"),
    ("x" * 17, "* a nickname is a letter"),
    ("", "* a nickname is a letter"),
    ("ADA", "* ADA is taken; choose another"),
])
def test_nick_rules(name, reply):
    """Nicknames must be well-formed and unique regardless of case."""
    room = room_of(1, 2)
    room.line(1, "/nick ada")
    assert texts(room.line(2, f"/nick {name}"), 2)[0].startswith(reply)


def test_who_me_help_quit_and_unknown_commands():
    """/who lists names, /me narrates, /help explains, /quit hangs up, others are refused."""
    room = room_of(1, 2)
    assert ["* here: guest1, guest2"] == texts(room.line(1, "/who"), 1)
    assert ["* guest1 waves"] == texts(room.line(1, "/me waves"), 2)
    assert [] == texts(room.leave(2), 1)  # never named, so never announced
    assert texts(room.line(1, "/help"), 1)[0].startswith("* commands:")
    assert ["* unknown command /dance; /help lists them"] == texts(room.line(1, "/dance"), 1)
    (bye,) = room.line(1, "/quit")
    assert (True, (1,)) == (bye.close, bye.to)


def test_leaving_is_announced_and_frees_the_room():
    """A member who leaves is announced, and a full room takes someone new."""
    room = ChatRoom(max_members=2)
    room.join(1)
    room.join(2)
    assert [True] == [d.close for d in room.join(3)]
    room.line(1, "/nick ada")
    assert ["* ada left"] == texts(room.leave(1), 2)
    assert not room.join(4)[0].close


def test_decoder_shows_commands_says_and_room_lines():
    """The decoder turns captured bytes into readable lines, holding partial lines back."""
    decoder = ChatDecoder()
    assert [] == decoder.feed("in", b"/nick a")
    assert ["command /nick ada", "says hi"] == decoder.feed("in", b"da\r\nhi\n")
    assert ["room * you are now ada"] == decoder.feed("out", b"* you are now ada\r\n")


def test_decoder_pending_line_is_bounded():
    """A never-ending line is shown cut instead of buffered without bound."""
    decoder = ChatDecoder(max_pending=10)
    assert ["says " + "x" * 10 + "..."] == decoder.feed("in", b"x" * 50)


@pytest.fixture
def chat(lab_reactor):
    """The chat plugin served on loopback, stopped after the test."""
    listener = lab.listen("chat", max_line=64)
    yield listener
    listener.stop()


def member(listener, nick):
    """A connected client that has taken ``nick``."""
    client = lab.connect(listener)
    client.read_until(b"\n")
    client.send(f"/nick {nick}\r\n")
    expected = f"* you are now {nick}\r\n".encode()
    assert expected == client.read_until(expected)
    return client


@pytest.mark.reactor
def test_chat_plugin_broadcasts_between_real_clients(chat):
    """Two clients of the chat plugin see each other's lines under their nicknames."""
    ada = member(chat, "ada")
    bob = member(chat, "bob")
    assert b"* bob joined\r\n" == ada.read_until(b"\r\n")
    ada.send("hello bob\n")
    assert b"<ada> hello bob\r\n" == bob.read_until(b"\r\n")
    ada.close()
    assert b"* ada left\r\n" == bob.read_until(b"\r\n")
    bob.close()


@pytest.mark.reactor
def test_chat_plugin_hangs_up_on_over_long_lines(chat):
    """A line past max_line gets an explanation and the connection closes."""
    eve = member(chat, "eve")
    eve.send(b"z" * 200)
    with pytest.raises(lab.model.ConnectionClosed):
        eve.read_until(b"never", timeout=5)
    assert b"line longer than 64 bytes" in b"".join(e.data for e in eve.transcript)


@pytest.mark.reactor
def test_chat_conversation_decodes_through_the_plugin(chat):
    """The listener's decoder (from the plugin) reads the captured conversation."""
    ada = member(chat, "ada")
    ada.close()
    assert chat.capture.wait_for(lambda c: c.open_count == 0)
    decoder = chat.decoder()
    lines = [line for e in chat.capture.events(kinds=("in", "out"))
             for line in decoder.feed(e.kind, e.data)]
    assert "command /nick ada" in lines
    assert "room * you are now ada" in lines
