"""Properties of the chat core and its decoder, over generated input (Hypothesis, no network)."""

from hypothesis import given, settings
from hypothesis import strategies as st

from lab.protocols.chat import ChatDecoder, ChatRoom

lines = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=80)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 4), lines), max_size=40))
def test_any_lines_from_any_members_never_raise_and_address_only_members(script):
    """Whatever members type, the room answers without raising and only to members present."""
    room = ChatRoom(max_members=3)
    for member in (1, 2, 3, 4):
        room.join(member)
    for member, text in script:
        for delivery in room.line(member, text):
            assert set(delivery.to) <= set(room.nicks) | {member}


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300), st.lists(st.integers(1, 50), max_size=20))
def test_decoder_gives_the_same_lines_however_the_bytes_are_chunked(data, cuts):
    """Feeding bytes in any chunks gives the same decoded lines as feeding them at once."""
    whole = ChatDecoder().feed("in", data)
    decoder, chunked, at = ChatDecoder(), [], 0
    for size in cuts + [len(data)]:
        chunked += decoder.feed("in", data[at:at + size])
        at += size
    assert whole == chunked
