"""Framers and the RESP core: bytes in, whole messages out, nothing changed or lost."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lab.protocols import resp
from lab.protocols.framing import (FRAMINGS, FramingDecoder, FramingError, LengthPrefixFramer,
                                   LineFramer, NetstringFramer, framing)

REDIS_STREAM = (b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$2\r\nhi\r\n+OK\r\n-ERR wrong\r\n:42\r\n"
                b"$-1\r\n*-1\r\n*0\r\n$0\r\n\r\n>3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$2\r\nhi\r\n"
                b"PING\r\n_\r\n#f\r\n,3.5\r\n(12345678901234567890\r\n!3\r\nbad\r\n"
                b"=8\r\ntxt:some\r\n%1\r\n+a\r\n:1\r\n~2\r\n+x\r\n+y\r\n|1\r\n+ttl\r\n:3\r\n+OK\r\n")


def _split_everywhere(framer_factory, stream, cuts):
    framer, messages = framer_factory(), []
    points = sorted({c % (len(stream) + 1) for c in cuts}) + [len(stream)]
    start = 0
    for point in points:
        messages += framer.feed(stream[start:point])
        start = point
    return messages, framer


def test_resp_decodes_every_type():
    """Each RESP2 and RESP3 type decodes to its Python value."""
    framer = resp.RespFramer()
    values = [resp.decode(m) for m in framer.feed(REDIS_STREAM)]
    assert [b"SET", b"k", b"hi"] == values[0]
    assert ["OK", resp.Error("ERR wrong"), 42, None, None, [], b""] == values[1:8]
    assert isinstance(values[8], resp.Push) and [b"message", b"ch", b"hi"] == values[8]
    assert resp.Inline([b"PING"]) == values[9]
    assert [None, False, 3.5, 12345678901234567890] == values[10:14]
    assert isinstance(values[14], resp.Error)
    assert resp.Verbatim("txt", b"some") == values[15]
    assert {"a": 1} == values[16] and {"x", "y"} == values[17]
    assert ({"ttl": 3}, "OK") == (dict(values[18][0]), values[18][1])
    assert 0 == framer.pending


def test_resp_describe_reads_like_redis_cli():
    """Descriptions read like redis-cli: commands as words, replies typed."""
    assert "SET k hi" == resp.describe(resp.encode_command("SET", "k", "hi"))
    assert "(integer) 42" == resp.describe(b":42\r\n")
    assert "(error) ERR x" == resp.describe(b"-ERR x\r\n")
    assert "(nil)" == resp.describe(b"$-1\r\n")
    assert 'push: ["message", "ch", "hi"]' == resp.describe(
        b">3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$2\r\nhi\r\n")


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=10_000), max_size=30))
def test_resp_framing_is_independent_of_segmentation(cuts):
    """However the stream is cut, the same messages come out, byte for byte."""
    messages, framer = _split_everywhere(resp.RespFramer, REDIS_STREAM, cuts)
    assert REDIS_STREAM == b"".join(messages)
    assert resp.RespFramer().feed(REDIS_STREAM) == messages


@pytest.mark.parametrize("name,stream", [
    ("lines", b"hello\r\nworld\n\n"),
    ("netstring", b"5:hello,0:,3:a,b,"),
    ("length", b"\0\0\0\x05hello\0\0\0\0\0\0\0\x01x"),
    ("memcached", b"set k 0 0 2\r\nhi\r\nget k\r\ndelete k noreply\r\nversion\r\n"),
    ("resp", REDIS_STREAM),
])
def test_framers_keep_every_byte_one_byte_at_a_time(name, stream):
    """Fed one byte at a time, every framer gives back the stream as whole messages."""
    framer = framing(name).to_server()
    messages = [m for byte in stream for m in framer.feed(bytes([byte]))]
    assert stream == b"".join(messages)
    assert len(messages) == len(framing(name).to_server().feed(stream))
    assert 0 == framer.pending


def test_memcached_frames_commands_with_their_data_and_replies_with_values():
    """memcached: a storage command and its block are one message; VALUE blocks stay whole."""
    commands = framing("memcached").to_server()
    assert [b"set k 0 0 5\r\nhe\r\nl\r\n"] == commands.feed(b"set k 0 0 5\r\nhe\r\nl\r\n")
    replies = framing("memcached").to_client()
    assert [b"VALUE k 0 5\r\nhe\r\nl\r\n", b"END\r\n"] == replies.feed(
        b"VALUE k 0 5\r\nhe\r\nl\r\nEND\r\n")


def test_garbage_raises_a_framing_error_keeping_earlier_messages():
    """On garbage a framer raises FramingError; the messages before it and the rest are kept."""
    framer = framing("resp").to_server()
    with pytest.raises(FramingError) as caught:
        framer.feed(b"+OK\r\n*1\r\n?x\r\n")
    assert [b"+OK\r\n"] == caught.value.messages
    assert b"*1\r\n?x\r\n" == framer.drain()
    with pytest.raises(FramingError, match="does not start with"):
        NetstringFramer().feed(b"hello")
    with pytest.raises(FramingError, match="more than"):
        LengthPrefixFramer(max_message=10).feed(b"\0\0\1\0")
    with pytest.raises(FramingError, match="no message end"):
        LineFramer(max_message=8).feed(b"x" * 9)


def test_framing_decoder_shows_messages_and_falls_back_to_raw():
    """The conversation decoder shows one line per message, and says when framing stopped."""
    decoder = FramingDecoder(FRAMINGS["resp"])
    assert ["-> GET k"] == decoder.feed("in", resp.encode_command("GET", "k"))
    assert ['<- "v"'] == decoder.feed("out", b"$1\r\nv\r\n")
    assert "framing stopped" in decoder.feed("out", b"*1\r\n?junk\r\n")[0]
    assert ["<- more"] == decoder.feed("out", b"more")
