"""Clients: talk to a listener (or any TCP/UDP address) from a notebook cell.

The connection lives in the reactor thread; what arrives is put in a
bounded inbox under a condition variable, so ``read()`` in the kernel thread
waits for it without polling.  Every byte each way also goes to the client's
own bounded transcript, which views show.
"""

import html
import ipaddress
import threading
import time
from collections import deque
from typing import Any, NamedTuple

from twisted.internet.defer import Deferred, succeed
from twisted.internet.endpoints import (HostnameEndpoint, TCP4ClientEndpoint,
                                        TCP6ClientEndpoint, connectProtocol)

from lab import bridge
from lab._checks import checked_data, checked_timeout
from lab.adapters.clients import DatagramClient, StreamClient
from lab.errors import LabTimeout, WrongThread
from lab.model._endpoints import ClientSpec, parse_client
from lab.model._errors import ClientError, ConnectionClosed

__all__ = ["Client", "Transcript", "TranscriptEntry", "connect", "replay", "target_spec",
           "client_endpoint", "DEFAULT_READ_TIMEOUT"]

DEFAULT_READ_TIMEOUT = 2.0
MAX_INBOX_BYTES = 16 * 1024 * 1024
MAX_TRANSCRIPT = 10_000
MAX_TRANSCRIPT_BYTES = 4 * 1024 * 1024


class TranscriptEntry(NamedTuple):
    """One line of a client's transcript: ``"sent"``, ``"received"`` or ``"note"``."""

    direction: str
    time: float
    data: bytes


class Transcript(list):
    """A client's transcript (a list of entries) that shows itself as text."""

    def text(self) -> str:
        """The transcript as lines: ``>`` sent, ``<`` received, ``#`` notes."""
        marks = {"sent": ">", "received": "<", "note": "#"}
        return "\n".join(f"{marks[e.direction]} {_show(e.data)}" for e in self)

    def __str__(self):
        return self.text()


def _show(data):
    """Bytes as one readable line: UTF-8 where it decodes, escapes for the rest."""
    text = data.decode("utf-8", "backslashreplace")
    return "".join(ch if ch.isprintable() or ch == " " else repr(ch)[1:-1] for ch in text)


def _as_bytes(data):
    if isinstance(data, str):
        return data.encode("utf-8")
    if isinstance(data, (bytes, bytearray, memoryview)):
        return bytes(data)
    raise TypeError(f"send() takes bytes or str, not {type(data).__name__}")


