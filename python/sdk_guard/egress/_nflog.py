"""A reader for nfnetlink_log (NFLOG): one message per denied packet.

The nft/iptables rules send each denied packet to an NFLOG group with a queue
threshold of 1 (otherwise the kernel batches up to 100 packets or 1 s).  The
payload's IP header gives the destination, protocol and port; the kernel adds the
uid/gid of the socket's owner.  NFLOG carries no pid/tid.
"""
from __future__ import annotations

import errno
import ipaddress
import os
import socket
import struct
from dataclasses import dataclass

NETLINK_NETFILTER = 12
_SUBSYS_ULOG = 4
_MSG_PACKET = 0
_MSG_CONFIG = 1
_NLM_F_REQUEST = 1
_NLM_F_ACK = 4
_NLMSG_ERROR = 2
_CFG_CMD, _CFG_MODE, _CFG_QTHRESH = 1, 2, 5
_CMD_BIND, _CMD_UNBIND = 1, 2
_COPY_PACKET = 2
_A_MARK, _A_PAYLOAD, _A_UID, _A_GID = 2, 9, 11, 14
_PROTO = {6: "tcp", 17: "udp", 1: "icmp", 58: "ipv6-icmp", 132: "sctp", 136: "udplite",
          262: "mptcp"}


@dataclass(frozen=True)
class Packet:
    family: int
    dst: str
    proto: str
    port: int | None
    mark: int
    uid: int | None
    gid: int | None


def _attr(kind: int, payload: bytes) -> bytes:
    length = 4 + len(payload)
    return struct.pack("=HH", length, kind) + payload + b"\0" * (-length % 4)


class Reader:
    """Binds NFLOG GROUP in the current network namespace (needs CAP_NET_ADMIN)."""

    def __init__(self, group: int) -> None:
        self.group = group
        self.sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_NETFILTER)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        self.sock.bind((0, 0))
        self._seq = 0
        try:
            self._config(_attr(_CFG_CMD, struct.pack("B", _CMD_BIND)))
            self._config(_attr(_CFG_MODE, struct.pack(">IBB", 128, _COPY_PACKET, 0)))
            self._config(_attr(_CFG_QTHRESH, struct.pack(">I", 1)))
        except OSError:
            self.sock.close()
            raise

    def _config(self, attrs: bytes) -> None:
        self._seq += 1
        body = struct.pack(">BBH", socket.AF_UNSPEC, 0, self.group) + attrs
        hdr = struct.pack("=IHHII", 16 + len(body), (_SUBSYS_ULOG << 8) | _MSG_CONFIG,
                          _NLM_F_REQUEST | _NLM_F_ACK, self._seq, 0)
        self.sock.send(hdr + body)
        while True:
            data = self.sock.recv(65536)
            off = 0
            while off + 16 <= len(data):
                length, kind, _flags, seq, _pid = struct.unpack_from("=IHHII", data, off)
                if kind == _NLMSG_ERROR and seq == self._seq:
                    (err,) = struct.unpack_from("=i", data, off + 16)
                    if err:
                        raise OSError(-err, f"NFLOG group {self.group}: {os.strerror(-err)}")
                    return
                off += (length + 3) & ~3

    def fileno(self) -> int:
        return self.sock.fileno()

    def read(self) -> list[Packet]:
        """Blocks for the next datagram; returns the packets in it ([] on ENOBUFS)."""
        try:
            data = self.sock.recv(1 << 16)
        except OSError as exc:
            if exc.errno == errno.ENOBUFS:
                return []
            raise
        return parse(data)

    def close(self) -> None:
        try:
            self._config(_attr(_CFG_CMD, struct.pack("B", _CMD_UNBIND)))
        except OSError:
            pass
        self.sock.close()


def parse(data: bytes) -> list[Packet]:
    out = []
    off = 0
    while off + 20 <= len(data):
        length, kind, _flags, _seq, _pid = struct.unpack_from("=IHHII", data, off)
        if length < 20 or off + length > len(data):
            break
        if kind == (_SUBSYS_ULOG << 8) | _MSG_PACKET:
            family = data[off + 16]
            attrs: dict[int, bytes] = {}
            a = off + 20
            end = off + length
            while a + 4 <= end:
                alen, atype = struct.unpack_from("=HH", data, a)
                if alen < 4:
                    break
                attrs[atype & 0x3FFF] = data[a + 4:a + alen]
                a += (alen + 3) & ~3
            pkt = _packet(family, attrs)
            if pkt is not None:
                out.append(pkt)
        off += (length + 3) & ~3
    return out


def _packet(family: int, attrs: dict[int, bytes]) -> Packet | None:
    payload = attrs.get(_A_PAYLOAD, b"")
    port: int | None = None
    if family == socket.AF_INET and len(payload) >= 20:
        ihl = (payload[0] & 0xF) * 4
        proto = payload[9]
        dst = str(ipaddress.IPv4Address(payload[16:20]))
        l4 = payload[ihl:]
    elif family == socket.AF_INET6 and len(payload) >= 40:
        proto = payload[6]
        dst = str(ipaddress.IPv6Address(payload[24:40]))
        l4 = payload[40:]
    else:
        return None
    if proto in (6, 17, 132, 136) and len(l4) >= 4:
        port = struct.unpack_from(">H", l4, 2)[0]
    def u32(kind: int) -> int | None:
        raw = attrs.get(kind, b"")
        return int(struct.unpack(">I", raw[:4])[0]) if len(raw) >= 4 else None

    return Packet(family, dst, _PROTO.get(proto, str(proto)), port, u32(_A_MARK) or 0,
                  u32(_A_UID), u32(_A_GID))
