"""The intercepting proxy on the real reactor, between real clients and real servers."""

import socket
import struct
import subprocess
import time

import pytest
from pymemcache.client.base import Client as MemcacheClient

import lab
from lab.model import EndpointError, ListenError, ProxyError, RemoteNotAllowed
from tests.memcached_peers import free_port, real_memcached, require
from tests.polling import eventually


@pytest.fixture
def stop_after():
    """Stops every proxy or listener a test registers here."""
    started = []
    yield started.append
    for each in started:
        each.stop()


def _exercise_memcached(port):
    client = MemcacheClient(("127.0.0.1", port), timeout=5)
    try:
        assert client.set("k", "hello", noreply=False)
        assert b"hello" == client.get("k")
        assert client.add("n", "1", noreply=False)
        assert 3 == client.incr("n", 2) and 2 == client.decr("n", 1)
        assert client.append("k", "!", noreply=False) and client.prepend("k", ">", noreply=False)
        value, cas = client.gets("k")
        assert b">hello!" == value and client.cas("k", "new", cas, noreply=False)
        assert {"k": b"new", "n": b"2"} == client.get_many(["k", "n", "none"])
        assert client.touch("k", 100, noreply=False) and client.delete("k", noreply=False)
        assert client.get("k") is None and client.version()
    finally:
        client.close()


def _decoded(proxy_):
    decoder = proxy_.decoder()
    client_legs = {leg for leg, _ in proxy_.legs()}
    return [line for e in proxy_.capture.events(kinds=("in", "out"))
            if e.connection in client_legs for line in decoder.feed(e.kind, e.data)]


def test_pymemcache_through_the_proxy_to_real_memcached(lab_reactor, stop_after):
    """Every pymemcache operation works through the proxy, and the conversation shows each."""
    with real_memcached() as port:
        proxy_ = lab.proxy(f"tcp:127.0.0.1:{port}", framer="memcached", name="t-mc-real")
        stop_after(proxy_)
        _exercise_memcached(proxy_.port)
        lines = _decoded(proxy_)
    assert any(line.startswith("-> set k") for line in lines)
    assert "<- STORED" in lines and "<- END" in lines
    assert any(line.startswith("-> cas k") for line in lines)
    assert any("VALUE k 0 7" in line and ">hello!" in line for line in lines)
    assert 2 == proxy_.capture.connection_count  # a client leg and a server leg


def test_pymemcache_through_the_proxy_to_the_labs_memcached(lab_reactor, stop_after):
    """A lab listener as the target: its plugin's framer is the proxy's, and every operation works."""
    server = lab.listen("memcached", name="t-mc-lab-target")
    stop_after(server)
    proxy_ = lab.proxy(server, name="t-mc-lab")
    stop_after(proxy_)
    assert "memcached" == proxy_.framing.name
    _exercise_memcached(proxy_.port)
    assert "<- STORED" in _decoded(proxy_)
    assert proxy_ in lab.listeners() and proxy_ in lab.proxies()


def test_memccapable_passes_through_one_byte_fragmentation(lab_reactor, stop_after):
    """memccapable -a passes through the proxy, every write cut into 1-byte pieces, to both servers.

    The two runs go side by side (memccapable spends most of its ~20 s in its own sleeps).
    """
    binary = require("memccapable")
    server = lab.listen("memcached", name="t-capable-lab", capture=False)
    stop_after(server)
    with real_memcached() as port:
        runs = {which: _memccapable_via(binary, target, stop_after, which)
                for which, target in (("real", f"tcp:127.0.0.1:{port}"), ("lab", server))}
        outputs = {which: run.communicate(timeout=120) for which, run in runs.items()}
    for which, (out, err) in outputs.items():
        assert "All tests passed" in out, f"{which}: {out}{err}"
        assert "[FAIL]" not in out and 0 == runs[which].returncode