class Client:
    """A connection from the notebook: ``send()``, ``read()``, ``read_until()``, ``close()``.

    Made by :func:`lab.connect`.  ``transcript`` lists what was sent and received.
    """

    def __init__(self, spec: ClientSpec, max_inbox: int = MAX_INBOX_BYTES,
                 max_transcript: int = MAX_TRANSCRIPT) -> None:
        self.spec = spec
        self.max_inbox = max_inbox
        self.overflowed = 0  # bytes dropped because nobody read them
        self.closed_reason: str | None = None
        self.version = 0  # bumped on every transcript change, for views
        self._cond = threading.Condition()
        self._inbox: deque[bytes] = deque()
        self._inbox_bytes = 0
        self._transcript: deque[TranscriptEntry] = deque(maxlen=max_transcript)
        self._transcript_bytes = 0
        self._transport: Any = None
        self._lost: Deferred | None = None
        self.last_read: str | None = None  # why the last read() came back empty, else None

    # -- reactor side: what lab.adapters.clients tells a client ----------------------

    def _note(self, direction, data):
        transcript = self._transcript
        if len(transcript) == transcript.maxlen:
            self._transcript_bytes -= len(transcript[0].data)
        transcript.append(TranscriptEntry(direction, time.time(), data))
        self._transcript_bytes += len(data)
        while self._transcript_bytes > MAX_TRANSCRIPT_BYTES and len(transcript) > 1:
            self._transcript_bytes -= len(transcript.popleft().data)
        self.version += 1

    def connected(self, transport: Any) -> None:
        """Reactor thread: the connection is up (for UDP, the socket is bound); note it."""
        self._transport = transport
        if self.spec.transport == "udp":
            host = transport.getHost()
            text = f"bound {host.host}:{host.port} for {self.address}"
        else:
            text = f"connected to {self.address}"
        with self._cond:
            self._note("note", text.encode())

    def received(self, data: bytes) -> None:
        """Reactor thread: put arrived bytes in the inbox (bounded) and the transcript."""
        with self._cond:
            self._inbox.append(bytes(data))
            self._inbox_bytes += len(data)
            while self._inbox_bytes > self.max_inbox and len(self._inbox) > 1:
                self._inbox_bytes -= len(self._inbox[0])
                self.overflowed += len(self._inbox.popleft())
            self._note("received", bytes(data))
            self._cond.notify_all()

    def refused(self) -> None:
        """Reactor thread: note the ICMP "port unreachable" a UDP send brought back."""
        with self._cond:
            self._note("note", b"refused: nothing listens there (ICMP port unreachable)")

    def lost(self, reason: str) -> None:
        """Reactor thread: the connection closed for ``reason``; wake readers and close()."""
        with self._cond:
            if self.closed_reason is None:
                self.closed_reason = reason
                self._note("note", f"closed: {reason}".encode())
            self._cond.notify_all()
        if self._lost is not None and not self._lost.called:
            self._lost.callback(None)

    def _write(self, data):
        if self._transport is None or self.closed_reason is not None:
            raise ConnectionClosed(
                f"the connection to {self.address} is closed ({self.closed_reason}); "
                "make a new one with lab.connect().")
        self._transport.write(data)
        with self._cond:
            self._note("sent", data)

    def _close_in_reactor(self):
        if self._transport is None or self.closed_reason is not None:
            return succeed(None)
        if self.spec.transport == "udp":
            self._transport.stopListening()
            self.lost("closed by the client")
            return succeed(None)
        self._lost = Deferred()
        self._transport.loseConnection()
        return self._lost

    # -- kernel side --------------------------------------------------------------

    @property
    def address(self) -> str:
        """``transport:host:port`` of the server."""
        return f"{self.spec.transport}:{self.spec.host}:{self.spec.port}"

    @property
    def is_open(self) -> bool:
        """True until the connection closes (either side)."""
        return self.closed_reason is None

    @property
    def transcript(self) -> Transcript:
        """What was sent and received (the last ``MAX_TRANSCRIPT`` entries, at most 4 MiB)."""
        with self._cond:
            return Transcript(self._transcript)

    def send(self, data: bytes | str, timeout: float = bridge.DEFAULT_TIMEOUT) -> None:
        """Send bytes (a str is sent as UTF-8)."""
        bridge.call(self._write, _as_bytes(data), timeout=timeout)

    def _wait(self, ready, timeout):
        timeout = checked_timeout(timeout)
        if bridge.in_reactor_thread():
            raise WrongThread("Client reads block; call them from a notebook cell, "
                              "not from reactor code.")
        return self._cond.wait_for(ready, timeout)

    def read(self, timeout: float = DEFAULT_READ_TIMEOUT) -> bytes:
        """What arrived so far, waiting up to ``timeout`` s for something; ``b""`` if nothing.

        Over TCP it returns every byte waiting; over UDP one datagram.

        An empty result is not an error (polling in a loop is fine), but it
        says why, where a learner looks: ``client.last_read`` holds the reason
        (None after a read that got bytes), and the transcript, hence the
        client console, gets the same reason as a ``#`` note (once, not once
        per empty read).  The reason names the wait ("nothing arrived within
        2 s"), a closed connection, and, when the last send did not end with
        a line ending, that a line protocol waits for its line ending before
        it answers.  Use :meth:`read_until` to get a :class:`lab.LabTimeout`
        instead.
        """
        with self._cond:
            self._wait(lambda: self._inbox or self.closed_reason is not None, timeout)
            if not self._inbox:
                self._explain_empty_read(timeout)
                return b""
            self.last_read = None
            if self.spec.transport == "udp":
                chunk = self._inbox.popleft()
            else:
                chunk = b"".join(self._inbox)
                self._inbox.clear()
            self._inbox_bytes -= len(chunk)
            return chunk

    def _explain_empty_read(self, timeout):
        """Say why read() returns b"": in ``last_read`` and as a transcript note (under the lock)."""
        if self.closed_reason is not None:
            reason = (f"read() returned b'': the connection is closed ({self.closed_reason}) "
                      "and nothing is left to read")
        else:
            reason = f"read() returned b'': nothing arrived within {timeout:g} s"
            sent = [e.data for e in self._transcript if e.direction == "sent"]
            if not sent:
                reason += "; nothing was sent yet (a server that speaks first would have)"
            elif not sent[-1].endswith(b"\n"):
                reason += (f"; the last send ({_show(sent[-1][-40:])!r}) has no line ending, and "
                           "a line protocol waits for its line ending before it answers: "
                           "send b'\\r\\n' (or b'\\n')")
            else:
                reason += "; the server may still be working: pass a larger timeout="
        self.last_read = reason
        last = self._transcript[-1] if self._transcript else None
        if last is None or last.direction != "note" or last.data != reason.encode():
            self._note("note", reason.encode())

    def read_until(self, delimiter: bytes | str, timeout: float = DEFAULT_READ_TIMEOUT
                   ) -> bytes:
        """Bytes up to and including ``delimiter``; :class:`lab.LabTimeout` if it does not come."""
        wanted = checked_data(delimiter, "delimiter", "b'\\r\\n'")
        with self._cond:
            found = self._wait(lambda: self._has(wanted) or self.closed_reason is not None,
                               timeout)
            joined = b"".join(self._inbox)
            end = joined.find(wanted)
            if end < 0:
                self._fail_read(wanted, joined, timeout, found)
            end += len(wanted)
            self._inbox.clear()
            if joined[end:]:
                self._inbox.append(joined[end:])
            self._inbox_bytes = len(joined) - end
            return joined[:end]

    def _has(self, delimiter):
        if len(self._inbox) > 1:  # join once so a delimiter split across chunks is found
            joined = b"".join(self._inbox)
            self._inbox.clear()
            self._inbox.append(joined)
        return bool(self._inbox) and delimiter in self._inbox[0]

    def _fail_read(self, delimiter, joined, timeout, found):
        if self.closed_reason is not None and found:
            raise ConnectionClosed(
                f"the connection closed ({self.closed_reason}) before {delimiter!r} arrived; "
                f"{len(joined)} bytes are waiting: {joined[:80]!r}")
        raise LabTimeout(
            f"{delimiter!r} did not arrive within {timeout} s; {len(joined)} bytes are "
            f"waiting ({joined[:80]!r}). Read them with read(), or pass a larger timeout=.")

    def close(self, timeout: float = bridge.DEFAULT_TIMEOUT) -> None:
        """Close the connection and wait until it is closed (harmless twice)."""
        bridge.call(self._close_in_reactor, timeout=timeout)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __repr__(self):
        state = "open" if self.is_open else f"closed ({self.closed_reason})"
        return f"<Client {self.address} {state}, {len(self._transcript)} transcript entries>"

    def _repr_html_(self):
        return (f"<div><b>{html.escape(repr(self))}</b>"
                f"<pre>{html.escape(self.transcript.text())}</pre></div>")


