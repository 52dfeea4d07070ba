"""The simulated reactor: one queue in virtual time, stepped one event at a time, repeatable."""

import pytest
from twisted.internet import defer, task
from twisted.internet.endpoints import (HostnameEndpoint, clientFromString, connectProtocol,
                                        serverFromString)
from twisted.internet.error import ConnectionRefusedError, DNSLookupError
from twisted.internet.protocol import DatagramProtocol, Factory, Protocol
from twisted.protocols.basic import LineReceiver
from twisted.python.failure import Failure

import lab
from lab.simulator import (BadTime, ConnectionGone, Log, NotIdle, QueueEmpty, ReplayDiverged,
                            RunawayLoop, UnknownHost, Unsupported)


def ran(sim):
    """The texts of the timer events in the log, in order."""
    return [(round(e.time, 6), e.text) for e in sim.log if e.kind == "timer"]


# -- time ------------------------------------------------------------------------


def test_every_timer_runs_at_its_own_time_under_one_advance():
    """advance(5) moves the clock to each due time in turn, so each call sees its own time."""
    sim = lab.simulation()
    seen = []
    for delay in (3, 1, 2):
        sim.callLater(delay, lambda d=delay: seen.append((d, sim.seconds())))
    sim.advance(5)
    assert [(1, 1.0), (2, 2.0), (3, 3.0)] == seen
    assert 5.0 == sim.seconds()


def test_chained_deferlater_calls_all_finish_at_their_own_times():
    """Chained deferLater calls under one advance() each fire at their own time (Twisted #9819)."""
    sim = lab.simulation()
    times = []

    def later(n):
        times.append(sim.seconds())
        if n:
            return task.deferLater(sim, 1, later, n - 1)

    d = task.deferLater(sim, 1, later, 3)
    sim.advance(10)
    assert [1.0, 2.0, 3.0, 4.0] == times
    assert d.called


def test_call_later_zero_waits_for_the_next_turn():
    """A callLater(0) made by an event runs after everything already due at that instant."""
    sim = lab.simulation()
    order = []
    sim.callLater(1, lambda: (order.append("a"), sim.callLater(0, order.append, "c")))
    sim.callLater(1, order.append, "b")
    sim.run_until_idle()
    assert ["a", "b", "c"] == order


def test_step_runs_one_event_and_says_what_it_scheduled():
    """step() returns the event it ran and the events that it scheduled."""
    sim = lab.simulation()

    def tick(n):
        if n:
            sim.callLater(0.5, tick, n - 1)

    sim.callLater(1, tick, 2)
    first = sim.step()
    assert ("timer", 1.0) == (first.kind, first.time)
    assert 1 == len(first.scheduled) and 1.5 == first.scheduled[0].time
    assert "tick(1)" in first.scheduled[0].text


def test_a_runaway_zero_delay_loop_is_stopped_with_an_error():
    """A callLater(0) loop that never lets time move is cancelled and reported, not run forever."""
    sim = lab.simulation()
    sim.zero_delay_limit = 500

    def spin():
        sim.callLater(0, spin)

    sim.callLater(0, spin)
    with pytest.raises(RunawayLoop, match="spin"):
        sim.run_until_idle()
    assert [] == sim.pending()
    assert "runaway" == sim.log[-1].kind


def test_looping_call_on_the_simulated_clock():
    """A LoopingCall with the simulation as clock beats at every interval of virtual time."""
    sim = lab.simulation()
    beats = []
    loop = sim.looping_call(lambda: beats.append(sim.seconds()))
    loop.start(0.5)
    sim.advance(2)
    loop.stop()
    assert [0.0, 0.5, 1.0, 1.5, 2.0] == beats


def test_run_until_idle_bounds_a_loop_that_never_ends():
    """A LoopingCall keeps the queue busy: run_until_idle stops at its bound and says why."""
    sim = lab.simulation()
    sim.looping_call(lambda: None).start(1)
    with pytest.raises(NotIdle, match="LoopingCall"):
        sim.run_until_idle(max_steps=50)
    assert sim.seconds() > 0


def test_run_until_a_predicate():
    """run_until(predicate) stops as soon as the predicate holds."""
    sim = lab.simulation()
    for n in range(5):
        sim.callLater(n, lambda: None)
    sim.run_until(lambda s: s.seconds() >= 2)
    assert 2.0 == sim.seconds() and 2 == len(sim.pending())


# -- bad input ------------------------------------------------------------------------


