"""Checks for the custom-protocol exercise: a netstring request/response server, "shout".

The learner writes a protocol plugin; :func:`check_shout` talks to the
running server over plain sockets on loopback (so that the checker shares no
code with what it checks) and says, check by check, what still is wrong and
how to fix it.

The protocol the exercise asks for.  Every message, both ways, is a netstring
(``<length>:<bytes>,``, e.g. ``4:PING,``).  Requests and their replies:

    PING            -> PONG
    UPPER:<text>    -> OK:<TEXT>            (ASCII upper-case)
    REVERSE:<text>  -> OK:<txet>
    anything else   -> ERR:unknown command <COMMAND>

A frame longer than 1,000 bytes, or a malformed frame, closes the connection.
"""

import html
import socket
import time
from dataclasses import dataclass, field

__all__ = ["check_shout", "CheckResult", "Report", "netstring"]

MAX_FRAME = 1000
READ_TIMEOUT = 2.0


def netstring(payload: bytes | str) -> bytes:
    """Frame ``payload`` (bytes or str) as a netstring."""
    data = payload.encode() if isinstance(payload, str) else bytes(payload)
    return b"%d:%s," % (len(data), data)


@dataclass(frozen=True)
class CheckResult:
    """One check: its name, whether it passed, what was seen, and a hint when it failed."""

    name: str
    passed: bool
    detail: str
    hint: str = ""


@dataclass(repr=False)
class Report:
    """The results of every check, shown as a table in a notebook."""

    target: str
    results: list = field(default_factory=list)

    @property
    def passed(self):
        """True when every check passed."""
        return bool(self.results) and all(r.passed for r in self.results)

    @property
    def failures(self):
        """The checks that failed."""
        return [r for r in self.results if not r.passed]

    def __repr__(self):
        return f"<shout {str(self).splitlines()[0]}>"

    def __str__(self):
        lines = [f"shout checks against {self.target}: "
                 f"{len(self.results) - len(self.failures)}/{len(self.results)} passed"]
        for r in self.results:
            mark = "PASS" if r.passed else "FAIL"
            lines.append(f"  {mark} {r.name}: {r.detail}" + (f"\n       hint: {r.hint}"
                                                             if r.hint else ""))
        return "\n".join(lines)

    def _repr_html_(self):
        rows = "".join(
            f'<tr><td style="color:{"#1a7f37" if r.passed else "#cf222e"}">'
            f'{"&#10004;" if r.passed else "&#10008;"}</td><td>{html.escape(r.name)}</td>'
            f"<td>{html.escape(r.detail)}</td><td>{html.escape(r.hint)}</td></tr>"
            for r in self.results)
        summary = html.escape(str(self).splitlines()[0])
        return (f"<div><b>{summary}</b><table><tr><th></th><th>check</th><th>seen</th>"
                f"<th>what to do</th></tr>{rows}</table></div>")


class _Peer:
    """A blocking loopback client that reads netstring replies with a deadline."""

    def __init__(self, address):
        self.sock = socket.create_connection(address, timeout=READ_TIMEOUT)
        self.buffer = b""

    def send(self, *chunks, pause=0.05):
        for chunk in chunks:
            self.sock.sendall(chunk)
            if len(chunks) > 1:
                time.sleep(pause)  # separate TCP segments, to test the server's framing

    def reply(self):
        """The next netstring payload, or raise TimeoutError / ConnectionError."""
        deadline = time.monotonic() + READ_TIMEOUT
        while True:
            frame = self._frame()
            if frame is not None:
                return frame
            self.sock.settimeout(max(0.01, deadline - time.monotonic()))
            data = self.sock.recv(4096)
            if not data:
                raise ConnectionError(f"connection closed (had {self.buffer!r})")
            self.buffer += data

    def _frame(self):
        length, colon, rest = self.buffer.partition(b":")
        if not colon:
            return None
        if not length.isdigit():
            raise ValueError(f"reply is not a netstring: {self.buffer[:60]!r}")
        size = int(length)
        if len(rest) < size + 1:
            return None
        if rest[size:size + 1] != b",":
            raise ValueError(f"netstring reply lacks its ',': {self.buffer[:60]!r}")
        self.buffer = rest[size + 1:]
        return rest[:size]

    def closed_by_server(self):
        """True if the server closes the connection within the read timeout."""
        self.sock.settimeout(READ_TIMEOUT)
        try:
            while self.sock.recv(4096):
                pass
        except socket.timeout:
            return False
        except ConnectionError:
            return True
        return True

    def close(self):
        self.sock.close()


def _exchange(address, chunks, replies=1):
    peer = _Peer(address)
    try:
        peer.send(*chunks)
        return [peer.reply() for _ in range(replies)]
    finally:
        peer.close()


