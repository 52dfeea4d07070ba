"""lab.pending(), why/graph/diff, acting on entries, creation tracking and reactor errors, on the real reactor."""

import gc
import re
import threading
import time
import weakref

import pytest
from twisted.internet import defer, reactor, task, threads
from twisted.internet.protocol import ClientFactory, Factory, Protocol
from twisted.protocols.basic import LineReceiver

import lab
from lab import bridge, inspect
from lab.deferreds import NotADeferred
from lab.errors import NotPending, UnknownEntry
from tests.polling import eventually

pytestmark = pytest.mark.reactor


@pytest.fixture
def tracked(lab_reactor):
    """Creation tracking on for the test, off afterwards."""
    inspect.track_deferreds(True)
    yield
    inspect.track_deferreds(False)


@pytest.fixture
def made(tracked):
    """Deferreds of every kind of wait, made in the reactor thread; cleaned up afterwards."""
    def make():
        out = {"orphan": defer.Deferred(), "timer": task.deferLater(reactor, 30, lambda: 1)}
        inner = defer.Deferred()
        outer = defer.Deferred()
        outer.addCallback(lambda _: inner)
        outer.callback(None)
        out["outer"], out["inner"] = outer, inner

        @defer.inlineCallbacks
        def fetch():
            yield task.deferLater(reactor, 20, lambda: 2)

        async def awaiting():
            await out["orphan"]

        out["generator"] = fetch()
        out["coroutine"] = defer.Deferred.fromCoroutine(awaiting())
        out["gathered"] = defer.gatherResults([defer.Deferred(), defer.Deferred()])
        release = threading.Event()
        out["release"] = release
        out["thread"] = threads.deferToThread(release.wait, 10)
        return out

    out = lab.call(make)
    yield out

    def clean():
        out["release"].set()
        every = [d for d in out.values() if isinstance(d, defer.Deferred)]
        every += out["gathered"]._deferredList
        for d in every:
            d.addErrback(lambda f: None)
        for d in every:
            if not d.called:
                d.cancel()

    lab.call(clean)


def test_orphan_is_flagged_and_why_says_nothing_can_fire_it(made):
    """A Deferred nothing holds but a variable is an orphan, and why() says so."""
    snap = lab.pending()
    entry = snap.entry(made["orphan"])
    assert entry.orphan and entry.state == "waiting"
    assert entry in snap.orphans
    assert snap.why(made["orphan"]).endswith("waits on nothing: nothing in the process can fire it.")


def test_timer_leaf_shows_the_time_left(made):
    """deferLater's Deferred waits on a timer due in about 30 s."""
    text = lab.pending().why(made["timer"])
    assert re.search(r"waits on a timer due in (2\d\.\d|30\.0) s", text), text


def test_chained_deferred_leads_to_the_one_it_waits_on(made):
    """A Deferred paused on one returned by its callback names it, and the path reaches the orphan."""
    snap = lab.pending()
    outer, inner = snap.entry(made["outer"]), snap.entry(made["inner"])
    assert outer.state == "paused"
    assert (outer.waits_on[0].kind, outer.waits_on[0].target) == ("deferred", inner.id)
    assert f"waits on Deferred #{inner.id} (returned by one of its callbacks)" in snap.why(outer)
    assert f"Deferred #{inner.id} is an orphan" in snap.why(outer)


def test_inline_callbacks_and_coroutines_show_where_they_are_suspended(made):
    """The generator's and the coroutine's file and line of the yield/await are named."""
    snap = lab.pending()
    generator = snap.why(made["generator"])
    assert "inlineCallbacks fetch() suspended at test_inspect.py:" in generator
    assert "a timer due in" in generator
    coroutine = snap.why(made["coroutine"])
    assert "coroutine awaiting() suspended at test_inspect.py:" in coroutine
    assert coroutine.endswith("is an orphan.")


def test_gather_results_waits_on_its_members(made):
    """gatherResults' DeferredList lists each pending member as a wait."""
    entry = lab.pending().entry(made["gathered"])
    assert ["member", "member"] == [w.kind for w in entry.waits_on]
    assert "(member 1 of 2)" in entry.waits_on[0].text


def test_defer_to_thread_waits_on_a_thread(made):
    """deferToThread's Deferred waits on a thread running the function."""
    assert "waits on a thread running Event.wait (deferToThread)" in lab.pending().why(made["thread"])


def test_tracking_records_the_site_and_age(made):
    """With tracking on, entries carry file, line, function and an age."""
    entry = lab.pending().entry(made["orphan"])
    assert entry.site.file.endswith("test_inspect.py") and entry.site.function == "make"
    assert entry.age is not None and entry.age >= 0


def test_tracking_off_restores_twisted_exactly(lab_reactor):
    """Off, Deferred.__init__ and DebugInfo are Twisted's own objects again."""
    original, debug_info = defer.Deferred.__dict__["__init__"], defer.DebugInfo
    assert inspect.track_deferreds(True) is False
    assert defer.Deferred.__dict__["__init__"] is not original
    assert inspect.track_deferreds(False) is True
    assert (original, debug_info) == (defer.Deferred.__dict__["__init__"], defer.DebugInfo)
    with pytest.raises(TypeError):
        inspect.track_deferreds("yes")


