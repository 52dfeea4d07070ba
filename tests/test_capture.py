"""Capture: the wiretap's events, the bounded ring buffer, pcap export read by tshark, replay."""

import random
import shutil
import subprocess

import pytest

import lab
from lab.adapters.echo import EchoFactory
from lab.model import Capture

TSHARK = shutil.which("tshark") or "tshark"  # missing: the test fails saying so (CI installs it)


@pytest.fixture
def cleanup(lab_reactor):
    """Stop every listener a test started."""
    yield
    lab.model.stop_all()


def converse(listener, *messages):
    """Send each message and read its reply, close, and wait until the server saw the close."""
    client = lab.connect(listener)
    replies = []
    for message, until in messages:
        client.send(message)
        replies.append(client.read_until(until))
    client.close()
    assert listener.capture.wait_for(lambda c: c.open_count == 0)
    return replies


def tshark(*args):
    """Run tshark and return its standard output."""
    assert shutil.which(TSHARK), "tshark is missing: apt-get install tshark (tasks.py test does)"
    done = subprocess.run([TSHARK, *args], capture_output=True, text=True, timeout=60)
    assert 0 == done.returncode, done.stderr
    return done.stdout


def test_events_tell_the_whole_conversation(cleanup):
    """A connection shows as connect, in, out, close, in time order, with data and reason."""
    listener = lab.listen(EchoFactory())
    converse(listener, (b"hello\n", b"\n"))
    events = listener.capture.events()
    assert ["connect", "in", "out", "close"] == [e.kind for e in events]
    assert [b"", b"hello\n", b"hello\n", b""] == [e.data for e in events]
    assert "closed cleanly" in events[-1].reason
    assert [e.time for e in events] == sorted(e.time for e in events)
    assert {1} == {e.connection for e in events}


def test_ring_buffer_keeps_the_newest_events_and_counts_the_dropped():
    """Past max_events the oldest events go, and dropped says how many."""
    capture = Capture(max_events=5)
    cid = capture.opened("tcp", ("127.0.0.1", 5000), ("127.0.0.1", 80), None)
    for n in range(10):
        capture.record("in", cid, b"%d" % n)
    assert (5, 6) == (len(capture), capture.dropped)
    assert [b"5", b"6", b"7", b"8", b"9"] == [e.data for e in capture.events()]
    assert 10 == capture.bytes_in


def test_ring_buffer_bounds_bytes_too():
    """Past max_bytes the oldest data goes, so memory stays bounded whatever the event count."""
    capture = Capture(max_events=1000, max_bytes=100)
    cid = capture.opened("tcp", ("127.0.0.1", 5000), ("127.0.0.1", 80), None)
    for _ in range(50):
        capture.record("out", cid, b"x" * 30)
    assert capture.size <= 100
    assert 3 == len(capture.events(kinds=("out",)))
    assert 1500 == capture.bytes_out


def test_capture_off_keeps_counts_but_no_events(cleanup):
    """With capture=False the listener still counts bytes but keeps no events."""
    listener = lab.listen(EchoFactory(), capture=False)
    converse(listener, (b"quiet\n", b"\n"))
    capture = listener.capture
    assert (0, 6, 6) == (len(capture), capture.bytes_in, capture.bytes_out)


def test_no_wiretap_serves_unwrapped_and_stop_still_drops_its_connections(cleanup):
    """With wiretap=False the protocol runs on the bare transport; stats count connections and stop() drops an open one."""
    listener = lab.listen(EchoFactory(), capture=False, wiretap=False)
    client = lab.connect(listener)
    client.send(b"plain\n")
    assert b"plain\n" == client.read_until(b"\n")
    stats = listener.stats()
    assert (1, 1, 0, 0) == (stats["connections"], stats["open"], stats["bytes_in"], len(listener.capture))
    protocol = listener._tracker.open_protocols()[0]
    assert "Echo" == type(protocol).__name__  # no wrapper between it and the transport
    listener.stop()
    assert b"" == client.read(timeout=5)
    assert client.closed_reason is not None
    assert [] == listener._tracker.open_protocols()
    with pytest.raises(ValueError, match="capture=True needs the wiretap"):
        lab.listen(EchoFactory(), wiretap=False)


def test_clear_while_recording_keeps_the_bounds_and_the_size_right():
    """clear() swaps the buffer; the next record recounts, so size, bounds and seq stay right."""
    capture = Capture(max_events=4, max_bytes=100)
    cid = capture.opened("tcp", ("127.0.0.1", 5000), ("127.0.0.1", 80), None)
    for _ in range(3):
        capture.record("in", cid, b"x" * 10)
    capture.clear()
    assert (0, 0) == (len(capture), capture.size)
    for _ in range(6):
        capture.record("out", cid, b"y" * 10)
    assert (4, 40, 10) == (len(capture), capture.size, capture.seq)
    assert [7, 8, 9, 10] == [e.seq for e in capture.events()]
    assert [9, 10] == [e.seq for e in capture.events(since=8)]