def _expect(name, address, chunks, expected, hint):
    try:
        got = _exchange(address, chunks, replies=len(expected))
    except (OSError, ValueError) as error:
        return CheckResult(name, False, f"{type(error).__name__}: {error}", hint)
    if got != expected:
        return CheckResult(name, False, f"expected {expected!r}, got {got!r}", hint)
    return CheckResult(name, True, f"got {got!r}")


def _expect_close(name, address, data, hint):
    peer = _Peer(address)
    try:
        peer.send(data)
        if peer.closed_by_server():
            return CheckResult(name, True, "the server closed the connection")
        return CheckResult(name, False, f"connection still open {READ_TIMEOUT} s later", hint)
    except OSError as error:
        return CheckResult(name, True, f"the server closed the connection ({error})")
    finally:
        peer.close()


FRAMING = ("Replies must be netstrings and requests may arrive in any pieces: "
           "subclass twisted.protocols.basic.NetstringReceiver and answer in "
           "stringReceived(), never parse in dataReceived().")

# Every check as data, so that the socket checker and the simulated one ask the same:
# (name, what to send: one write per chunk, replies expected or None for "the server closes", hint)
CHECKS = (
    ("answers PING", [netstring("PING")], [b"PONG"],
     "stringReceived(b'PING') should sendString(b'PONG')."),
    ("UPPER", [netstring("UPPER:hello")], [b"OK:HELLO"],
     "Split the request once at ':'; reply b'OK:' + argument.upper()."),
    ("REVERSE", [netstring("REVERSE:abc")], [b"OK:cba"],
     "Reverse the argument bytes: argument[::-1]."),
    ("unknown command", [netstring("FOO:x")], [b"ERR:unknown command FOO"],
     "Answer any other command with b'ERR:unknown command ' + command."),
    ("two requests in one segment", [netstring("PING") + netstring("UPPER:a")],
     [b"PONG", b"OK:A"], FRAMING),
    ("a request split across segments", [b"1", b"1:UPP", b"ER:hello,"], [b"OK:HELLO"], FRAMING),
    ("an oversized frame closes", [b"%d:" % (MAX_FRAME + 1) + b"x" * (MAX_FRAME + 1) + b","],
     None, f"Bound the frame: set MAX_LENGTH = {MAX_FRAME} on the protocol "
           "(NetstringReceiver then drops the connection)."),
    ("a malformed frame closes", [b"abc:"], None,
     "Let NetstringReceiver reject bad lengths; do not catch its error."),
)


def _checks(address):
    for name, chunks, expected, hint in CHECKS:
        if expected is None:
            yield _expect_close(name, address, b"".join(chunks), hint)
        else:
            yield _expect(name, address, chunks, expected, hint)


def check_shout(target: object, *, simulation: object = None) -> Report:
    """Run every check against a shout server; return a :class:`Report`.

    ``target`` is a listener (anything with ``host`` and ``port``) or a
    ``(host, port)`` pair: the checks then talk to it over loopback sockets.
    With ``simulation=`` (a ``lab.simulation(...)``, or True for a fresh
    one), ``target`` is a plugin name, plugin or factory served in that
    simulation, and the checks run there: no sockets, no timing, the same
    verdict every time (``lab.simulation(fragment=1)`` delivers every byte
    on its own).  A listener from ``sim.listen`` runs in its own simulation.
    """
    if simulation is not None or hasattr(target, "sim"):
        from lab.exercises._shout_sim import check_in_simulation

        return check_in_simulation(target, simulation, Report, CheckResult, CHECKS, _frames)
    if hasattr(target, "host") and hasattr(target, "port"):
        address = (target.host, target.port)
    elif isinstance(target, tuple) and len(target) == 2:
        address = target
    else:
        raise TypeError(
            f"check_shout() needs a listener (from lab.listen) or a (host, port) pair, "
            f"not {type(target).__name__} {target!r}; or a plugin name with simulation=.")
    report = Report(f"{address[0]}:{address[1]}")
    report.results.extend(_checks(address))
    return report


def _frames(data):
    """The complete netstring payloads at the start of ``data``, and an error text (or None)."""
    frames = []
    while data:
        length, colon, rest = data.partition(b":")
        if not colon:
            break
        if not length.isdigit():
            return frames, f"reply is not a netstring: {data[:60]!r}"
        size = int(length)
        if len(rest) < size + 1:
            break
        if rest[size:size + 1] != b",":
            return frames, f"netstring reply lacks its ',': {data[:60]!r}"
        frames.append(rest[:size])
        data = rest[size + 1:]
    return frames, None