# ------------------------------------------------------------------------------
# connecting (reactor thread)


def client_endpoint(reactor: Any, spec: ClientSpec, timeout: float) -> Any:
    """A Twisted client endpoint for ``spec`` (TCP to an IP, or a host name resolved)."""
    try:
        version = ipaddress.ip_address(spec.host).version
    except ValueError:
        return HostnameEndpoint(reactor, spec.host.encode("idna"), spec.port, timeout=timeout)
    kind = TCP4ClientEndpoint if version == 4 else TCP6ClientEndpoint
    return kind(reactor, spec.host, spec.port, timeout=timeout)


def _connect_in_reactor(client, timeout):
    reactor = bridge.get_reactor()
    spec = client.spec
    if spec.transport == "udp":
        interface = "::1" if ":" in spec.host else "127.0.0.1"
        port = reactor.listenUDP(0, DatagramClient(client), interface=interface)
        port.connect(spec.host, spec.port)
        client.connected(port)
        return client
    endpoint = client_endpoint(reactor, spec, timeout)
    return connectProtocol(endpoint, StreamClient(client)).addCallback(lambda _: client)


def target_spec(target: Any) -> ClientSpec:
    """The :class:`ClientSpec` to reach ``target``: a listener, a port, a spec or ``"tcp:HOST:PORT"``.

    A listener (anything with ``client_spec()``) says where it can be reached.
    """
    client_spec = getattr(target, "client_spec", None)
    if callable(client_spec):
        return client_spec()
    if isinstance(target, ClientSpec):
        return target
    return parse_client(target)


def connect(target: Any, timeout: float = 5.0) -> Client:
    """Connect to a :class:`Listener`, a port number, or ``"tcp:HOST:PORT"``/``"udp:HOST:PORT"``.

    Returns a :class:`Client`.  Raises :class:`lab.model.ClientError` if the
    connection is refused or times out.
    """
    timeout = checked_timeout(timeout, positive=True)
    client = Client(target_spec(target))
    try:
        return bridge.call(_connect_in_reactor, client, timeout, timeout=timeout + 5)
    except (OSError, ConnectionError) as error:
        raise ClientError(f"cannot connect to {client.address}: {error}") from None
    except Exception as error:
        if type(error).__module__.startswith("twisted"):
            raise ClientError(f"cannot connect to {client.address}: {error}") from None
        raise


def replay(capture: Any, connection: int, target: Any, timeout: float = 5.0) -> Client:
    """Send the bytes a captured client sent on ``connection`` to ``target``, in the same chunks.

    Returns the new :class:`Client`, whose replies can then be read.
    """
    chunks = [e.data for e in capture.events(connection, kinds=("in",))]
    if not chunks:
        raise ClientError(
            f"nothing from the client of connection #{connection} is in the capture "
            "(it sent nothing, or its events were dropped from the ring buffer).")
    client = connect(target, timeout)
    for chunk in chunks:
        client.send(chunk)
    return client
