"""Who is on the other end of a local connection: the peer's uid, from the kernel's socket tables.

On a shared host (a classroom's JupyterHub) every student's listeners sit on
the same loopback.  A loopback connection has both of its sockets in this
host's kernel, and the kernel records which uid created each socket, so the
listener can ask whose process connected:

* ``sock_diag`` (netlink, what ``ss`` uses) answers one exact lookup by the
  connection's four addresses: cheap whatever the number of sockets;
* ``/proc/net/tcp`` and ``/proc/net/tcp6`` list every socket with its uid:
  the fallback where netlink is not allowed, and the only way for UDP
  (``/proc/net/udp``, ``udp6``), whose sender is found by the address it
  is bound to.

Both are Linux-only.  Elsewhere :func:`uid_lookup_available` says why not,
and the listener policy (``lab.model._privacy``) turns that into a clear error.
Standard library only; nothing here touches the reactor.
"""

import errno
import ipaddress
import os
import socket
import struct
import sys

__all__ = ["PeerLookupUnavailable", "uid_lookup_available", "stream_peer_uid",
           "datagram_peer_uid", "proc_stream_peer_uid"]

_NETLINK_SOCK_DIAG = 4
_SOCK_DIAG_BY_FAMILY = 20
_NLM_F_REQUEST = 1
_NLMSG_ERROR = 2
_NO_COOKIE = 0xFFFFFFFF
_HEADER = struct.Struct("=IHHII")              # nlmsghdr
_REQUEST = struct.Struct("=BBBBI")             # inet_diag_req_v2 up to the socket id
_SOCKET_ID = struct.Struct(">HH16s16sIII")     # inet_diag_sockid (ports and addresses big-endian)
_MESSAGE = struct.Struct("=BBBB")              # inet_diag_msg up to the socket id
_AFTER_ID = struct.Struct("=IIIII")            # expires, rqueue, wqueue, uid, inode


class PeerLookupUnavailable(OSError):
    """This host cannot tell a local peer's uid (not Linux, or no socket tables)."""


def uid_lookup_available(platform: "str | None" = None) -> "str | None":
    """None if peer uids can be looked up here, else a sentence saying why not."""
    platform = platform or sys.platform
    if not platform.startswith("linux"):
        return (f"this host runs {platform}, not Linux: only Linux's socket tables "
                "(/proc/net/tcp, sock_diag) tell which user a loopback peer runs as")
    if not os.path.exists("/proc/net/tcp"):
        return "/proc/net/tcp is missing (is /proc mounted?), so peer uids cannot be read"
    return None


def _family_and_packed(host):
    """``(AF_INET or AF_INET6, 16 bytes)`` of an address; v4-mapped v6 becomes v4."""
    address = ipaddress.ip_address(str(host).split("%")[0].strip("[]"))
    if address.version == 6 and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if address.version == 4:
        return socket.AF_INET, address.packed + bytes(12)
    return socket.AF_INET6, address.packed


def _sock_diag_uid(own, other, protocol=socket.IPPROTO_TCP):
    """uid of the socket whose local address is ``own`` and remote ``other``, or None.

    ``own``/``other`` are ``(host, port)``.  One exact sock_diag request; raises
    OSError if netlink itself is refused (then the caller reads /proc instead).
    """
    family, own_packed = _family_and_packed(own[0])
    other_family, other_packed = _family_and_packed(other[0])
    if other_family != family:
        return None
    socket_id = _SOCKET_ID.pack(own[1], other[1], own_packed, other_packed, 0,
                                _NO_COOKIE, _NO_COOKIE)
    body = _REQUEST.pack(family, protocol, 0, 0, 0xFFFFFFFF) + socket_id
    message = _HEADER.pack(_HEADER.size + len(body), _SOCK_DIAG_BY_FAMILY, _NLM_F_REQUEST,
                           1, 0) + body
    with socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, _NETLINK_SOCK_DIAG) as sock:
        sock.settimeout(1.0)
        sock.sendto(message, (0, 0))
        reply = sock.recv(8192)
    length, kind, _, _, _ = _HEADER.unpack_from(reply)
    if kind == _NLMSG_ERROR:
        (code,) = struct.unpack_from("=i", reply, _HEADER.size)
        if code in (-errno.ENOENT, 0):
            return None
        raise OSError(-code, os.strerror(-code))
    offset = _HEADER.size + _MESSAGE.size
    sport, dport, src, dst, _, _, _ = _SOCKET_ID.unpack_from(reply, offset)
    if (sport, dport) != (own[1], other[1]) or src != own_packed:
        return None  # not the socket asked for
    uid = _AFTER_ID.unpack_from(reply, offset + _SOCKET_ID.size)[3]
    return uid