def test_snapshot_keeps_nothing_alive_and_fires_nothing(lab_reactor):
    """A snapshot holds only weak references and leaves every Deferred as it was."""
    (d,) = lab.call(lambda: [defer.Deferred()])
    snap = lab.pending()
    entry = snap.entry(d)
    assert not d.called
    ref = weakref.ref(d)
    del d
    gc.collect()
    assert ref() is None
    with pytest.raises(lab.LabError, match="garbage-collected"):
        entry.cancel()


def test_bad_input_gives_clear_errors_and_the_reactor_keeps_running(made):
    """Not a Deferred, already fired, an id from an old snapshot: each a clear error."""
    snap = lab.pending()
    with pytest.raises(NotADeferred, match="not str"):
        snap.why("d")
    (fired,) = lab.call(lambda: [defer.succeed(5)])
    with pytest.raises(NotPending, match="already fired"):
        snap.why(fired)
    with pytest.raises(UnknownEntry, match="older snapshot"):
        snap[10 ** 9]
    entry = snap.entry(made["orphan"])
    entry.fire("first")
    with pytest.raises(NotPending, match="has fired since the snapshot"):
        entry.fire("second")
    with pytest.raises(NotPending, match="has fired since"):
        entry.cancel()
    with pytest.raises(TypeError, match="failure= takes an exception"):
        snap.entry(made["timer"]).fire(failure="oops")
    assert 42 == lab.call(lambda: 42)


def test_firing_one_already_firing_is_refused(lab_reactor):
    """Firing a Deferred from inside its own running callbacks is a clear error, not a crash."""
    seen = {}

    def inside(result, d):
        entry = lab.pending().entry(d)
        seen["state"] = entry.state
        try:
            entry.fire("again")
        except NotPending as error:
            seen["error"] = str(error)
        return result

    def run():
        d = defer.Deferred()
        d.addCallback(inside, d)
        d.callback(1)
        return d.result

    assert 1 == lab.call(run)
    assert "running" == seen["state"] and "already firing" in seen["error"]


def test_cancel_and_fire_with_a_failure_act_in_the_reactor(made):
    """cancel() errbacks with CancelledError; fire(failure=...) errbacks with the given error."""
    snap = lab.pending()
    got = []
    lab.call(lambda: [made["timer"].addErrback(lambda f: got.append(f.type.__name__))])
    snap.entry(made["timer"]).cancel()
    (fresh,) = lab.call(lambda: [defer.Deferred().addErrback(lambda f: got.append(str(f.value)))])
    lab.pending().entry(fresh).fire(failure=ValueError("from the test"))
    assert ["CancelledError", "from the test"] == got


def test_entry_opens_in_the_stepper(lab_reactor):
    """step() on an entry pauses its chain before each stage, stepped from the test's thread."""
    (d,) = lab.call(lambda: [defer.Deferred()])
    stepper = lab.pending().entry(d).step()
    lab.call(lambda: [d.addCallback(lambda v: v * 2)])
    lab.call(d.callback, 21)
    assert "42" == stepper.step().output
    assert stepper.wait().done and 42 == stepper.result


def test_diff_finds_a_growing_group(tracked):
    """Deferreds made per request and never fired show as a growing group between snapshots."""
    leak = []

    def request():
        leak.append(defer.Deferred())

    before = lab.pending()
    for _ in range(25):
        lab.call(request)
    after = lab.pending()
    diff = after.diff(before)
    assert len(diff.appeared) >= 25
    key, was, now = diff.growing[0]
    assert "in request" in key and now - was == 25
    assert "+25" in diff.text()
    lab.call(lambda: [d.callback(None) for d in leak])


def test_graph_has_a_node_per_entry_and_an_edge_per_wait(made):
    """graph() gives every entry as a node and edges to Deferreds or leaves."""
    snap = lab.pending()
    graph = snap.graph()
    ids = {n[0] for n in graph.nodes if n[1] == "deferred"}
    assert {f"#{e.id}" for e in snap} == ids
    kinds = {kind for _, _, kind in graph.edges}
    assert {"deferred", "member", "coroutine", "timer", "thread", "nothing"} <= kinds


class Silent(LineReceiver):
    """Answers every line except ``never``."""

    def lineReceived(self, line):
        if line != b"never":
            self.sendLine(b"ok " + line)


class Asker(LineReceiver):
    """A client that keeps one Deferred per request until its answer arrives."""

    def connectionMade(self):
        self.waiting = []
        self.factory.ready.callback(self)

    def ask(self, text):
        d = defer.Deferred()
        self.waiting.append(d)
        self.sendLine(text.encode())
        return d

    def lineReceived(self, line):
        self.waiting.pop(0).callback(line)


