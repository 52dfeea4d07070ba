"""Endpoint strings: parse them as Twisted does, decide exposure, fill in the lab's defaults.

Twisted's ``serverFromString`` listens on every interface unless told
otherwise; the lab listens on loopback unless asked.  Exposure is decided
from what Twisted will actually bind, never from a re-serialised string:

1. the string is split by Twisted's own tokenizer (so escapes mean what
   they mean to Twisted), positional values are named after the parameters
   of Twisted's parser for that type, and an option given twice (twice by
   name, or once by position and once by name) is refused as ambiguous;
2. the lab's defaults are added (loopback interface, a real server's listen
   backlog, for ``unix:`` mode 0600 and no lock file) and a canonical,
   keyword-only, fully escaped string is written;
3. that string is handed to Twisted's ``serverFromString`` and the
   interface is read back from the endpoint object it built.  An endpoint
   type whose bind address cannot be read back is refused unless
   ``allow_remote=True``.

The listener checks once more the address the socket really bound.  UDP is
not a Twisted endpoint type, so ``udp:PORT[:interface=...]`` is parsed here
with the same rules.
"""

import ipaddress
import os
import stat
from typing import NamedTuple

from lab.model._errors import EndpointError, RemoteNotAllowed

__all__ = ["ServerSpec", "ClientSpec", "parse_server", "parse_client", "is_loopback",
           "DEFAULT_BACKLOG", "check_unix_path"]

# Twisted's default listen backlog is 50: a burst of connections beyond it
# waits a second per overflow for the client's SYN retry.  Servers use more
# (memcached 1024, nginx 511); Linux caps it at net.core.somaxconn anyway.
DEFAULT_BACKLOG = 1024
MAX_BACKLOG = 65535
_LOOPBACK = {"tcp": "127.0.0.1", "tcp6": "::1", "ssl": "127.0.0.1", "udp": "127.0.0.1"}
# The parameters of Twisted's string parsers, in positional order (the
# first is the port, or the path for unix).
_PARAMETERS = {
    "tcp": ("port", "interface", "backlog"),
    "tcp6": ("port", "backlog", "interface"),
    "ssl": ("port", "privateKey", "certKey", "sslmethod", "interface", "backlog",
            "extraCertChain", "dhParameters"),
    "unix": ("address", "mode", "backlog", "lockfile"),
    "udp": ("port", "interface"),
}
_EXAMPLES = ("e.g. 'tcp:0', 'tcp:8000', 'tcp:8000:interface=127.0.0.1', 'tcp6:0', 'udp:0' "
             "or 'unix:/tmp/lab.sock'")
_UNIX_MODE = "600"


class ServerSpec(NamedTuple):
    """A parsed server endpoint: its type, port, interface, the string for Twisted, backlog, path."""

    kind: str
    port: int
    interface: str
    text: str
    backlog: int = DEFAULT_BACKLOG
    path: str = ""

    @property
    def transport(self) -> str:
        """``"udp"`` or ``"tcp"`` (stream)."""
        return "udp" if self.kind == "udp" else "tcp"


class ClientSpec(NamedTuple):
    """A parsed client target: ``"tcp"`` or ``"udp"``, host and port."""

    transport: str
    host: str
    port: int


def _tokens(text):
    """``(kind, [positional values], [(key, value)...])`` split by Twisted's own tokenizer."""
    from twisted.internet.endpoints import _OP, _tokenize

    groups, current = [], []
    try:
        for kind, value in _tokenize(text):
            if kind == _OP and value == ":":
                groups.append(current)
                current = []
            elif kind != _OP:
                current.append(value)
    except RuntimeError:  # a backslash with nothing after it
        raise EndpointError(f"{text!r} ends with a lone backslash; {_EXAMPLES}.") from None
    groups.append(current)
    head, rest = groups[0], groups[1:]
    positional = [g[0] for g in rest if len(g) == 1]
    keywords = [(g[0], g[1]) for g in rest if len(g) == 2]
    return head[0].strip().lower(), positional, keywords


