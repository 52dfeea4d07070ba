"""Every bad input answered: each public call with a wrong argument gets a clear error, fast.

One row per call.  A row is ``(label, call)``; ``call`` takes the live
objects in ``t`` (an echo listener, a UDP listener, a client, a stopped
listener, a temporary folder) and makes ONE bad call.  The answer must be a
``LabError``, or a ``TypeError``/``ValueError`` (``FileExistsError`` for
files) raised by the lab itself (or Python's own "argument" message for a
wrong signature), with a message long enough to say what to do; it must come
within :data:`ANSWER_WITHIN` seconds (every row uses the call's default,
much longer, timeouts, so waiting on one shows); and the reactor must
answer afterwards with no listener started or lost.

To cover a new public function, add rows to ``ROWS`` (or a ``_sweep``).
"""

import math
import pathlib
import threading
import traceback
import types

import pytest

import lab
from lab.model import Capture

pytestmark = pytest.mark.reactor

# Validation takes microseconds; this bound only tells "answered" from
# "waited on a timeout" (the defaults are 5 to 60 s).
ANSWER_WITHIN = 3.0
ACCEPTED = (lab.LabError, TypeError, ValueError, FileExistsError, IsADirectoryError)

NOT_NUMBERS = [None, "5", b"5", [5], object(), True]
BAD_COUNTS = [0, -1, 2.5, math.nan, math.inf, 10**12, *NOT_NUMBERS]
BAD_TIMEOUTS = [-1, -0.5, math.inf, math.nan, 1e12, None, "5", True]
BAD_STRINGS = [None, "", "   ", 5, b"echo", object(), "\0", "é" * 300]
BAD_BYTES = [None, 5, 2.5, object(), [1, 2], {"a": 1}]


def _sweep(label, make_call, values):
    """Rows calling ``make_call(t, value)`` once per bad value."""
    return [(f"{label}={value!r}"[:90], lambda t, v=value: make_call(t, v)) for value in values]