def test_stepping_an_empty_queue_says_so():
    """step() on an empty queue raises QueueEmpty with the clock in the message."""
    with pytest.raises(QueueEmpty, match="queue is empty at t=0"):
        lab.simulation().step()


@pytest.mark.parametrize("bad", [-1, float("nan"), "soon", None, float("inf")])
def test_bad_times_are_refused(bad):
    """Negative, NaN, infinite or non-numeric times raise BadTime, and the simulation still works."""
    sim = lab.simulation()
    with pytest.raises(BadTime):
        sim.advance(bad)
    with pytest.raises(BadTime):
        sim.callLater(bad, print)
    sim.callLater(1, lambda: None)
    assert 1 == len(sim.advance(1))


def test_run_until_a_time_in_the_past_is_refused():
    """run_until(t) with t before now says the clock is already later."""
    sim = lab.simulation()
    sim.advance(3)
    with pytest.raises(BadTime, match="in the past"):
        sim.run_until(1)


def test_unknown_hosts_are_named():
    """Controls naming an unknown host raise UnknownHost listing the hosts; connecting fails like DNS."""
    sim = lab.simulation()
    sim.host("server")
    with pytest.raises(UnknownHost, match="'nowhere'.*server"):
        sim.partition("nowhere", "server")
    client = sim.connect(("nowhere", 80), host="ada")
    sim.run_until_idle()
    assert "nowhere" in client.closed_reason


def test_holding_a_closed_connection_is_refused():
    """hold() on a closed connection raises ConnectionGone; other connections keep working."""
    sim = lab.simulation()
    echo = sim.listen("echo", 7)
    first = sim.connect(echo)
    sim.run_until_idle()
    first.close()
    sim.run_until_idle()
    with pytest.raises(ConnectionGone, match="closed"):
        sim.hold(first)
    second = sim.connect(echo)
    second.send("still here")
    sim.run_until_idle()
    assert b"still here" == second.read()


class Exploding(Protocol):
    """A protocol that raises on the first bytes it gets."""

    def dataReceived(self, data):
        raise ValueError("boom: " + data.decode())


def test_a_plugin_raising_in_data_received_is_recorded_and_the_connection_closes():
    """The error is in the step's result and the log; the client sees the close; the sim goes on."""
    sim = lab.simulation()
    server = sim.listen(Factory.forProtocol(Exploding), 9)
    client = sim.connect(server)
    client.send("x")
    steps = sim.run_until_idle()
    failed = [h for h in steps if h.error]
    assert ["ValueError: boom: x"] == [h.error for h in failed]
    assert failed[0] in list(sim.log)
    assert client.closed_reason is not None
    assert "boom" in sim.errors[-1][2]
    sim.callLater(1, lambda: None)
    sim.advance(1)


def test_unsupported_reactor_features_name_what_is_supported():
    """Processes, threads and real sockets raise Unsupported naming what the simulation provides."""
    sim = lab.simulation()
    for call in (lambda: sim.spawnProcess(None, "ls"), lambda: sim.callInThread(print),
                 lambda: sim.listenSSL(443, None, None), lambda: sim.run()):
        with pytest.raises(Unsupported, match="TCP .*UDP"):
            call()


# -- TCP, endpoints, plugins ------------------------------------------------------------


def test_endpoint_strings_against_the_simulation_as_reactor():
    """serverFromString and clientFromString work with a simulated host as the reactor."""
    sim = lab.simulation()
    server, ada = sim.host("server"), sim.host("ada")
    listening = serverFromString(server, "tcp:7")
    port = listening.listen(Factory.forProtocol(lab_echo()))
    sim.run_until_idle()
    assert 7 == port.result.getHost().port

    got = []

    class Hello(Protocol):
        def connectionMade(self):
            self.transport.write(b"ping")

        def dataReceived(self, data):
            got.append(data)

    connected = connectProtocol(clientFromString(ada, "tcp:server:7"), Hello())
    sim.run_until_idle()
    assert connected.called and [b"ping"] == got


def lab_echo():
    """The echo plugin's protocol class."""
    from lab.adapters.echo import Echo

    return Echo


def test_hostname_endpoint_resolves_simulated_names():
    """HostnameEndpoint (which needs a name resolver) connects to a simulated host by name."""
    sim = lab.simulation()
    sim.listen("echo", 7, host="server")
    d = connectProtocol(HostnameEndpoint(sim.host("ada"), b"server", 7), Protocol())
    sim.run_until_idle()
    assert "10.0.0.2" == d.result.transport.getPeer().host


