"""Write captured events as a classic ``.pcap`` file that Wireshark and tshark read.

The wiretap sees application bytes, not packets, so the packets are made up:
Ethernet, IPv4 (or IPv6) and TCP (or UDP) headers around each chunk, with a
three-way handshake when the connection's start was kept, sequence and
acknowledgement numbers taken from each chunk's stream offset, and FINs on
close.  That is what Wireshark's dissectors need to reassemble a stream and
decode it (e.g. memcached's text protocol), and every checksum is right so
that "validate checksums" stays quiet.
"""

import ipaddress
import os
import pathlib
import struct
import tempfile

__all__ = ["write_pcap", "pcap_bytes"]

_SYN, _FIN, _PSH, _ACK = 0x02, 0x01, 0x08, 0x10
_CLIENT_ISN, _SERVER_ISN = 1_000, 500_000
_MSS = 1460
_CLIENT_MAC, _SERVER_MAC = bytes.fromhex("020000000001"), bytes.fromhex("020000000002")


def _checksum(data):
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


class _Path:
    """Addresses of one direction of a connection, and how to wrap a segment in IP and Ethernet."""

    def __init__(self, src, dst, src_mac, dst_mac):
        self.src_ip, self.src_port = ipaddress.ip_address(src[0]), int(src[1])
        self.dst_ip, self.dst_port = ipaddress.ip_address(dst[0]), int(dst[1])
        self.macs = dst_mac + src_mac

    def _pseudo(self, protocol, length):
        addresses = self.src_ip.packed + self.dst_ip.packed
        if self.src_ip.version == 4:
            return addresses + struct.pack("!BBH", 0, protocol, length)
        return addresses + struct.pack("!I3xB", length, protocol)

    def _ip(self, protocol, segment):
        if self.src_ip.version == 4:
            header = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(segment), 0, 0x4000, 64,
                                 protocol, 0, self.src_ip.packed, self.dst_ip.packed)
            header = header[:10] + struct.pack("!H", _checksum(header)) + header[12:]
            return self.macs + b"\x08\x00" + header + segment
        header = struct.pack("!IHBB16s16s", 6 << 28, len(segment), protocol, 64,
                             self.src_ip.packed, self.dst_ip.packed)
        return self.macs + b"\x86\xdd" + header + segment

    def tcp(self, seq, ack, flags, payload=b""):
        """An Ethernet frame carrying one TCP segment."""
        header = struct.pack("!HHIIBBHHH", self.src_port, self.dst_port, seq & 0xFFFFFFFF,
                             ack & 0xFFFFFFFF, 5 << 4, flags, 65535, 0, 0)
        checksum = _checksum(self._pseudo(6, len(header) + len(payload)) + header + payload)
        header = header[:16] + struct.pack("!H", checksum) + header[18:]
        return self._ip(6, header + payload)

    def udp(self, payload):
        """An Ethernet frame carrying one UDP datagram."""
        length = 8 + len(payload)
        header = struct.pack("!HHHH", self.src_port, self.dst_port, length, 0)
        checksum = _checksum(self._pseudo(17, length) + header + payload) or 0xFFFF
        return self._ip(17, header[:6] + struct.pack("!H", checksum) + payload)


class _Stream:
    """One captured connection: turns its events into frames."""

    def __init__(self, conn):
        self.transport = conn.transport
        self.up = _Path(conn.peer, conn.local, _CLIENT_MAC, _SERVER_MAC)  # client -> server
        self.down = _Path(conn.local, conn.peer, _SERVER_MAC, _CLIENT_MAC)
        self.client_next = _CLIENT_ISN + 1
        self.server_next = _SERVER_ISN + 1

    def frames(self, event):
        """The frames for one event, in order."""
        if self.transport == "udp":
            if event.kind in ("in", "out"):
                yield (self.up if event.kind == "in" else self.down).udp(event.data)
            return
        yield from getattr(self, "_" + event.kind)(event)

    def _connect(self, event):
        yield self.up.tcp(_CLIENT_ISN, 0, _SYN)
        yield self.down.tcp(_SERVER_ISN, _CLIENT_ISN + 1, _SYN | _ACK)
        yield self.up.tcp(_CLIENT_ISN + 1, _SERVER_ISN + 1, _ACK)

    def _in(self, event):
        start = _CLIENT_ISN + 1 + event.offset
        for at in range(0, len(event.data), _MSS):
            yield self.up.tcp(start + at, self.server_next, _PSH | _ACK,
                              event.data[at:at + _MSS])
        self.client_next = max(self.client_next, start + len(event.data))

    def _out(self, event):
        start = _SERVER_ISN + 1 + event.offset
        for at in range(0, len(event.data), _MSS):
            yield self.down.tcp(start + at, self.client_next, _PSH | _ACK,
                                event.data[at:at + _MSS])
        self.server_next = max(self.server_next, start + len(event.data))

    def _close(self, event):
        yield self.up.tcp(self.client_next, self.server_next, _FIN | _ACK)
        yield self.down.tcp(self.server_next, self.client_next + 1, _FIN | _ACK)
        yield self.up.tcp(self.client_next + 1, self.server_next + 1, _ACK)


def _record(timestamp, frame):
    seconds = int(timestamp)
    micros = int(round((timestamp - seconds) * 1_000_000))
    return struct.pack("<IIII", seconds, min(micros, 999_999), len(frame), len(frame)) + frame


def _streams(capture):
    streams = {}
    for conn in capture.connections():
        try:
            streams[conn.id] = _Stream(conn)
        except ValueError:  # a UNIX socket has no IP address to put in a header
            continue
    return streams


def pcap_bytes(capture, connection=None):
    """The capture (or one connection of it) as the bytes of a pcap file."""
    header = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)  # 1: Ethernet
    streams = _streams(capture)
    parts = [header]
    for event in capture.events(connection):
        stream = streams.get(event.connection)
        if stream is not None:
            parts.extend(_record(event.time, frame) for frame in stream.frames(event))
    return b"".join(parts)


def write_pcap(capture, path, connection=None, overwrite=False):
    """Write :func:`pcap_bytes` to ``path``; return the path.

    It never follows a symbolic link, and it never replaces an existing file
    unless ``overwrite=True`` (then the old file is replaced in one rename,
    so a link at ``path`` is replaced, not written through).
    """
    if not isinstance(path, (str, os.PathLike)) or not os.fspath(path):
        raise TypeError(f"write_pcap() needs a file path such as 'traffic.pcap', not {path!r}")
    if type(overwrite) is not bool:
        raise TypeError(f"overwrite must be True or False, not {overwrite!r}")
    path = pathlib.Path(path)
    data = pcap_bytes(capture, connection)
    if not overwrite:
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
        except FileExistsError:
            raise FileExistsError(
                f"{str(path)!r} already exists (or is a link); choose another name, or pass "
                "overwrite=True to replace it.") from None
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        return path
    if path.is_dir():
        raise IsADirectoryError(f"{str(path)!r} is a folder; give a file name inside it.")
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise
    return path
