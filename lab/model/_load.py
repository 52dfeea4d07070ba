"""Load tests: many concurrent clients, driven from the reactor thread.

Every client connects first (at most ``MAX_CONNECTING`` at a time, so a
listen backlog of 50 is never overrun), and only when all are connected do
they start sending, so ``connections`` really are open at the same time.
Each then sends ``requests`` requests one after another and times each
reply.  Progress reaches the notebook through :func:`lab.bridge.deliver`
while the cell waits.
"""

import html
import random
import sys
import time
from collections.abc import Callable
from typing import Any

from twisted.internet.defer import Deferred
from twisted.internet.endpoints import TCP4ClientEndpoint, TCP6ClientEndpoint, connectProtocol
from twisted.internet.task import LoopingCall

from lab import bridge, display
from lab._checks import checked_bool, checked_count, checked_data, checked_timeout
from lab.adapters.clients import StreamClient
from lab.model._client import target_spec
from lab.model._errors import ClientError
from lab.model._watch import LAB_TIMER_LABEL

__all__ = ["LoadReport", "load_test"]

MAX_CONNECTING = 64
MAX_CONNECTIONS = 10_000
MAX_REQUESTS = 10_000_000
MAX_LATENCY_SAMPLES = 100_000
MAX_ERROR_SAMPLES = 10
PROGRESS_INTERVAL = 0.1


class LoadReport:
    """The outcome of :func:`lab.load_test`: throughput, latency percentiles, errors."""

    def __init__(self, run: Any) -> None:
        self.connections = run.connections
        self.requests = run.completed
        self.expected = run.connections * run.requests
        self.errors = run.error_count
        self.error_samples = list(run.errors)
        self.mismatches = run.mismatches
        self.elapsed = run.finished_at - run.sending_at if run.sending_at else 0.0
        self.connect_time = (run.sending_at or run.finished_at) - run.started_at
        self.bytes_sent, self.bytes_received = run.bytes_sent, run.bytes_received
        self.peak_open = run.peak_open
        self.latencies = sorted(run.latencies)

    @property
    def throughput(self) -> float:
        """Completed requests per second (after every client connected)."""
        return self.requests / self.elapsed if self.elapsed > 0 else 0.0

    def percentile(self, p: float) -> float:
        """The ``p``-th percentile latency in milliseconds (nearest rank)."""
        if not self.latencies:
            return float("nan")
        rank = min(len(self.latencies) - 1, max(0, round(p / 100 * len(self.latencies)) - 1))
        return self.latencies[rank] * 1000

    def summary(self) -> dict[str, Any]:
        """The headline numbers as a dict."""
        return {"connections": self.connections, "requests": self.requests,
                "expected": self.expected, "errors": self.errors,
                "throughput_rps": round(self.throughput, 1),
                "p50_ms": round(self.percentile(50), 3), "p90_ms": round(self.percentile(90), 3),
                "p99_ms": round(self.percentile(99), 3), "max_ms": round(self.percentile(100), 3),
                "elapsed_s": round(self.elapsed, 3), "peak_open": self.peak_open}

    def __repr__(self):
        s = self.summary()
        text = (f"<LoadReport {s['requests']}/{s['expected']} requests over {s['connections']} "
                f"connections in {s['elapsed_s']} s: {s['throughput_rps']} req/s, "
                f"p50 {s['p50_ms']} ms, p90 {s['p90_ms']} ms, p99 {s['p99_ms']} ms, "
                f"{s['errors']} errors>")
        return text

    def _repr_html_(self):
        rows = "".join(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in self.summary().items())
        errors = "".join(f"<li>{html.escape(e)}</li>" for e in self.error_samples)
        return (f'<div class="lab-load-report"><table>{rows}</table>'
                + (f"<b>errors</b><ul>{errors}</ul>" if errors else "") + "</div>")


def _as_bytes(value):
    return checked_data(value, "payload")