def _named(kind, positional, keywords, description):
    """Name the positional values; refuse an option given twice or an extra value."""
    names = _PARAMETERS[kind]
    if len(positional) > len(names):
        raise EndpointError(
            f"{description!r}: {kind} takes at most {len(names)} values by position "
            f"({', '.join(names)}), and {len(positional)} were given; write the others as "
            f"name=value. {_EXAMPLES}.")
    options = dict(zip(names, positional))
    for key, value in keywords:
        if key in options:
            raise EndpointError(
                f"{description!r} gives {key!r} twice (by position or by name); the lab "
                f"refuses ambiguous endpoints. Write each option once, e.g. "
                f"'{kind}:0:interface={_LOOPBACK.get(kind, '127.0.0.1')}'.")
        options[key] = value
    return options


def _escape(value):
    """A value as Twisted's tokenizer reads it back unchanged."""
    return "".join("\\" + ch if ch in ":=\\" else ch for ch in str(value))


def _canonical(kind, options):
    return ":".join([kind] + [f"{_escape(k)}={_escape(v)}" for k, v in options.items()])


def is_loopback(host: object) -> bool:
    """True for 127.0.0.0/8, ::1 and 'localhost'."""
    if not isinstance(host, str):
        return False
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _port(value, description):
    text = str(value).strip()
    try:
        if not (text.isascii() and text.isdigit()):
            raise ValueError(text)
        port = int(text)
    except (TypeError, ValueError):
        raise EndpointError(
            f"{description!r}: the port {value!r} is not a number; {_EXAMPLES}.") from None
    if not 0 <= port <= 65535:
        raise EndpointError(f"{description!r}: port {port} is outside 0-65535; {_EXAMPLES}.")
    return port


def _backlog(value, description):
    text = str(value).strip()
    try:
        if not (text.isascii() and text.isdigit()):
            raise ValueError(text)
        backlog = int(text)
    except (TypeError, ValueError):
        raise EndpointError(
            f"{description!r}: backlog {value!r} is not a number; write e.g. backlog=1024."
        ) from None
    if not 1 <= backlog <= MAX_BACKLOG:
        raise EndpointError(
            f"{description!r}: backlog {backlog} is outside 1-{MAX_BACKLOG}; write e.g. "
            "backlog=1024.")
    return backlog


def escape_host(host: str) -> str:
    """A host as an endpoint-string value (IPv6 colons escaped)."""
    return host.replace(":", "\\:")


def _check_allow_remote(allow_remote: object) -> None:
    if type(allow_remote) is not bool:
        raise TypeError(
            f"allow_remote must be True or False, not {type(allow_remote).__name__} "
            f"{allow_remote!r}; pass allow_remote=True only if other machines may connect.")


def parse_server(description: str | int, allow_remote: bool = False,
                 backlog: int | None = None) -> ServerSpec:
    """Check a server endpoint string; return a :class:`ServerSpec`, on loopback by default.

    ``backlog`` (default :data:`DEFAULT_BACKLOG`) is the listen queue of
    stream endpoints; the endpoint's own ``backlog=`` may say it instead,
    but not both.
    """
    _check_allow_remote(allow_remote)
    if isinstance(description, bool) or not isinstance(description, (int, str)):
        raise EndpointError(
            f"an endpoint is a string or a port number, not {type(description).__name__} "
            f"{description!r}; {_EXAMPLES}.")
    if isinstance(description, int):
        description = f"tcp:{_port(description, str(description))}"
    assert isinstance(description, str)
    if not description.strip():
        raise EndpointError(f"an endpoint must be a non-empty string; {_EXAMPLES}.")
    if "\0" in description:
        raise EndpointError(f"{description!r} contains a NUL character; {_EXAMPLES}.")
    kind, positional, keywords = _tokens(description.strip())
    if kind not in _PARAMETERS:
        return _unchecked(kind, description, allow_remote)
    options = _named(kind, positional, keywords, description)
    backlog = _chosen_backlog(kind, options, backlog, description)
    if kind == "udp":
        return _udp(options, description, allow_remote)
    if kind == "unix":
        return _unix(options, backlog, description, allow_remote)
    return _stream(kind, options, backlog, description, allow_remote)