ROWS = [
    # --- the bridge --------------------------------------------------------
    ("call(None)", lambda t: lab.call(None)),
    ("call(5)", lambda t: lab.call(5)),
    ("submit(None)", lambda t: lab.submit(None)),
    ("submit('print')", lambda t: lab.submit("print")),
    ("wait(None)", lambda t: lab.wait(None)),
    ("wait(5)", lambda t: lab.wait(5)),
    *_sweep("call(int, timeout)", lambda t, v: lab.call(int, timeout=v), BAD_TIMEOUTS),
    *_sweep("wait(handle, timeout)", lambda t, v: lab.wait(lab.submit(int), timeout=v),
            BAD_TIMEOUTS),
    *_sweep("submit(int).wait(timeout)", lambda t, v: lab.submit(int).wait(v), BAD_TIMEOUTS),
    # --- Deferred tracing ----------------------------------------------------
    *_sweep("trace", lambda t, v: lab.trace(v), [None, 5, "x", b"x", object()]),
    *_sweep("step", lambda t, v: lab.step(v), [None, 5, "x", b"x", object()]),
    # --- live inspection -------------------------------------------------------
    *_sweep("pending(include_internal)", lambda t, v: lab.pending(include_internal=v),
            [None, "yes", 1]),
    *_sweep("pending(collect_garbage)", lambda t, v: lab.pending(collect_garbage=v), ["no", 0]),
    *_sweep("track_deferreds", lambda t, v: lab.track_deferreds(v), [None, "yes", 1]),
    *_sweep("pending().why", lambda t, v: lab.pending().why(v), [None, "x", 2.5, object()]),
    ("pending()[id from nowhere]", lambda t: lab.pending()[10 ** 9]),
    ("pending().diff(5)", lambda t: lab.pending().diff(5)),
    # --- plugins ---------------------------------------------------------------
    ("plugins(paths=[''])", lambda t: lab.plugins(paths=[""])),
    ("plugins(paths='')", lambda t: lab.plugins(paths="")),
    ("plugins(paths=[None])", lambda t: lab.plugins(paths=[None])),
    ("plugins(paths=5)", lambda t: lab.plugins(paths=5)),
    ("plugins(paths=[5])", lambda t: lab.plugins(paths=[5])),
    ("plugins(paths=missing folder)", lambda t: lab.plugins(paths=[t.tmp / "missing"])),
    ("plugins(paths=a file)", lambda t: lab.plugins(paths=[t.file])),
    *_sweep("plugins().load", lambda t, v: lab.plugins().load(v), BAD_STRINGS),
    *_sweep("plugins().info", lambda t, v: lab.plugins().info(v), BAD_STRINGS),
    *_sweep("protocol_plugin(name)", lambda t, v: lab.protocol_plugin(v, "d"), BAD_STRINGS),
    # --- listen ----------------------------------------------------------------
    *_sweep("listen(plugin)", lambda t, v: lab.listen(v), [*BAD_STRINGS, 2.5, int, "nosuch"]),
    *_sweep("listen('echo', endpoint)", lambda t, v: lab.listen("echo", v),
            ["", " ", 2.5, -1, 70000, True, b"tcp:0", object(), "tcp:-1", "tcp:2.5", "tcp:0x10",
             "tcp:1e3", "tcp:0:backlog=-1", "tcp:0:backlog=2.5", "udp:0:backlog=5", "nosuch:0",
             "tcp:0:nosuch=1", "tcp:0:interface=256.1.1.1", "unix:", "unix:relative/no/dir.sock",
             "tcp:\u0661"]),
    *_sweep("listen('echo', name)", lambda t, v: lab.listen("echo", name=v),
            [5, "", "  ", object()]),
    *_sweep("listen('echo', allow_remote)", lambda t, v: lab.listen("echo", allow_remote=v),
            ["no", 1, None]),
    *_sweep("listen('echo', capture)", lambda t, v: lab.listen("echo", capture=v),
            ["no", 1, None]),
    *_sweep("listen('echo', max_events)", lambda t, v: lab.listen("echo", max_events=v),
            BAD_COUNTS),
    *_sweep("listen('echo', max_bytes)", lambda t, v: lab.listen("echo", max_bytes=v),
            BAD_COUNTS),
    *_sweep("listen('echo', backlog)", lambda t, v: lab.listen("echo", backlog=v),
            [v for v in BAD_COUNTS if v is not None]),  # None: the default backlog
    *_sweep("listen('echo', timeout)", lambda t, v: lab.listen("echo", timeout=v),
            BAD_TIMEOUTS),
    ("listen('echo', nosuch=1)", lambda t: lab.listen("echo", nosuch=1)),
    *_sweep("listen('chat', max_line)", lambda t, v: lab.listen("chat", max_line=v),
            BAD_COUNTS),
    *_sweep("listen('chat', max_members)", lambda t, v: lab.listen("chat", max_members=v),
            BAD_COUNTS),
    ("listen(factory, option)", lambda t: lab.listen(lab.model.Listener, x=1)),
    # --- connect and the client ---------------------------------------------------
    *_sweep("connect", lambda t, v: lab.connect(v),
            [None, "", 2.5, -1, 70000, True, object(), "tcp:127.0.0.1", "tcp:127.0.0.1:x",
             "tcp::80", "ssl:127.0.0.1:80", b"tcp:127.0.0.1:80"]),
    ("connect(stopped listener)", lambda t: lab.connect(t.stopped)),
    *_sweep("connect(echo, timeout)", lambda t, v: lab.connect(t.echo, timeout=v),
            BAD_TIMEOUTS),
    *_sweep("client.send", lambda t, v: t.client.send(v), BAD_BYTES),
    *_sweep("client.send(b'x', timeout)", lambda t, v: t.client.send(b"x", timeout=v),
            BAD_TIMEOUTS),
    *_sweep("client.read(timeout)", lambda t, v: t.client.read(timeout=v), BAD_TIMEOUTS),
    *_sweep("client.read_until", lambda t, v: t.client.read_until(v),
            [None, b"", "", 5, object()]),
    *_sweep("client.read_until(b'\\n', timeout)",
            lambda t, v: t.client.read_until(b"\n", timeout=v), BAD_TIMEOUTS),
    *_sweep("client.close(timeout)", lambda t, v: t.client.close(timeout=v), BAD_TIMEOUTS),
    # --- load tests ---------------------------------------------------------------
    *_sweep("load_test(connections)", lambda t, v: lab.load_test(t.echo, connections=v),
            BAD_COUNTS),
    *_sweep("load_test(requests)", lambda t, v: lab.load_test(t.echo, requests=v), BAD_COUNTS),
    *_sweep("load_test(payload)", lambda t, v: lab.load_test(t.echo, payload=v),
            [None, object(), b"", "", 5, 2.5, [1]]),
    *_sweep("load_test(until)", lambda t, v: lab.load_test(t.echo, until=v),
            [b"", "", 5, object()]),
    *_sweep("load_test(timeout)", lambda t, v: lab.load_test(t.echo, timeout=v),
            BAD_TIMEOUTS),
    *_sweep("load_test(verify)", lambda t, v: lab.load_test(t.echo, verify=v), ["yes", 1]),
    *_sweep("load_test(progress)", lambda t, v: lab.load_test(t.echo, progress=v),
            ["yes", 1]),
    *_sweep("load_test(target)", lambda t, v: lab.load_test(v),
            [None, "", 2.5, object(), "udp:127.0.0.1:9"]),
    ("load_test(udp listener)", lambda t: lab.load_test(t.udp)),
    ("load_test(stopped listener)", lambda t: lab.load_test(t.stopped)),
    # --- listeners, captures ------------------------------------------------------
    *_sweep("listener.stop(timeout)", lambda t, v: t.echo.stop(timeout=v), BAD_TIMEOUTS),
    *_sweep("listener.replay(connection)", lambda t, v: t.echo.replay(v),
            [None, "1", 2.5, -1, 10**9]),
    *_sweep("capture.tail", lambda t, v: t.echo.capture.tail(v),
            [-1, 2.5, math.nan, None, "5", True]),  # a huge count just means "all"
    *_sweep("capture.events(connection)", lambda t, v: t.echo.capture.events(connection=v),
            ["1", 2.5, object()]),
    *_sweep("capture.events(since)", lambda t, v: t.echo.capture.events(since=v),
            [-1, 2.5, None, "0"]),
    *_sweep("capture.events(kinds)", lambda t, v: t.echo.capture.events(kinds=v),
            ["in", 5, ["sideways"]]),
    *_sweep("capture.connection", lambda t, v: t.echo.capture.connection(v),
            [None, "1", 2.5, object()]),
    *_sweep("capture.stream(direction)", lambda t, v: t.echo.capture.stream(1, v),
            ["sideways", None, 5]),
    *_sweep("capture.wait_for", lambda t, v: t.echo.capture.wait_for(v), [None, 5, "x"]),
    *_sweep("capture.wait_for(timeout)",
            lambda t, v: t.echo.capture.wait_for(lambda c: False, timeout=v), BAD_TIMEOUTS),
    *_sweep("capture.write_pcap(path)", lambda t, v: t.echo.capture.write_pcap(v),
            [None, "", 5, object()]),
    ("capture.write_pcap(existing)", lambda t: t.echo.capture.write_pcap(t.file)),
    ("capture.write_pcap(folder)", lambda t: t.echo.capture.write_pcap(t.tmp, overwrite=True)),
    ("capture.write_pcap(overwrite='yes')",
     lambda t: t.echo.capture.write_pcap(t.tmp / "new.pcap", overwrite="yes")),
    *_sweep("Capture(max_events)", lambda t, v: Capture(max_events=v), BAD_COUNTS),
    # --- views and state ------------------------------------------------------------
    *_sweep("reactor_state(timeout)", lambda t, v: lab.reactor_state(timeout=v), BAD_TIMEOUTS),
    *_sweep("reactor_state(include_internal)",
            lambda t, v: lab.reactor_state(include_internal=v), ["yes", 5]),
    *_sweep("dashboard(listener)", lambda t, v: lab.dashboard(listener=v), [5, object(), ""]),
    ("listeners(5)", lambda t: lab.listeners(5)),
    # --- proxies ----------------------------------------------------------------------
    *_sweep("proxy(target)", lambda t, v: lab.proxy(v),
            [None, "", 2.5, -1, 70000, True, object(), "tcp:127.0.0.1", "tcp::80"]),
    ("proxy(stopped listener)", lambda t: lab.proxy(t.stopped)),
    *_sweep("proxy(echo, listen)", lambda t, v: lab.proxy(t.echo, v),
            [None, "", 5.5, "tcp:x", "tcp:0:interface=0.0.0.0", "udp:0", "carrier:1"]),
    *_sweep("proxy(echo, framer)", lambda t, v: lab.proxy(t.echo, framer=v),
            ["nosuch", 5, object(), ("a", "b")]),
    *_sweep("proxy(echo, name)", lambda t, v: lab.proxy(t.echo, name=v), [5, "", "   "]),
    *_sweep("proxy(echo, allow_remote)", lambda t, v: lab.proxy(t.echo, allow_remote=v),
            ["yes", 1, None]),
    *_sweep("proxy(echo, max_held)", lambda t, v: lab.proxy(t.echo, max_held=v), BAD_COUNTS),
    *_sweep("proxy(echo, max_held_bytes)", lambda t, v: lab.proxy(t.echo, max_held_bytes=v),
            BAD_COUNTS),
    *_sweep("proxy(echo, timeout)", lambda t, v: lab.proxy(t.echo, timeout=v), BAD_TIMEOUTS),
    *_sweep("proxy.intercept(direction)", lambda t, v: t.proxy.intercept(v),
            ["sideways", 5, ""]),
    *_sweep("proxy.intercept(match)", lambda t, v: t.proxy.intercept("both", v), [5, 2.5]),
    *_sweep("proxy.forward", lambda t, v: t.proxy.forward(v), [None, 5, b"x", object()]),
    *_sweep("proxy.drop", lambda t, v: t.proxy.drop(v), [None, 5, b"x"]),
    *_sweep("proxy.inject(data)", lambda t, v: t.proxy.inject(t.leg, "to_client", v),
            [*BAD_BYTES, b""]),
    *_sweep("proxy.inject(connection)", lambda t, v: t.proxy.inject(v, "to_client", b"x"),
            [None, 99999, "1"]),
    *_sweep("proxy.inject(direction)", lambda t, v: t.proxy.inject(t.leg, v, b"x"),
            ["both", "up", None]),
    *_sweep("proxy.fault", lambda t, v: t.proxy.fault(**v),
            [{"fragmnet": 1}, {"fragment": 0}, {"fragment": "1"}, {"delay": -1},
             {"delay": math.inf}, {"rate": True}, {"direction": "up"}]),
    *_sweep("proxy.fault(connection)", lambda t, v: t.proxy.fault(v, delay=1), [99999, "x"]),
    *_sweep("proxy.replay", lambda t, v: t.proxy.replay(v), [None, 99999, "1"]),
    *_sweep("proxy.replay(timeout)", lambda t, v: t.proxy.replay(t.leg, timeout=v),
            BAD_TIMEOUTS),
    *_sweep("proxy.conversation(leg)", lambda t, v: t.proxy.conversation(leg=v),
            ["both", None]),
    # --- the simulation (its own world: no reactor, answered at once) -----
    *_sweep("simulation(seed)", lambda t, v: lab.simulation(seed=v), [2.5, [1], object()]),
    ("simulation().step() on an empty queue", lambda t: lab.simulation().step()),
    *_sweep("simulation().advance", lambda t, v: lab.simulation().advance(v),
            [-1, math.nan, math.inf, None, "5", True]),
    *_sweep("simulation().run_until", lambda t, v: lab.simulation().run_until(v),
            [-1, math.nan, None, "5"]),
    *_sweep("simulation().run_until_idle(max_steps)",
            lambda t, v: lab.simulation().run_until_idle(max_steps=v), [0, -1, 2.5, "5"]),
    *_sweep("simulation().link(unknown host)", lambda t, v: lab.simulation().link(v, "server"),
            ["nowhere", None, 5]),
    *_sweep("simulation().partition", lambda t, v: lab.simulation().partition(v),
            ["nowhere", None, 5]),
    *_sweep("simulation().fragment", lambda t, v: lab.simulation().fragment(v),
            [0, -1, 2.5, "1"]),
    *_sweep("simulation().hold(connection)", lambda t, v: lab.simulation().hold(v),
            [None, 99999, "x"]),
    *_sweep("simulation().listen(what)", lambda t, v: lab.simulation().listen(v),
            [None, 5, "no-such-plugin"]),
]