def test_pcap_opens_in_tshark_with_the_same_bytes(cleanup, tmp_path):
    """tshark reads the exported pcap as one TCP stream whose payload is the captured bytes."""
    listener = lab.listen(EchoFactory())
    converse(listener, (b"first\n", b"\n"), (b"second\n", b"\n"))
    path = listener.capture.write_pcap(tmp_path / "echo.pcap")
    out = tshark("-r", str(path), "-q", "-z", "follow,tcp,raw,0")
    hex_lines = [line.strip() for line in out.splitlines() if line.strip()
                 and all(ch in "0123456789abcdef" for ch in line.strip())]
    assert b"first\nfirst\nsecond\nsecond\n" == bytes.fromhex("".join(hex_lines))
    flags = tshark("-r", str(path), "-T", "fields", "-e", "tcp.flags.str")
    assert (2, 0) == (flags.count("F"), flags.count("R"))  # a FIN each way, no reset
    assert "Bad" not in tshark("-r", str(path), "-o", "tcp.check_checksum:TRUE",
                               "-o", "ip.check_checksum:TRUE", "-T", "fields",
                               "-e", "tcp.checksum.status")


def test_pcap_of_memcached_text_traffic_decodes_in_tshark(cleanup, tmp_path, artifacts):
    """tshark's memcache dissector decodes the commands and replies of the exported capture."""
    listener = lab.listen("memcached")
    converse(listener, (b"set greeting 0 0 5\r\nhello\r\n", b"STORED\r\n"),
             (b"get greeting\r\n", b"END\r\n"))
    path = listener.capture.write_pcap(artifacts / "memcache-text.pcap", overwrite=True)
    out = tshark("-r", str(path), "-d", f"tcp.port=={listener.port},memcache",
                 "-Y", "memcache", "-T", "fields", "-e", "memcache.command",
                 "-e", "memcache.response", "-e", "memcache.key", "-e", "memcache.value")
    rows = [line.split("\t") for line in out.splitlines()]
    assert ["set", "", "greeting", "hello"] == rows[0]
    assert "STORED" == rows[1][1]
    assert ["get", "greeting"] == [rows[2][0], rows[2][2]]
    assert ["greeting", "hello"] == rows[3][2:4]  # the VALUE reply


def test_udp_capture_exports_datagrams(cleanup, tmp_path):
    """Each captured datagram becomes one UDP packet in the pcap, with its payload."""
    from lab.adapters.echo import EchoDatagram

    listener = lab.listen(EchoDatagram(), "udp:0")
    client = lab.connect(listener)
    client.send(b"ping")
    assert b"ping" == client.read()
    client.close()
    path = listener.capture.write_pcap(tmp_path / "udp.pcap")
    out = tshark("-r", str(path), "-T", "fields", "-e", "udp.dstport", "-e", "data.data")
    assert [f"{listener.port}\t70696e67", f"{client_port(out)}\t70696e67"] == out.split("\n")[:2]


def client_port(out):
    """The destination port of the second packet (the client's port)."""
    return out.splitlines()[1].split("\t")[0]


def test_replay_sends_the_captured_client_stream_again(cleanup):
    """Replaying a captured connection against another listener gets the same replies."""
    first = lab.listen("memcached", name="original")
    converse(first, (b"set k 0 0 2\r\nhi\r\n", b"STORED\r\n"), (b"get k\r\n", b"END\r\n"))
    second = lab.listen("memcached", name="copy")
    client = first.replay(1, second)
    assert b"STORED\r\nVALUE k 0 2\r\nhi\r\nEND\r\n" == client.read_until(b"END\r\n")
    client.close()
    assert first.capture.stream(1, "in") == second.capture.stream(1, "in")


def test_replay_of_unknown_connection_says_so(cleanup):
    """Replaying a connection the capture does not hold raises a ClientError that explains."""
    listener = lab.listen(EchoFactory())
    with pytest.raises(lab.model.ClientError, match="nothing from the client"):
        listener.replay(99)


def test_closed_connections_listed_are_bounded():
    """Past the bound, the oldest closed connections are forgotten; open ones always stay."""
    from lab.model._capture import MAX_CLOSED_CONNECTIONS

    capture = Capture(enabled=False)
    still_open = capture.opened("tcp", ("127.0.0.1", 1), ("127.0.0.1", 2), None)
    for _ in range(MAX_CLOSED_CONNECTIONS + 5):
        cid = capture.opened("tcp", ("127.0.0.1", 1), ("127.0.0.1", 2), None)
        capture.closed(cid, "done")
    listed = [c.id for c in capture.connections()]
    assert still_open in listed and 2 not in listed and 6 not in listed and 7 in listed
    assert MAX_CLOSED_CONNECTIONS + 1 == len(listed)