def _chosen_backlog(kind, options, backlog, description):
    if backlog is not None and (isinstance(backlog, bool) or not isinstance(backlog, int)):
        raise TypeError(f"backlog must be a whole number such as 1024, not {backlog!r}")
    if kind == "udp":
        if backlog is not None or "backlog" in options:
            raise EndpointError(f"{description!r}: UDP has no listen backlog; leave it out.")
        return None
    if "backlog" in options and backlog is not None:
        raise EndpointError(
            f"{description!r} says backlog={options['backlog']} and listen() says "
            f"backlog={backlog}; give it once.")
    chosen = _backlog(options.get("backlog", DEFAULT_BACKLOG if backlog is None else backlog),
                      description)
    options["backlog"] = str(chosen)
    return chosen


def _unchecked(kind, description, allow_remote):
    if allow_remote:
        return ServerSpec(kind, 0, "", description.strip(), 0)
    raise EndpointError(
        f"{description!r}: the lab can tell where endpoint types {', '.join(_PARAMETERS)} "
        f"listen; {kind!r} is not one of them ({_EXAMPLES}). Pass allow_remote=True to use "
        "it anyway.")


def _refuse_remote(description, where):
    raise RemoteNotAllowed(
        f"{description!r} would listen on {where}, so other machines could connect. Pass "
        "allow_remote=True if you mean it, or leave out the interface to listen on "
        "loopback only.")


def _stream(kind, options, backlog, description, allow_remote):
    if "port" not in options:
        raise EndpointError(f"{description!r} names no port; {_EXAMPLES}.")
    port = _port(options["port"], description)
    options["port"] = str(port)
    options.setdefault("interface", _LOOPBACK[kind])
    text = _canonical(kind, options)
    interface = _bound_interface(kind, text, description)
    if not is_loopback(interface) and not allow_remote:
        _refuse_remote(description, repr(interface) if interface.strip() else "every interface")
    return ServerSpec(kind, port, interface, text, backlog)


def _bound_interface(kind, text, description):
    """The interface of the endpoint Twisted builds from ``text`` (read from the object)."""
    from twisted.internet.endpoints import serverFromString

    if kind == "ssl":
        _require_tls()
    try:
        endpoint = serverFromString(None, text)
    except ImportError as error:
        raise EndpointError(f"{description!r} needs {error.name}: {_TLS_HINT}") from None
    except (OSError, ValueError, TypeError, AttributeError) as error:
        raise EndpointError(f"Twisted cannot use {description!r}: {error}. {_EXAMPLES}.") \
            from None
    interface = getattr(endpoint, "_interface", None)
    if not isinstance(interface, str):
        raise EndpointError(
            f"{description!r}: cannot tell which interface Twisted would bind; write "
            "interface= explicitly.")
    return interface


_TLS_HINT = ("TLS endpoints need pyOpenSSL and service_identity; install them in the lab's "
             "environment (pip install 'twisted[tls]'), then restart the kernel.")


def _require_tls():
    import importlib.util

    for module in ("OpenSSL", "service_identity"):
        if importlib.util.find_spec(module) is None:
            raise EndpointError(f"'ssl:' endpoints need the {module} module. {_TLS_HINT}")


def _udp(options, description, allow_remote):
    unknown = set(options) - {"port", "interface"}
    if unknown:
        raise EndpointError(
            f"{description!r}: udp takes port and interface, not {', '.join(sorted(unknown))}; "
            "write e.g. 'udp:0' or 'udp:9999:interface=127.0.0.1'.")
    if "port" not in options:
        raise EndpointError(f"{description!r} names no port; {_EXAMPLES}.")
    port = _port(options["port"], description)
    interface = options.get("interface", _LOOPBACK["udp"])
    if not is_loopback(interface) and not allow_remote:
        _refuse_remote(description, repr(interface) if interface.strip() else "every interface")
    text = f"udp:{port}:interface={escape_host(interface)}"
    return ServerSpec("udp", port, interface, text, 0)