def test_connection_refused_when_nothing_listens():
    """Connecting to a port nobody listens on fails with ConnectionRefusedError after a round trip."""
    sim = lab.simulation()
    sim.host("server")
    d = connectProtocol(clientFromString(sim.host("ada"), "tcp:server:81"), Protocol())
    sim.run_until_idle()
    assert 0.02 == pytest.approx(sim.seconds())
    assert isinstance(d.result, Failure) and d.result.check(ConnectionRefusedError)
    d.addErrback(lambda f: None)


def test_a_lookup_of_an_unknown_name_fails():
    """sim.resolve of an unknown host errbacks with DNSLookupError."""
    d = lab.simulation().resolve("nowhere")
    assert isinstance(d.result, Failure) and d.result.check(DNSLookupError)
    d.addErrback(lambda f: None)


def test_fragmenting_into_one_byte_pieces_delivers_one_byte_per_data_received():
    """With fragment(1) every byte arrives in its own dataReceived call."""
    sim = lab.simulation(fragment=1)
    chunks = []

    class Collect(Protocol):
        def dataReceived(self, data):
            chunks.append(data)

    server = sim.listen(Factory.forProtocol(Collect), 5)
    sim.connect(server).send("hello")
    sim.run_until_idle()
    assert [b"h", b"e", b"l", b"l", b"o"] == chunks


def test_latency_and_bandwidth_set_arrival_times():
    """A 1,000-byte write on a 10 kB/s, 50 ms link arrives 0.1 + 0.05 s after it is sent."""
    sim = lab.simulation()
    sim.host("server"), sim.host("client")
    sim.link("client", "server", latency=0.05, bandwidth=10_000)
    server = sim.listen("echo", 7)
    client = sim.connect(server)
    sim.run_until_idle()
    start = sim.seconds()
    client.send(b"x" * 1000)
    (arrival,) = [p for p in sim.pending() if p.kind == "data"]
    assert start + 0.15 == pytest.approx(arrival.time)


def test_hold_and_release_keep_the_order_of_the_bytes():
    """Held bytes wait, show as held in the queue, and arrive in order when released."""
    sim = lab.simulation()
    server = sim.listen("echo", 7)
    client = sim.connect(server)
    sim.run_until_idle()
    sim.hold(client, "to_server")
    for word in ("one ", "two ", "three"):
        client.send(word)
    sim.advance(1)
    assert b"" == client.read()
    assert ["held"] * 3 == [p.held for p in sim.pending()]
    with pytest.raises(QueueEmpty, match="held"):
        sim.step()
    sim.release(client)
    sim.run_until_idle()
    assert b"one two three" == client.read()


def test_a_partition_holds_tcp_bytes_until_healed():
    """Bytes across a partition wait (TCP retransmits) and arrive after heal()."""
    sim = lab.simulation()
    server = sim.listen("echo", 7)
    client = sim.connect(server, host="ada")
    sim.run_until_idle()
    sim.partition("ada", "server")
    client.send("are you there?")
    sim.advance(5)
    assert b"" == client.read()
    assert "partitioned" == sim.pending()[0].held
    sim.heal()
    sim.run_until_idle()
    assert b"are you there?" == client.read()


def test_memcache_protocol_from_twisted_runs_unchanged():
    """Twisted's MemCacheProtocol talks to the memcached plugin in the simulation, timeouts on its clock."""
    from twisted.protocols.memcache import MemCacheProtocol

    sim = lab.simulation()
    sim.listen("memcached", 11211)
    d = connectProtocol(clientFromString(sim.host("client"), "tcp:server:11211"),
                        MemCacheProtocol())
    sim.run_until_idle()
    proto = d.result
    results = []
    proto.set(b"k", b"value").addCallback(results.append)
    proto.get(b"k").addCallback(results.append)
    sim.run_until_idle()
    assert [True, (0, b"value")] == results
    # its idle timeout is a timer of the simulation, not of the real reactor
    assert proto.callLater == sim.host("client").callLater


def test_deferreds_made_in_the_simulation_can_be_stepped():
    """lab.step pauses a Deferred fired by the simulation before each stage."""
    sim = lab.simulation()
    d = task.deferLater(sim, 1, lambda: 20)
    d.addCallback(lambda x: x + 1)
    d.addCallback(lambda x: x * 2)
    stepper = lab.step(d)
    sim.advance(1)
    assert 0 == stepper.position
    stepper.step()              # deferLater's own stage: calls the function
    assert 20 == stepper.current
    stepper.step()
    assert 21 == stepper.current
    stepper.run()
    assert 42 == stepper.result