def test_a_request_waiting_on_a_connection_names_the_peer(tracked):
    """A request the server never answers waits on the connection, with its peer and silence; so do 1,500 more."""
    server = Factory.forProtocol(Silent)
    port = lab.call(reactor.listenTCP, 0, server, interface="127.0.0.1")
    client_factory = ClientFactory.forProtocol(Asker)
    client_factory.ready = defer.Deferred()
    client = None
    try:
        lab.call(reactor.connectTCP, "127.0.0.1", port.getHost().port, client_factory)
        client = lab.call(lambda: client_factory.ready)
        assert b"ok hello" == lab.call(client.ask, "hello")
        hung = lab.submit(client.ask, "never")
        assert eventually(lambda: client.waiting)
        d = client.waiting[0]
        text = lab.pending().why(d)
        assert f"the connection to 127.0.0.1:{port.getHost().port} (Asker)" in text
        assert "bytes received, silent for" in text
        many = lab.call(lambda: [client.waiting.append(defer.Deferred()) or client.waiting[-1]
                                 for _ in range(1500)])
        snap = lab.pending()
        assert {"connection"} == {snap.entry(m).waits_on[0].kind for m in many}
        lab.call(lambda: [m.callback(None) for m in many] and None)
        lab.call(d.callback, b"given up")
        assert b"given up" == hung.wait(5)
    finally:
        if client is not None:
            lab.call(client.transport.loseConnection)
        lab.call(port.stopListening)


def test_ten_thousand_pending_display_bounded(lab_reactor):
    """10,000 pending Deferreds snapshot and render in bounded text, HTML and node lists."""
    from lab.widgets.wait_graph import MAX_OPTIONS, WaitGraphView

    many = lab.call(lambda: [defer.Deferred() for _ in range(10_000)])
    try:
        snap = lab.pending()
        assert len(snap) >= 10_000
        assert len(snap._repr_html_()) < 120_000
        assert len(snap.text().splitlines()) <= 45
        view = WaitGraphView(snapshot=snap)
        assert len(view.nodes.options) <= MAX_OPTIONS
        view.close()
    finally:
        del many


def test_snapshot_under_a_thousand_connection_load_leaves_them_intact(lab_reactor):
    """Snapshots taken during a 1,000-connection load finish and every request still completes."""
    listener = lab.listen("echo", name="inspect-load")
    report, taken = {}, []

    def load():
        report["r"] = lab.load_test(listener, connections=1000, requests=3, progress=False,
                                    timeout=120)

    runner = threading.Thread(target=load)
    runner.start()
    try:
        deadline = time.monotonic() + 120
        while runner.is_alive() and time.monotonic() < deadline and len(taken) < 3:
            taken.append(len(lab.pending()))
        runner.join(150)
    finally:
        listener.stop()
    assert taken and not runner.is_alive()
    summary = report["r"].summary()
    assert summary["requests"] == summary["expected"] == 3000
    assert 0 == summary["errors"]


def test_timer_error_is_captured_with_where_and_traceback(lab_reactor):
    """The seed's print_time without `import time` leaves its NameError in reactor_errors()."""
    namespace = {}
    exec("def print_time():\n    print('Current time:', time_module.time())\n", namespace)
    before = len(inspect.reactor_errors())
    lab.call(reactor.callLater, 0, namespace["print_time"])
    assert eventually(lambda: len(inspect.reactor_errors()) > before)
    error = inspect.reactor_errors()[-1]
    assert ("NameError", "name 'time_module' is not defined") == (error.exception, error.message)
    assert "while handling timed call, in print_time" in error.where
    assert "print_time" in error.traceback and error.when.count(":") == 2


def test_unhandled_deferred_error_names_the_tracked_site(tracked):
    """A failed Deferred nobody handled is captured at collection, with where it was made."""
    before = len(inspect.reactor_errors())

    def drop():
        d = defer.Deferred()
        d.errback(ValueError("nobody handled me"))

    lab.call(drop)
    lab.call(gc.collect)
    assert eventually(lambda: len(inspect.reactor_errors()) > before)
    error = inspect.reactor_errors()[-1]
    assert error.unhandled_deferred and error.message == "nobody handled me"
    assert error.deferred_site and "test_inspect.py" in error.deferred_site and "in drop" in \
        error.deferred_site


class Crashing(Protocol):
    """Raises in dataReceived."""

    def dataReceived(self, data):
        raise RuntimeError("protocol bug")


def test_protocol_and_looping_call_errors_are_captured(lab_reactor):
    """An exception in dataReceived and in a LoopingCall both reach reactor_errors()."""
    before = len(inspect.reactor_errors())
    port = lab.call(reactor.listenTCP, 0, Factory.forProtocol(Crashing), interface="127.0.0.1")
    try:
        client = lab.connect(port.getHost().port)
        client.send(b"boom")
        assert eventually(lambda: any(e.message == "protocol bug"
                               for e in inspect.reactor_errors()[before:]))
        client.close()
    finally:
        lab.call(port.stopListening)

    def failing():
        raise KeyError("loop")

    def start_loop():
        loop = task.LoopingCall(failing)
        loop.start(0.01)  # its Deferred fails and is dropped: an unhandled error at collection
        return None

    lab.call(start_loop)
    lab.call(gc.collect)
    assert eventually(lambda: any("loop" in e.message for e in inspect.reactor_errors()[before:]))
    assert bridge.in_reactor_thread() is False