def _unix(options, backlog, description, allow_remote):
    path = options.get("address", "")
    if not path.strip():
        raise EndpointError(f"{description!r} names no socket path; write e.g. "
                            "'unix:/tmp/lab.sock'.")
    if path.startswith("@"):
        if not allow_remote:
            raise RemoteNotAllowed(
                f"{description!r} is an abstract UNIX socket, which every account on this "
                "machine can connect to. Use a file path (its mode is 0600), or pass "
                "allow_remote=True if you mean it.")
        options["address"] = "\0" + path[1:]
    else:
        path = os.path.abspath(os.path.expanduser(path))
        options["address"] = path
    mode = options.setdefault("mode", _UNIX_MODE)
    try:
        bits = int(mode, 8)
    except ValueError:
        raise EndpointError(f"{description!r}: mode {mode!r} is not octal; write e.g. "
                            "mode=600.") from None
    if bits & 0o022 and not allow_remote:
        raise RemoteNotAllowed(
            f"{description!r}: mode {mode} lets other accounts connect to {path}. Leave out "
            "mode= (0600: only you), or pass allow_remote=True if you mean it.")
    if options.setdefault("lockfile", "0") not in ("0", "False", "false"):
        raise EndpointError(
            f"{description!r}: the lab does not write {path}.lock files; leave out lockfile=. "
            "A stale socket file of yours is removed when the listener starts.")
    text = _canonical("unix", options)
    return ServerSpec("unix", 0, "", text, backlog, path)


def check_unix_path(path: str) -> None:
    """Make ``path`` ready for a UNIX listener: its folder exists; a stale socket of ours goes.

    Refuses (with a message about the path) a path that exists and is not a
    socket owned by this account, a live socket, or a folder others may write
    to without the sticky bit (they could replace the socket).
    """
    import socket

    if path.startswith("\0"):
        return
    folder = os.path.dirname(path) or "."
    try:
        info = os.stat(folder)
    except OSError:
        raise EndpointError(f"the folder {folder!r} of socket path {path!r} does not exist; "
                            "create it or choose another path.") from None
    if info.st_mode & stat.S_IWOTH and not info.st_mode & stat.S_ISVTX:
        raise EndpointError(
            f"the folder {folder!r} is writable by every account (and not sticky), so another "
            f"account could replace the socket {path!r}; choose a folder of your own.")
    try:
        found = os.lstat(path)
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(found.st_mode) or found.st_uid != os.geteuid():
        raise EndpointError(
            f"{path!r} already exists and is not a socket of yours; the lab will not replace "
            "it. Choose another path.")
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.connect(path)
    except OSError:  # nothing listens: a socket file left by an earlier run
        os.unlink(path)
    else:
        raise EndpointError(f"something already listens on the socket {path!r}; stop it or "
                            "choose another path.")
    finally:
        probe.close()


def parse_client(description: str | int) -> ClientSpec:
    """Parse ``tcp:HOST:PORT``, ``udp:HOST:PORT``, ``tcp:host=H:port=P`` or a bare port number."""
    if isinstance(description, int) and not isinstance(description, bool):
        return ClientSpec("tcp", "127.0.0.1", _port(description, str(description)))
    if not isinstance(description, str) or ":" not in description:
        raise EndpointError(
            f"cannot connect to {description!r}: give a Listener, a port number, or a string "
            "such as 'tcp:127.0.0.1:8000' or 'udp:127.0.0.1:9999'.")
    kind, args, keywords = _tokens(description.strip())
    if kind not in ("tcp", "udp"):
        raise EndpointError(
            f"{description!r}: the client speaks 'tcp' and 'udp', not {kind!r}; "
            "write e.g. 'tcp:127.0.0.1:8000'.")
    kwargs = dict(keywords)
    host = kwargs.get("host", args[0] if args else None)
    port = kwargs.get("port", args[1] if len(args) > 1 else None)
    if not host or port is None:
        raise EndpointError(
            f"{description!r} needs a host and a port, e.g. '{kind}:127.0.0.1:8000'.")
    return ClientSpec(kind, host, _port(port, description))
