"""Endpoint strings: parse, check for loopback, and fill in the lab's defaults.

Twisted's ``serverFromString`` listens on every interface unless told
otherwise; the lab listens on 127.0.0.1 unless asked, so an endpoint without
``interface=`` gets one, and a non-loopback interface needs ``allow_remote``.
UDP is not a Twisted endpoint type, so ``udp:PORT[:interface=...]`` is parsed
here too.
"""

import ipaddress
from typing import NamedTuple

from lab.model._errors import EndpointError, RemoteNotAllowed

__all__ = ["ServerSpec", "ClientSpec", "parse_server", "parse_client"]

_NETWORK_TYPES = {"tcp": "127.0.0.1", "tcp6": "::1", "ssl": "127.0.0.1", "udp": "127.0.0.1"}
_LOCAL_TYPES = ("unix",)
_EXAMPLES = "e.g. 'tcp:0', 'tcp:8000', 'tcp:8000:interface=127.0.0.1', 'udp:0' or 'unix:/tmp/sock'"


class ServerSpec(NamedTuple):
    """A parsed server endpoint: its type, port, interface and the string to pass to Twisted."""

    kind: str
    port: int
    interface: str
    text: str

    @property
    def transport(self) -> str:
        """``"udp"`` or ``"tcp"`` (stream)."""
        return "udp" if self.kind == "udp" else "tcp"


class ClientSpec(NamedTuple):
    """A parsed client target: ``"tcp"`` or ``"udp"``, host and port."""

    transport: str
    host: str
    port: int


def split_description(text):
    """Split ``a:b\\:c:k=v`` on unescaped colons into positional args and keywords."""
    parts, current, chars = [], [], iter(text)
    for char in chars:
        if char == "\\":
            current.append(next(chars, ""))
        elif char == ":":
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    args = [p for p in parts[1:] if "=" not in p]
    kwargs = dict(p.split("=", 1) for p in parts[1:] if "=" in p)
    return parts[0].strip().lower(), args, kwargs


def is_loopback(host):
    """True for 127.0.0.0/8, ::1 and 'localhost'."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _port(value, description):
    try:
        port = int(value)
    except (TypeError, ValueError):
        raise EndpointError(
            f"{description!r}: the port {value!r} is not a number; {_EXAMPLES}.") from None
    if not 0 <= port <= 65535:
        raise EndpointError(f"{description!r}: port {port} is outside 0-65535; {_EXAMPLES}.")
    return port


def escape_host(host):
    """A host as an endpoint-string value (IPv6 colons escaped)."""
    return host.replace(":", "\\:")


def parse_server(description: str, allow_remote: bool = False) -> ServerSpec:
    """Check a server endpoint string; return a :class:`ServerSpec`, on loopback by default."""
    if isinstance(description, int):
        description = f"tcp:{description}"
    if not isinstance(description, str) or not description.strip():
        raise EndpointError(
            f"an endpoint must be a non-empty string, not {description!r}; {_EXAMPLES}.")
    kind, args, kwargs = split_description(description.strip())
    if kind in _LOCAL_TYPES:
        return ServerSpec(kind, 0, "", description)
    if kind not in _NETWORK_TYPES:
        if allow_remote:
            return ServerSpec(kind, 0, "", description)
        raise EndpointError(
            f"{description!r}: the lab checks endpoint types {', '.join(_NETWORK_TYPES)} and "
            f"unix for loopback; {kind!r} is not one of them ({_EXAMPLES}). "
            "Pass allow_remote=True to use it anyway.")
    if not args and "port" not in kwargs:
        raise EndpointError(f"{description!r} names no port; {_EXAMPLES}.")
    port = _port(kwargs.pop("port", args[0] if args else None), description)
    interface = kwargs.pop("interface", _NETWORK_TYPES[kind])
    if not is_loopback(interface) and not allow_remote:
        raise RemoteNotAllowed(
            f"{description!r} would listen on {interface or 'every interface'}, so other "
            "machines could connect. Pass allow_remote=True if you mean it, or leave out "
            "interface= to listen on 127.0.0.1 only.")
    extra = "".join(f":{k}={v}" for k, v in kwargs.items())
    text = f"{kind}:{port}:interface={escape_host(interface)}{extra}"
    return ServerSpec(kind, port, interface, text)


def parse_client(description: str | int) -> ClientSpec:
    """Parse ``tcp:HOST:PORT``, ``udp:HOST:PORT``, ``tcp:host=H:port=P`` or a bare port number."""
    if isinstance(description, int):
        return ClientSpec("tcp", "127.0.0.1", _port(description, str(description)))
    if not isinstance(description, str) or ":" not in description:
        raise EndpointError(
            f"cannot connect to {description!r}: give a Listener, a port number, or a string "
            "such as 'tcp:127.0.0.1:8000' or 'udp:127.0.0.1:9999'.")
    kind, args, kwargs = split_description(description.strip())
    if kind not in ("tcp", "udp"):
        raise EndpointError(
            f"{description!r}: the client speaks 'tcp' and 'udp', not {kind!r}; "
            "write e.g. 'tcp:127.0.0.1:8000'.")
    host = kwargs.get("host", args[0] if args else None)
    port = kwargs.get("port", args[1] if len(args) > 1 else None)
    if not host or port is None:
        raise EndpointError(
            f"{description!r} needs a host and a port, e.g. '{kind}:127.0.0.1:8000'.")
    return ClientSpec(kind, host, _port(port, description))