def _memccapable_via(binary, target, stop_after, which):
    proxy_ = lab.proxy(target, framer="memcached", name=f"t-capable-{which}-proxy",
                       capture=False)
    stop_after(proxy_)
    proxy_.fault(fragment=1)
    return subprocess.Popen([binary, "-h", "127.0.0.1", "-p", str(proxy_.port), "-a"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_fragmentation_sends_each_piece_on_its_own(lab_reactor, stop_after):
    """fault(fragment=3) delivers a reply in 3-byte pieces, recorded as separate writes."""
    server = lab.listen("echo", name="t-frag-echo")
    stop_after(server)
    proxy_ = lab.proxy(server, framer="lines", name="t-frag")
    stop_after(proxy_)
    proxy_.fault(fragment=3)
    client = lab.connect(proxy_)
    client.send(b"hello world\n")
    assert b"hello world\n" == client.read_until(b"\n")
    client.close()
    pieces = [e.data for e in proxy_.capture.events(kinds=("out",))
              if e.connection == proxy_.legs()[0][0]]
    assert [b"hel", b"lo ", b"wor", b"ld\n"] == pieces
    # both legs end once each side has sent its EOF and got the other's
    assert eventually(lambda: proxy_.capture.open_count == 0)


def test_intercept_edit_drop_and_inject_on_lines(lab_reactor, stop_after):
    """A held line can be edited, dropped, or joined by an injected one; order is kept."""
    server = lab.listen("echo", name="t-int-echo")
    stop_after(server)
    proxy_ = lab.proxy(server, framer="lines", name="t-int")
    stop_after(proxy_)
    proxy_.intercept("to_server", match=b"secret")
    client = lab.connect(proxy_)
    client.send(b"one secret\ntwo\n")
    assert eventually(lambda: len(proxy_.held) == 1)
    held = proxy_.held[0]
    assert ("to_server", b"one secret\n") == (held.direction, held.data)
    assert b"" == client.read(timeout=0.2)  # "two" waits behind the held line
    with pytest.raises(TypeError, match="bytes or str"):
        proxy_.forward(held, 42)
    proxy_.forward(held, "one public\n")
    assert b"one public\ntwo\n" == client.read_until(b"two\n")
    client.send(b"three secret\n")
    assert eventually(lambda: len(proxy_.held) == 1)
    proxy_.drop(proxy_.held[0])
    proxy_.inject(proxy_.legs()[0][0], "to_client", b"injected\n")
    assert b"injected\n" == client.read_until(b"\n")
    with pytest.raises(ProxyError, match="no longer waiting"):
        proxy_.forward(held)
    proxy_.intercept(None)
    client.send(b"four secret\n")
    assert b"four secret\n" == client.read_until(b"\n")
    client.close()
    assert any("dropped" in n.text for n in proxy_.notes)


def test_held_list_bound_lets_extra_messages_wait_unheld(lab_reactor, stop_after):
    """Past max_held, matching messages are not held but wait in order; nothing is lost."""
    server = lab.listen("echo", name="t-bound-echo")
    stop_after(server)
    proxy_ = lab.proxy(server, framer="lines", name="t-bound", max_held=2)
    stop_after(proxy_)
    proxy_.intercept("to_server")
    client = lab.connect(proxy_)
    client.send(b"a\nb\nc\nd\n")
    assert eventually(lambda: proxy_.not_held == 2)
    assert 2 == len(proxy_.held)
    assert 2 == proxy_.release_all()
    assert b"a\nb\nc\nd\n" == client.read_until(b"d\n")
    client.close()
    assert any("held limit (2) reached" in n.text for n in proxy_.notes)


def test_close_and_reset_after_n_messages_and_delay(lab_reactor, stop_after):
    """close_after_messages closes both legs after N messages; reason noted; delay is applied."""
    server = lab.listen("echo", name="t-close-echo")
    stop_after(server)
    proxy_ = lab.proxy(server, framer="lines", name="t-close")
    stop_after(proxy_)
    proxy_.fault(close_after_messages=2, direction="to_client", delay=0.05, jitter=0.01, seed=1)
    client = lab.connect(proxy_)
    started = time.monotonic()
    client.send(b"1\n2\n3\n")
    assert b"1\n2\n" == client.read_until(b"2\n")
    assert time.monotonic() - started >= 0.05
    assert eventually(lambda: not client.is_open)
    assert any("fault: closed after" in n.text for n in proxy_.notes)
    proxy_.fault()
    assert proxy_.faults is None


def test_unreachable_target_target_closing_and_client_leaving(lab_reactor, stop_after):
    """Each failure is recorded with its reason, and another connection keeps working."""
    dead = lab.proxy(f"tcp:127.0.0.1:{free_port()}", framer="lines", name="t-dead")
    stop_after(dead)
    with socket.create_connection(("127.0.0.1", dead.port), timeout=5) as sock:
        assert b"" == sock.recv(10)
    assert eventually(lambda: any("unreachable" in n.text for n in dead.notes))
    assert eventually(lambda: "target unreachable" in (dead.capture.connections()[0].reason or ""))

    # a server that answers half a message, then closes
    with socket.create_server(("127.0.0.1", 0)) as half:
        proxy_ = lab.proxy(f"tcp:127.0.0.1:{half.getsockname()[1]}", framer="resp",
                           name="t-half")
        stop_after(proxy_)
        with socket.create_connection(("127.0.0.1", proxy_.port), timeout=5) as sock:
            peer, _ = half.accept()
            peer.sendall(b"+OK\r\n$10\r\nabc")
            peer.close()
            got = b""
            while chunk := sock.recv(100):
                got += chunk
        assert b"+OK\r\n$10\r\nabc" == got
    assert eventually(lambda: any("incomplete message" in n.text for n in proxy_.notes))

    server = lab.listen("echo", name="t-leave-echo")
    stop_after(server)
    proxy_ = lab.proxy(server, framer="lines", name="t-leave")
    stop_after(proxy_)
    proxy_.intercept("to_client")
    staying = lab.connect(proxy_)
    leaving = socket.create_connection(("127.0.0.1", proxy_.port), timeout=5)
    leaving.sendall(b"bye\n")
    assert eventually(lambda: len(proxy_.held) == 1)
    leaving.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    leaving.close()  # an abort (RST): the client is gone, not just done sending
    assert eventually(lambda: any("client left" in n.text for n in proxy_.notes))
    assert [] == proxy_.held
    proxy_.intercept(None)
    staying.send(b"still here\n")
    assert b"still here\n" == staying.read_until(b"\n")
    staying.close()


def test_a_framer_raising_on_garbage_passes_the_rest_through(lab_reactor, stop_after):
    """A user's framer that raises: noted, the direction goes raw, no byte lost."""

    class Picky:
        """Lines; raises on '!', after buffering a partial line of its own."""

        name = "picky"

        def __init__(self):
            self.buffer = b""

        def feed(self, data):
            if b"!" in data:
                raise RuntimeError("no exclamations")
            self.buffer += data
            lines = self.buffer.split(b"\n")
            self.buffer = lines.pop()
            return [line + b"\n" for line in lines]

        def describe(self, message):
            return message.decode()

    server = lab.listen("echo", name="t-picky-echo")
    stop_after(server)
    proxy_ = lab.proxy(server, framer=Picky, name="t-picky")
    stop_after(proxy_)
    client = lab.connect(proxy_)
    client.send(b"fine\n")
    assert b"fine\n" == client.read_until(b"\n")
    client.send(b"half ")  # buffered inside Picky, which has no drain()
    client.send(b"loud!\n")
    assert b"half loud!\n" == client.read_until(b"\n")
    client.send(b"after\n")
    assert b"after\n" == client.read_until(b"\n")
    client.close()
    assert any("the framer raised RuntimeError: no exclamations" in n.text for n in proxy_.notes)


def test_bad_input_gets_clear_errors_and_others_keep_working(lab_reactor, stop_after):
    """Bad endpoints, busy ports, remote binds, bad framers and faults: clear errors only."""
    server = lab.listen("echo", name="t-bad-echo")
    stop_after(server)
    good = lab.proxy(server, framer="lines", name="t-bad-good")
    stop_after(good)
    with pytest.raises(EndpointError, match="needs a host and a port"):
        lab.proxy("tcp:nowhere", name="t-bad-1")
    with pytest.raises(EndpointError):
        lab.proxy(server, listen="carrier-pigeon:1", name="t-bad-2")
    with pytest.raises(ListenError, match="Choose another port"):
        lab.proxy(server, listen=f"tcp:{good.port}", name="t-bad-3")
    with pytest.raises(RemoteNotAllowed, match="allow_remote=True"):
        lab.proxy(server, listen="tcp:0:interface=0.0.0.0", name="t-bad-4")
    with pytest.raises(ProxyError, match="no framer 'nonsense'"):
        lab.proxy(server, framer="nonsense", name="t-bad-5")
    with pytest.raises(ProxyError, match="no fault"):
        good.fault(fragmnet=1)
    with pytest.raises(ProxyError, match="at least 1"):
        good.fault(fragment=0)
    with pytest.raises(ProxyError, match="udp"):
        lab.proxy(server, listen="udp:0", name="t-bad-6")
    client = lab.connect(good)
    client.send(b"still fine\n")
    assert b"still fine\n" == client.read_until(b"\n")
    client.close()


def test_udp_proxy_keeps_a_leg_per_client_address(lab_reactor, stop_after):
    """UDP: each client address gets its own server leg; datagrams are messages."""
    server = lab.listen("echo", "udp:0", name="t-udp-echo")
    stop_after(server)
    proxy_ = lab.proxy(server, listen="udp:0", name="t-udp")
    stop_after(proxy_)
    first, second = lab.connect(proxy_), lab.connect(proxy_)
    first.send(b"one")
    second.send(b"two")
    assert b"one" == first.read(timeout=5) and b"two" == second.read(timeout=5)
    assert 2 == len(proxy_.legs()) and 4 == proxy_.capture.connection_count
    first.close()
    second.close()


def test_pcap_has_both_legs_and_replay_diffs_replies(lab_reactor, stop_after, tmp_path):
    """The pcap holds both legs as TCP streams; a replay after the data changed shows the diff."""
    with real_memcached() as port:
        direct = MemcacheClient(("127.0.0.1", port), timeout=5)
        direct.set("k", "v1", noreply=False)
        proxy_ = lab.proxy(f"tcp:127.0.0.1:{port}", framer="memcached", name="t-replay")
        stop_after(proxy_)
        client = MemcacheClient(("127.0.0.1", proxy_.port), timeout=5)
        assert b"v1" == client.get("k")
        assert b"v1" == client.get("k")
        client.close()
        same = proxy_.replay(proxy_.legs()[0][0])
        assert 0 == same.differences and "" == same.diff()
        direct.set("k", "v2", noreply=False)
        direct.close()
        report = proxy_.replay(proxy_.legs()[0][0])
        assert 2 == report.differences
        assert "-#1 <- VALUE k 0 2 = 'v1'" in report.diff()
        assert "+#1 <- VALUE k 0 2 = 'v2'" in report.diff()
        path = proxy_.capture.write_pcap(tmp_path / "proxy.pcap")
    tshark = subprocess.run(["tshark", "-r", str(path), "-q", "-z", "conv,tcp"],
                            capture_output=True, text=True, timeout=60)
    assert 2 == tshark.stdout.count("<->"), tshark.stdout


def test_the_listeners_panel_says_what_a_proxy_serves(lab_reactor, stop_after):
    """A proxy's row in the listeners panel says "proxy → <target>" in its serves column."""
    from lab.widgets.listeners import ListenersPanel

    server = lab.listen("echo", name="t-serves-echo")
    stop_after(server)
    proxy_ = lab.proxy(server, framer="lines", name="t-serves")
    stop_after(proxy_)
    wanted = f"proxy \u2192 tcp:127.0.0.1:{server.port}"
    assert wanted == proxy_.serves == proxy_.stats()["serves"]
    panel = ListenersPanel(live=False)
    cells = [cell.value for cell in panel._rows["t-serves"].cells]
    assert wanted in cells[1] and "echo" in panel._rows["t-serves-echo"].cells[1].value
    panel.close()


def test_proxy_panel_edits_a_held_message_and_sets_faults(lab_reactor, stop_after):
    """The panel shows both legs, forwards a held message as edited in text, and sets faults."""
    from lab.widgets import ProxyPanel, dashboard
    from lab.widgets.proxy_view import from_escaped, to_escaped

    assert b"a\\\r\n\x00\xff\t" == from_escaped(to_escaped(b"a\\\r\n\x00\xff\t"))
    server = lab.listen("echo", name="t-panel-echo")
    stop_after(server)
    proxy_ = lab.proxy(server, framer="lines", name="t-panel")
    stop_after(proxy_)
    panel = ProxyPanel(proxy_, live=False)
    panel.direction.value = "to_server"
    panel.intercept_button.value = True
    client = lab.connect(proxy_)
    client.send(b"hello\n")
    assert eventually(lambda: len(proxy_.held) == 1)
    panel.refresh()
    assert "hello\\n" in panel.editor.value
    panel.editor.value = "howdy\\n"
    panel.forward_button.click()
    assert b"howdy\n" == client.read_until(b"\n")
    panel.refresh()
    assert "client leg" in panel.legs.value and "howdy" in panel.legs.value
    panel.fault_inputs["fragment"].value = 2
    panel.fault_button.click()
    assert 2 == proxy_.faults.fragment
    panel.clear_faults_button.click()
    assert proxy_.faults is None
    panel.forward_button.click()
    assert "no held message" in panel.message.value
    assert "lab-proxy-legs" in proxy_._repr_html_()
    client.close()
    panel.close()
    dash = dashboard(proxy_)
    assert isinstance(dash.proxy_box.children[0], ProxyPanel)
    dash.close()


def test_a_users_plugin_provides_the_framer(lab_reactor, stop_after, tmp_path):
    """A plugin declaring framing= is a framer by its name, and a proxy to its listener uses it."""
    (tmp_path / "framed_echo.py").write_text(
        "from lab import protocol_plugin\n"
        "framed_echo = protocol_plugin('framed-echo', 'Echo, framed as netstrings.',\n"
        "    factory='lab.adapters.echo:EchoFactory',\n"
        "    framing='lab.protocols.framing:NetstringFramer')\n")
    lab.plugins(paths=[tmp_path])
    server = lab.listen("framed-echo", name="t-framed-echo")
    stop_after(server)
    by_default = lab.proxy(server, name="t-framed-default")
    stop_after(by_default)
    by_name = lab.proxy(server, framer="framed-echo", name="t-framed-named")
    stop_after(by_name)
    assert "framed-echo" == by_default.framing.name == by_name.framing.name
    client = lab.connect(by_name)
    client.send(b"5:hello,")
    assert b"5:hello," == client.read_until(b",")
    client.close()
    assert "#1 -> hello" in by_name.conversation()


def test_held_bytes_bound_pauses_the_sender_and_loses_nothing(lab_reactor, stop_after):
    """Past max_held_bytes waiting, the proxy stops reading the sender; released, all arrives."""
    server = lab.listen("echo", name="t-bytes-echo")
    stop_after(server)
    proxy_ = lab.proxy(server, framer="lines", name="t-bytes", max_held_bytes=1000)
    stop_after(proxy_)
    proxy_.intercept("to_server", match=b"first")
    client = lab.connect(proxy_)
    payload = b"first\n" + b"".join(b"line %04d %s\n" % (i, b"x" * 90) for i in range(200))
    client.send(payload)
    assert eventually(lambda: any("reading from the sender paused" in n.text
                                  for n in proxy_.notes))
    proxy_.release_all()
    proxy_.intercept(None)
    got = b""
    while len(got) < len(payload):
        chunk = client.read(timeout=5)
        assert chunk, f"only {len(got)} of {len(payload)} bytes came back"
        got += chunk
    assert payload == got
    client.close()


def test_rate_reset_half_close_and_per_connection_faults(lab_reactor, stop_after):
    """Throughput limit, reset after N bytes, half-close after N messages, one connection only."""
    server = lab.listen("echo", name="t-faults-echo")
    stop_after(server)
    proxy_ = lab.proxy(server, framer="lines", name="t-faults")
    stop_after(proxy_)
    assert any(s.listener == "t-faults" for s in lab.reactor_state().sockets)

    slow, fast = lab.connect(proxy_), lab.connect(proxy_)
    slow.send(b"x\n")
    assert b"x\n" == slow.read_until(b"\n")
    proxy_.fault(connection=proxy_.legs()[0][0], rate=2000)  # only the first connection
    started = time.monotonic()
    slow.send(b"y" * 399 + b"\n")
    assert 400 == len(slow.read_until(b"\n", timeout=5))
    assert time.monotonic() - started >= 0.15  # 400 bytes at 2000 B/s, each way: >= 0.2 s
    fast.send(b"quick\n")
    assert b"quick\n" == fast.read_until(b"\n")
    slow.close()
    fast.close()

    proxy_.fault(close_after_bytes=5, reset=True, direction="to_client")
    client = lab.connect(proxy_)
    client.send(b"hello world\n")
    assert eventually(lambda: not client.is_open)
    assert b"hello" == b"".join(e.data for e in client.transcript if e.direction == "received")
    assert any("fault: reset after 5 bytes" in n.text for n in proxy_.notes)

    proxy_.fault(half_close_after=1, direction="to_server")
    with socket.create_connection(("127.0.0.1", proxy_.port), timeout=5) as sock:
        sock.sendall(b"one\ntwo\n")
        got = b""
        while chunk := sock.recv(100):  # the echo server closes when it reads our EOF
            got += chunk
    assert b"one\n" == got
    assert eventually(lambda: any("half-closed by a fault" in n.text for n in proxy_.notes))