def ipv6_loopback():
    """True if this machine can bind ::1."""
    import socket

    try:
        with socket.socket(socket.AF_INET6) as sock:
            sock.bind(("::1", 0))
    except OSError:
        return False
    return True


@pytest.mark.skipif(not ipv6_loopback(), reason="no IPv6 loopback here")
def test_ipv6_listener_and_its_pcap(cleanup, tmp_path):
    """A tcp6 listener binds ::1 by default and its pcap carries IPv6 packets tshark follows."""
    listener = lab.listen(EchoFactory(), "tcp6:0")
    assert "::1" == listener.host
    converse(listener, (b"six\n", b"\n"))
    path = listener.capture.write_pcap(tmp_path / "six.pcap")
    assert {"::1"} == set(tshark("-r", str(path), "-T", "fields", "-e", "ipv6.src").split())
    assert "six\n" in tshark("-r", str(path), "-q", "-z", "follow,tcp,ascii,0")


def test_a_capture_iterates_its_events(lab_reactor):
    """list(listener.capture) gives the kept events, oldest first."""
    listener = lab.listen("echo", name="iterated")
    try:
        client = lab.connect(listener)
        client.send(b"one\r\n")
        client.read_until(b"\r\n")
        client.close()
        assert listener.capture.wait_for(lambda c: c.open_count == 0)
        kinds = [event.kind for event in listener.capture]
        assert ["connect", "in", "out", "close"] == kinds
    finally:
        listener.stop()


def test_batched_trimming_keeps_what_trimming_each_chunk_kept():
    """Whatever the sizes, bounds and moments of reading, the kept events, seqs, offsets, size and drops are those of dropping the oldest after every chunk."""
    rng = random.Random(18)
    for trial in range(60):
        # bounds small and large: chunks of small data are joined, chunks of 20 KB reads are not
        max_events = rng.randint(1, 300)
        max_bytes = rng.choice((rng.randint(1, 5000), rng.randint(1, 600_000)))
        capture = Capture(max_events=max_events, max_bytes=max_bytes)
        model, dropped, offsets, seq = [], 0, {}, 0
        cids = [capture.opened("tcp", ("127.0.0.1", 5000 + n), ("127.0.0.1", 80), None)
                for n in range(3)]
        seq += 3
        model.extend((n + 1, "connect", cid, b"", 0) for n, cid in enumerate(cids))
        for _ in range(rng.randint(0, 900)):
            cid, kind = rng.choice(cids), rng.choice(("in", "out"))
            data = rng.randbytes(rng.choice((0, 1, 7, 60, 400, 20_000)))
            capture.record(kind, cid, data)
            seq += 1
            offset = offsets.get((cid, kind), 0)
            offsets[cid, kind] = offset + len(data)
            model.append((seq, kind, cid, data[:max_bytes], offset))
            while len(model) > max_events or sum(len(e[3]) for e in model) > max_bytes:
                model.pop(0)
                dropped += 1
            if rng.random() < 0.05:  # a reader looks now and then, mid-batch
                assert len(model) == len(capture), trial
        kept = [(e.seq, e.kind, e.connection, e.data, e.offset) for e in capture.events()]
        assert model == kept, trial
        assert (dropped, seq, sum(len(e[3]) for e in model)) == (
            capture.dropped, capture.seq, capture.size), trial
        since = rng.randint(0, seq)
        assert [e for e in model if e[0] > since] == [
            (e.seq, e.kind, e.connection, e.data, e.offset) for e in capture.events(since=since)]
        assert model[-5:] == [(e.seq, e.kind, e.connection, e.data, e.offset)
                              for e in capture.tail(5)]


def test_a_full_ring_of_small_events_holds_little_beside_their_data():
    """The bound is on data; what each kept event costs beside it stays small (a kernel's memory)."""
    import tracemalloc

    capture = Capture(max_events=20_000)
    cid = capture.opened("tcp", ("127.0.0.1", 5000), ("127.0.0.1", 80), None)
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for n in range(30_000):  # fresh objects, as reads and replies are
            capture.record("in" if n % 2 else "out", cid, b"get key:%08d\r\n" % n)
        kept = len(capture)
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert (kept, capture.dropped) == (20_000, 10_001)  # the connect event went first
    beside = (held - capture.size) / kept
    assert beside < 64, f"{beside:.0f} bytes per kept event beside its data"
    assert capture.events()[-1].data == b"get key:%08d\r\n" % 29_999