@pytest.fixture(scope="module")
def things(lab_reactor, tmp_path_factory):
    """The live objects the rows call: listeners, a client, a file and a folder."""
    tmp = tmp_path_factory.mktemp("bad-inputs")
    echo = lab.listen("echo", name="bad-inputs-echo")
    udp = lab.listen("echo", "udp:0", name="bad-inputs-udp")
    stopped = lab.listen("echo", name="bad-inputs-stopped")
    stopped.stop()
    client = lab.connect(echo)
    client.send(b"hello\n")
    client.read_until(b"\n")
    proxy = lab.proxy(echo, framer="lines", name="bad-inputs-proxy")
    through = lab.connect(proxy)
    through.send(b"hello\n")
    through.read_until(b"\n")
    file = tmp / "a-file.txt"
    file.write_text("not a folder")
    yield types.SimpleNamespace(echo=echo, udp=udp, stopped=stopped, client=client, tmp=tmp,
                                file=file, proxy=proxy, leg=proxy.legs()[0][0])
    through.close()
    client.close()
    lab.model.stop_all()


def _answer(call, t):
    """Run ``call(t)`` in a thread; return ``(finished, result, error)``."""
    outcome = {}

    def run():
        try:
            outcome["result"] = call(t)
        except BaseException as error:  # noqa: BLE001 - the test judges it
            outcome["error"] = error

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(ANSWER_WITHIN)
    return not thread.is_alive(), outcome.get("result"), outcome.get("error")


def _raised_by_the_lab(error):
    frames = traceback.extract_tb(error.__traceback__)
    lab_root = str(pathlib.Path(lab.__file__).parent)
    return bool(frames) and frames[-1].filename.startswith(lab_root)


@pytest.mark.parametrize("label,call", ROWS, ids=[label for label, _ in ROWS])
def test_bad_input_is_answered(things, label, call):
    """One bad call gets a clear LabError/TypeError/ValueError at once; the reactor then answers."""
    before = sorted(l.name for l in lab.listeners())
    finished, result, error = _answer(call, things)
    assert finished, f"{label}: no answer within {ANSWER_WITHIN} s"
    assert error is not None, f"{label}: accepted, returned {result!r}"
    assert isinstance(error, ACCEPTED), f"{label}: {type(error).__name__}: {error}"
    message = str(error)
    assert len(message) >= 25, f"{label}: message too short to say what to do: {message!r}"
    assert _raised_by_the_lab(error) or "argument" in message, \
        f"{label}: {type(error).__name__} from outside the lab: {message}"
    assert 42 == lab.call(lambda: 42, timeout=10)
    assert before == sorted(l.name for l in lab.listeners())
    assert things.client.is_open