def _proc_address(text):
    """``(ip text, port)`` from /proc/net's ``HEX:PORT`` (addresses in host byte order)."""
    address, port = text.split(":")
    raw = bytes.fromhex(address)
    words = struct.unpack(f"<{len(raw) // 4}I", raw) if sys.byteorder == "little" else \
        struct.unpack(f">{len(raw) // 4}I", raw)
    packed = struct.pack(f">{len(words)}I", *words)
    ip = ipaddress.ip_address(packed)
    if ip.version == 6 and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return str(ip), int(port, 16)


def _proc_rows(kind):
    """``(local, remote, uid)`` for every socket in /proc/net/KIND and KIND6."""
    for name in (kind, kind + "6"):
        try:
            with open(f"/proc/net/{name}") as table:
                next(table, None)
                for line in table:
                    fields = line.split()
                    if len(fields) >= 8:
                        yield _proc_address(fields[1]), _proc_address(fields[2]), int(fields[7])
        except FileNotFoundError:
            continue


def _normal(address):
    host, port = address
    ip = ipaddress.ip_address(str(host).split("%")[0].strip("[]"))
    if ip.version == 6 and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return str(ip), int(port)


def proc_stream_peer_uid(peer: "tuple[str, int]", local: "tuple[str, int]") -> "int | None":
    """uid of the local TCP socket at ``peer`` connected to ``local``, from /proc (None if absent).

    ``local`` may have a wildcard host (a listener on 0.0.0.0): then any
    remote host on the right port matches.
    """
    peer = _normal(peer)
    local_host, local_port = _normal(local)
    wildcard = ipaddress.ip_address(local_host).is_unspecified
    for own, remote, uid in _proc_rows("tcp"):
        if own == peer and remote[1] == local_port and (wildcard or remote[0] == local_host):
            return uid
    return None


def stream_peer_uid(peer: "tuple[str, int]", local: "tuple[str, int]") -> "int | None":
    """The uid of the process socket that opened a TCP connection from ``peer`` to ``local``.

    None when no socket of this host has that address (a remote host, or a
    peer that already closed).  Raises :class:`PeerLookupUnavailable` off Linux.
    """
    why = uid_lookup_available()
    if why:
        raise PeerLookupUnavailable(why)
    if not ipaddress.ip_address(_normal(local)[0]).is_unspecified:
        try:
            uid = _sock_diag_uid(_normal(peer), _normal(local))
            if uid is not None:
                return uid
        except OSError:
            pass  # netlink refused here: the tables in /proc say the same, slower
    return proc_stream_peer_uid(peer, local)


def datagram_peer_uid(peer: "tuple[str, int]") -> "int | None":
    """The uid of the local UDP socket bound to ``peer`` (the sender's address), or None.

    UDP has no connection: the sender is whichever socket of this host is
    bound to the datagram's source address (or to the wildcard on its port).
    A sender that closed its socket, or one on another host, is not found.
    """
    why = uid_lookup_available()
    if why:
        raise PeerLookupUnavailable(why)
    host, port = _normal(peer)
    wildcard = None
    for own, _, uid in _proc_rows("udp"):
        if own[1] != port:
            continue
        if own[0] == host:
            return uid
        if ipaddress.ip_address(own[0]).is_unspecified:
            wildcard = uid
    return wildcard