class _Run:
    """The state of one load test, owned by the reactor thread."""

    def __init__(self, spec, connections, requests, payload, until, verify, progress):
        self.spec, self.connections, self.requests = spec, connections, requests
        self.payload, self.until, self.verify, self.progress = payload, until, verify, progress
        self.completed = self.error_count = self.mismatches = 0
        self.bytes_sent = self.bytes_received = 0
        self.errors, self.latencies, self.clients = [], [], []
        self.started_at, self.sending_at, self.finished_at = time.perf_counter(), None, None
        self.to_connect, self.connecting, self.open, self.peak_open = connections, 0, 0, 0
        self.done_clients = self.failed = 0
        self.deferred = self.ticker = self.deadline = None

    def payload_for(self, client, request):
        value = self.payload(client, request) if callable(self.payload) else self.payload
        return _as_bytes(value)

    def error(self, text):
        self.error_count += 1
        if len(self.errors) < MAX_ERROR_SAMPLES:
            self.errors.append(text)

    def latency(self, seconds):
        self.completed += 1
        if len(self.latencies) < MAX_LATENCY_SAMPLES:
            self.latencies.append(seconds)
        else:  # reservoir sampling keeps the percentiles honest past the bound
            slot = random.randrange(self.completed)
            if slot < MAX_LATENCY_SAMPLES:
                self.latencies[slot] = seconds


class _LoadConnection:
    """One load-test client: waits for the start, then request, reply, repeat.

    Its connection is a :class:`lab.adapters.clients.StreamClient`, which
    tells it ``connected``, ``received`` and ``lost`` in the reactor thread.
    """

    def __init__(self, run, index):
        self.run, self.index, self.sent, self.finished = run, index, 0, False
        self.transport = self.expected = self.started = None
        self.reply = bytearray()

    def connected(self, transport):
        """Count this client in; the last one to connect starts everyone."""
        self.transport = transport
        _connected(self.run, self)

    def next_request(self):
        """Send the next request, or hang up after the last."""
        run = self.run
        if self.sent >= run.requests:
            self.finished = True
            self.transport.loseConnection()
            return
        self.expected = run.payload_for(self.index, self.sent)
        self.sent += 1
        self.reply.clear()
        self.started = time.perf_counter()
        run.bytes_sent += len(self.expected)
        self.transport.write(self.expected)

    def received(self, data):
        """Collect the reply; when complete, time it, check it, and go on."""
        self.run.bytes_received += len(data)
        self.reply += data
        if self._complete():
            self.run.latency(time.perf_counter() - self.started)
            if self.run.verify and bytes(self.reply) != self.expected:
                self.run.mismatches += 1
                self.run.error(f"client {self.index} request {self.sent}: reply differs")
            self.next_request()

    def _complete(self):
        if self.run.until is not None:
            return self.run.until in self.reply
        return len(self.reply) >= len(self.expected)

    def lost(self, reason):
        """A connection lost before its last reply is an error."""
        if not self.finished:
            self.run.error(f"client {self.index}: connection lost after "
                           f"{self.sent} requests: {reason}")
        _client_done(self.run)


def _connect_more(run):
    reactor = bridge.get_reactor()
    kind = TCP6ClientEndpoint if ":" in run.spec.host else TCP4ClientEndpoint
    while run.to_connect and run.connecting < MAX_CONNECTING:
        index = run.connections - run.to_connect
        run.to_connect -= 1
        run.connecting += 1
        endpoint = kind(reactor, run.spec.host, run.spec.port, timeout=10)
        attempt = connectProtocol(endpoint, StreamClient(_LoadConnection(run, index)))
        attempt.addErrback(_connect_failed, run, index)


def _connect_failed(failure, run, index):
    run.connecting -= 1
    run.failed += 1
    run.error(f"client {index}: could not connect: {failure.getErrorMessage()}")
    _client_done(run, was_open=False)
    _connect_more(run)


def _connected(run, client):
    run.connecting -= 1
    run.open += 1
    run.peak_open = max(run.peak_open, run.open)
    run.clients.append(client)
    _connect_more(run)
    _start_sending_when_all_connected(run)


def _start_sending_when_all_connected(run):
    # Why a barrier: without it the first clients finish before the last
    # connect, and "1,000 concurrent connections" would never be 1,000 at once.
    if run.sending_at is None and len(run.clients) + run.failed >= run.connections:
        run.sending_at = time.perf_counter()
        for each in run.clients:
            if not each.finished and each.transport.connected:
                each.next_request()