# -- UDP ------------------------------------------------------------------------------------


class Collector(DatagramProtocol):
    """Keeps every datagram it receives."""

    def __init__(self):
        self.got = []

    def datagramReceived(self, data, addr):
        self.got.append(data)


def udp_exchange(seed, **link):
    """Send 20 numbered datagrams from ada to the server; return what arrived and the log."""
    sim = lab.simulation(seed, **link)
    sink = Collector()
    sim.host("server").listenUDP(53, sink)
    sender = sim.host("ada").listenUDP(0, DatagramProtocol())
    for n in range(20):
        sender.write(b"%d" % n, ("server", 53))
    sim.run_until_idle()
    return sink.got, sim.log


def test_udp_echo_plugin_answers_datagrams():
    """The echo plugin serves UDP in the simulation and sends each datagram back."""
    sim = lab.simulation()
    echo = sim.listen("echo", 7, udp=True)
    back = Collector()
    port = sim.host("ada").listenUDP(0, back)
    port.write(b"one", ("server", echo.port))
    sim.run_until_idle()
    assert [b"one"] == back.got


def test_datagram_faults_come_from_the_seed():
    """Drops, duplicates and reordering are repeatable per seed and differ across seeds."""
    faults = dict(drop=0.2, duplicate=0.2, reorder=0.3)
    first, log1 = udp_exchange(1, **faults)
    again, log2 = udp_exchange(1, **faults)
    other, log3 = udp_exchange(2, **faults)
    assert first == again and log1 == log2
    assert first != other and log1 != log3
    assert first != sorted(set(first), key=int) or len(first) != 20


def test_partitioned_datagrams_are_lost():
    """A datagram across a partition is lost, and the queue says so before it happens."""
    sim = lab.simulation()
    sink = Collector()
    sim.host("server").listenUDP(53, sink)
    sender = sim.host("ada").listenUDP(0, DatagramProtocol())
    sim.partition("ada", "server")
    sender.write(b"hello?", ("server", 53))
    assert "will be lost: partitioned" in sim.pending()[0].text
    sim.run_until_idle()
    assert [] == sink.got and "lost" in sim.log[-1].text


def test_drop_one_pending_datagram_by_hand():
    """sim.drop(pending) loses that datagram; a TCP segment cannot be dropped."""
    sim = lab.simulation()
    sink = Collector()
    sim.host("server").listenUDP(53, sink)
    sender = sim.host("ada").listenUDP(0, DatagramProtocol())
    sender.write(b"a", ("server", 53))
    sender.write(b"b", ("server", 53))
    sim.drop(sim.pending()[0])
    sim.run_until_idle()
    assert [b"b"] == sink.got
    server = sim.listen("echo", 7)
    sim.connect(server).send("x")
    sim.run_until(lambda s: any(p.kind == "data" for p in s.pending()))
    with pytest.raises(ValueError, match="hold the connection"):
        sim.drop([p for p in sim.pending() if p.kind == "data"][0])


# -- repeatable -----------------------------------------------------------------------------


def chat_scenario(seed, replay=None, greeting="hello all", **link):
    """Three members join a chat room, name themselves, announce themselves over UDP, and talk."""
    sim = lab.simulation(seed, replay=replay, **link)
    room = sim.listen("chat", 6667)
    presence = sim.listen("echo", 5353, udp=True)
    members = {nick: sim.connect(room, host=nick) for nick in ("ada", "bob", "cy")}
    for nick in members:
        port = sim.host(nick).listenUDP(5353, DatagramProtocol())
        for beat in range(4):
            port.write(f"{nick} is here ({beat})".encode(), ("server", presence.port))
    sim.run_until_idle()
    for nick, member in members.items():
        member.send(f"/nick {nick}\r\n")
    sim.run_until_idle()
    members["ada"].send(greeting + "\r\n")
    members["bob"].send("hi ada\r\n")
    sim.run_until_idle()
    return sim, members


def test_the_chat_scenario_gives_identical_logs_with_the_same_seed():
    """Two runs of the same scenario and seed log the same events, byte for byte."""
    first, _ = chat_scenario(7, reorder=0.5)
    second, members = chat_scenario(7, reorder=0.5)
    assert first.log == second.log and first.log.diff(second.log) is None
    assert "<ada> hello all" in members["cy"].lines()