def _client_done(run, was_open=True):
    run.done_clients += 1
    run.open -= 1 if was_open else 0
    if run.done_clients >= run.connections:
        _finish(run)
    else:
        _start_sending_when_all_connected(run)


def _finish(run):
    if run.deferred is None or run.deferred.called:
        return
    run.finished_at = time.perf_counter()
    for timer in (run.ticker, run.deadline):
        if timer is not None and getattr(timer, "running", True):
            _stop_timer(timer)
    _report_progress(run)
    run.deferred.callback(LoadReport(run))


def _stop_timer(timer):
    if hasattr(timer, "stop"):
        timer.stop()
    elif timer.active():
        timer.cancel()


def _time_out(run, timeout):
    run.deadline = None
    run.error(f"timed out after {timeout} s; {run.completed} requests were done")
    for client in list(run.clients):
        if not client.finished:
            client.finished = True
            client.transport.abortConnection()
    run.to_connect = 0
    _finish(run)


def _report_progress(run):
    if run.progress is not None:
        bridge.deliver(run.progress, run.completed, run.connections * run.requests)


def _start(run, timeout):
    reactor = bridge.get_reactor()
    run.deferred = Deferred()
    run.ticker = LoopingCall(_report_progress, run)
    setattr(run.ticker, LAB_TIMER_LABEL, "lab load-test progress")
    run.ticker.start(PROGRESS_INTERVAL, now=True)
    run.deadline = reactor.callLater(timeout, _time_out, run, timeout)
    _connect_more(run)
    return run.deferred


def _max_connections():
    """At most :data:`MAX_CONNECTIONS`, and at most what the descriptor limit leaves room for.

    Each connection to a listener in this process costs two descriptors (the
    client's and the server's), and the kernel needs some for itself.
    """
    import resource

    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return MAX_CONNECTIONS
    return max(1, min(MAX_CONNECTIONS, (soft - 64) // 2))


def _in_notebook():
    shell = sys.modules.get("IPython") and sys.modules["IPython"].get_ipython()
    return shell is not None and hasattr(shell, "kernel")


def load_test(target: Any, connections: int = 10, requests: int = 100,
              payload: bytes | str | Callable[[int, int], bytes | str] = b"ping\n",
              until: bytes | str | None = None, verify: bool = False, timeout: float = 60.0,
              progress: Callable[[int, int], object] | bool | None = None) -> LoadReport:
    """Drive ``connections`` concurrent TCP clients, each sending ``requests`` requests.

    A request is ``payload`` (bytes, str, or ``payload(client, request)``);
    its reply is complete at ``until`` (a delimiter) or, by default, after as
    many bytes as were sent (an echo).  ``verify=True`` counts replies that
    differ from the request as errors.  ``progress(done, total)`` is called
    through :func:`lab.bridge.deliver`; in a notebook a progress bar is shown
    unless ``progress=False``.  Returns a :class:`LoadReport`.
    """
    connections = checked_count(connections, "connections", 1, _max_connections(), 10)
    requests = checked_count(requests, "requests", 1, MAX_REQUESTS, 100)
    if not callable(payload):
        payload = checked_data(payload, "payload")
    if until is not None:
        until = checked_data(until, "until", "b'\\n'")
    checked_bool(verify, "verify")
    if not (progress is None or progress is False or callable(progress)):
        raise TypeError(f"progress is None (a bar in a notebook), False (none) or a function "
                        f"progress(done, total), not {progress!r}")
    timeout = checked_timeout(timeout, positive=True)
    spec = target_spec(target)
    if spec.transport != "tcp":
        raise ClientError("load_test drives TCP clients; give it a TCP listener or endpoint.")
    if progress is None and _in_notebook():
        progress = display.view("load progress", connections * requests)
    elif progress is False:
        progress = None
    run = _Run(spec, connections, requests, payload, until, verify, progress)
    return bridge.call(_start, run, timeout, timeout=timeout + 10)