def test_a_different_seed_with_datagram_reordering_gives_a_different_repeatable_log():
    """Another seed reorders other datagrams, so the events differ; that seed's log is repeatable."""
    first, _ = chat_scenario(7, reorder=0.5)
    other, _ = chat_scenario(8, reorder=0.5)
    again, _ = chat_scenario(8, reorder=0.5)
    assert first.log.entries != other.log.entries
    assert "first difference" in first.log.diff(other.log)
    assert other.log == again.log


def test_a_log_replays_exactly_and_says_where_a_run_diverges():
    """A saved log checks a new run step by step; a changed run is stopped where it leaves the log."""
    recorded, _ = chat_scenario(3)
    saved = Log.from_json(recorded.log.to_json())
    assert saved == recorded.log
    replayed, _ = chat_scenario(None, replay=saved)
    assert replayed.replaying and replayed.log == saved
    with pytest.raises(ReplayDiverged, match="recorded: .*hello all") as raised:
        chat_scenario(None, replay=saved, greeting="good morning")
    assert "good morning" in raised.value.actual.text


def test_the_sequence_diagram_shows_hosts_messages_and_timers():
    """The SVG has a column per host, the decoder's reading of the chat lines, and timer marks."""
    sim, _ = chat_scenario(0)
    sim.callLater(1, lambda: None)
    sim.advance(1)
    svg = sim.diagram(last=200).svg()
    for text in (">ada<", ">bob<", ">cy<", ">server<", "says hello all", "timer &lt;lambda&gt;()"):
        assert text in svg
    assert "lab-sequence" in sim._repr_html_()


def test_line_receiver_clients_and_servers_interoperate():
    """An ordinary LineReceiver client built by a factory talks to the chat plugin unchanged."""
    sim = lab.simulation()
    sim.listen("chat", 6667)
    lines = []

    class Member(LineReceiver):
        delimiter = b"\r\n"

        def connectionMade(self):
            self.sendLine(b"/nick zed")

        def lineReceived(self, line):
            lines.append(line)

    endpoint = clientFromString(sim.host("zed"), "tcp:server:6667")
    endpoint.connect(Factory.forProtocol(Member))
    sim.run_until_idle()
    assert b"* you are now zed" in lines


def test_defer_and_trace_still_work_with_succeed():
    """lab.trace records a chain fired from a simulated timer."""
    sim = lab.simulation()
    d = defer.Deferred()
    sim.callLater(2, d.callback, "late")
    t = lab.trace(d)
    d.addCallback(str.upper)
    sim.advance(2)
    assert "LATE" == t.result


def test_running_scenarios_never_imports_the_real_reactor():
    """Chat, memcached with Twisted's client, endpoints, LoopingCall and deferLater run without the real reactor."""
    import subprocess
    import sys

    code = """
import sys
import lab
from twisted.internet import task
from twisted.internet.endpoints import clientFromString, connectProtocol
from twisted.protocols.memcache import MemCacheProtocol
sim = lab.simulation()
room = sim.listen("chat", 6667)
sim.connect(room, host="ada").send("/nick ada\\r\\n")
sim.listen("memcached", 11211, host="cache")
d = connectProtocol(clientFromString(sim.host("ada"), "tcp:cache:11211"), MemCacheProtocol())
sim.run_until_idle()
d.result.set(b"k", b"v")
task.deferLater(sim, 1, lambda: None)
loop = sim.looping_call(lambda: None)
loop.start(0.5)
sim.advance(3)
loop.stop()
sim.diagram().svg()
print("twisted.internet.reactor" in sys.modules)
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=60)
    assert "False" == result.stdout.strip(), result.stderr


def test_reset_and_delay_move_a_timer_in_the_queue():
    """DelayedCall.reset and .delay take effect in the queue at once, in both directions."""
    sim = lab.simulation()
    order = []
    early = sim.callLater(5, order.append, "early")
    late = sim.callLater(1, order.append, "late")
    early.reset(0.5)
    late.delay(9)
    assert [0.5, 10.0] == [p.time for p in sim.pending()]
    cancelled = sim.callLater(2, order.append, "never")
    cancelled.cancel()
    sim.run_until_idle()
    assert ["early", "late"] == order and 10.0 == sim.seconds()


def test_a_host_lists_only_its_own_timers():
    """getDelayedCalls on a host lists its timers; on the simulation, every host's."""
    sim = lab.simulation()
    sim.host("a").callLater(1, print)
    sim.host("b").callLater(2, print)
    assert 1 == len(sim.host("a").getDelayedCalls()) and 2 == len(sim.getDelayedCalls())


def test_abort_resets_the_peer_and_fragment_one_connection():
    """abortConnection makes the peer see a non-clean close; fragment() can target one connection."""
    sim = lab.simulation()
    chunks = []

    class Collect(Protocol):
        def dataReceived(self, data):
            chunks.append(data)

        def connectionLost(self, reason):
            chunks.append(type(reason.value).__name__)

    server = sim.listen(Factory.forProtocol(Collect), 5)
    client = sim.connect(server)
    sim.run_until_idle()
    sim.fragment(2, client)
    client.send("abcde")
    sim.run_until_idle()
    client.transport.abortConnection()
    sim.run_until_idle()
    assert [b"ab", b"cd", b"e", "ConnectionLost"] == chunks


def test_connected_udp_and_a_datagram_to_nowhere():
    """A connected UDP port writes without an address; a datagram to a closed port is discarded and logged."""
    sim = lab.simulation()
    echo = sim.listen("echo", 7, udp=True)
    back = Collector()
    port = sim.host("ada").listenUDP(0, back)
    port.connect("server", echo.port)
    port.write(b"ping")
    sim.host("ada").listenUDP(0, DatagramProtocol()).write(b"x", ("server", 9))
    sim.run_until_idle()
    assert [b"ping"] == back.got
    assert any("nothing listens there" in e.text for e in sim.log)


def test_a_connection_attempt_across_a_partition_times_out():
    """A SYN that cannot cross a partition leaves the client with a timeout at its connect timeout."""
    sim = lab.simulation()
    server = sim.listen("echo", 7)
    sim.host("ada")
    sim.partition("ada", "server")
    client = sim.connect(server, host="ada", timeout=5)
    sim.advance(10)
    assert "no answer in 5 s" in client.closed_reason and [] == sim.connections()
    sim.heal()
    sim.run_until_idle()
    assert any("the client gave up" in e.text for e in sim.log)


def test_the_simulation_and_its_hosts_provide_the_reactor_interfaces():
    """zope.interface verifies IReactorTime, IReactorTCP, IReactorUDP and name resolution on both."""
    from twisted.internet.interfaces import (IReactorPluggableNameResolver, IReactorTCP,
                                             IReactorTime, IReactorUDP)
    from zope.interface.verify import verifyObject

    sim = lab.simulation()
    for reactor in (sim, sim.host("server")):
        for interface in (IReactorTime, IReactorTCP, IReactorUDP, IReactorPluggableNameResolver):
            assert verifyObject(interface, reactor)


def test_transports_ports_and_connectors_provide_their_interfaces():
    """The TCP sides, listening ports, connectors and UDP ports verify against Twisted's interfaces."""
    from twisted.internet.interfaces import (IConnector, IListeningPort, ITCPTransport,
                                             IUDPTransport)
    from zope.interface.verify import verifyObject

    sim = lab.simulation()
    server = sim.listen("echo", 7)
    client = sim.connect(server)
    sim.run_until_idle()
    assert verifyObject(ITCPTransport, client.transport)
    assert verifyObject(ITCPTransport, client.connection.server)
    assert verifyObject(IListeningPort, server.port_object)
    assert verifyObject(IConnector, client.connector)
    assert verifyObject(IUDPTransport, sim.host("ada").listenUDP(0, DatagramProtocol()))


def test_ephemeral_ports_go_round_and_closed_connections_are_not_all_kept():
    """Client ports wrap from 65535 to 40000, and only the last 1,000 closed connections are remembered."""
    sim = lab.simulation(latency=0)
    server = sim.listen("echo", 7)
    sim.host("client")._next_port = 65534
    ports = []
    for _ in range(3):
        client = sim.connect(server)
        sim.run_until_idle()
        ports.append(client.transport.getHost().port)
    assert [65534, 65535, 40000] == ports
    for _ in range(1100):
        sim.connect(server).close()
    sim.run_until_idle(max_steps=1_000_000)
    assert 1000 == len(sim._net.closed) and 3 == len(sim.connections())


def test_stepping_from_inside_an_event_and_unknown_settings_are_refused():
    """A callback that steps the simulation gets a clear error (recorded); a misspelt link setting names the real ones."""
    sim = lab.simulation()
    sim.callLater(1, sim.step)
    happened = sim.step()
    assert "SimulationError" in happened.error and "inside an event" in happened.error
    with pytest.raises(TypeError, match="latency"):
        lab.simulation(latncy=0.1)
