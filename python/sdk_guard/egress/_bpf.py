"""The bpf backend: hand-assembled cgroup eBPF programs, loaded with bpf(2).

Five programs are attached to the worker's group (``BPF_F_ALLOW_MULTI``, owned by the
cgroup, so they outlive a crashed supervisor): connect4, connect6, sendmsg4, sendmsg6
(``CGROUP_SOCK_ADDR``: the rule table as compare-and-jump code; connect6/sendmsg6
decide ``::ffff:a.b.c.d`` by the IPv4 rules because connect4 never runs for it) and
sock_create (``CGROUP_SOCK``: refuses raw, ICMP, SCTP, UDP-Lite and MPTCP sockets).
Every denial fails the call with EPERM and writes {pid, tid, destination, port} to a
ring buffer map the supervisor reads.  The programs are built and checked by the C
unit ``ebpf.c`` (ctest: interpreter == reference decision over random rule tables).

Unlike netfilter, cgroup programs apply in every network namespace.
"""
from __future__ import annotations

import ipaddress
import mmap
import os
import socket
import struct
from collections.abc import Sequence
from typing import Any

from .. import _guard
from ._cgroup import Group
from ._nft import BackendError
from ._spec import Rule

_RING_SIZE = 1 << 18
_PROTO_NUM = {"tcp": socket.IPPROTO_TCP, "udp": socket.IPPROTO_UDP}
_PROTO_NAME = {6: "tcp", 17: "udp", 1: "icmp", 58: "ipv6-icmp", 132: "sctp", 136: "udplite",
               262: "mptcp", 255: "raw"}


def _constants() -> dict[str, int]:
    fn = getattr(_guard, "egress_bpf_constants", None)
    if fn is None:
        raise BackendError("this build of sdk_guard._guard has no eBPF support")
    return dict(fn())


def rule_tuples(rules: Sequence[Rule]) -> list[tuple[int, int, int, bytes, int, int]]:
    out: list[tuple[int, int, int, bytes, int, int]] = []
    for r in rules:
        packed = r.net.network_address.packed
        out.append((r.net.version, _PROTO_NUM[r.proto], r.net.prefixlen,
                    packed + b"\0" * (16 - len(packed)), r.lo, r.hi))
    return out


class _Ring:
    """Consumer side of a BPF_MAP_TYPE_RINGBUF."""

    def __init__(self, fd: int, size: int, c: dict[str, int]) -> None:
        page = mmap.PAGESIZE
        self.size = size
        self.page = page
        self.busy = c["RINGBUF_BUSY_BIT"] & 0xFFFFFFFF
        self.discard = c["RINGBUF_DISCARD_BIT"] & 0xFFFFFFFF
        self.hdr = c["RINGBUF_HDR_SZ"]
        self.cons = mmap.mmap(fd, page, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE,
                              offset=0)
        self.prod = mmap.mmap(fd, page + 2 * size, mmap.MAP_SHARED, mmap.PROT_READ,
                              offset=page)

    def read(self) -> list[bytes]:
        out = []
        cpos = struct.unpack_from("=Q", self.cons, 0)[0]
        ppos = struct.unpack_from("=Q", self.prod, 0)[0]
        while cpos < ppos:
            off = self.page + (cpos & (self.size - 1))
            word = struct.unpack_from("=I", self.prod, off)[0]
            if word & self.busy:
                break
            length = word & ~(self.busy | self.discard) & 0xFFFFFFFF
            if not word & self.discard:
                out.append(bytes(self.prod[off + self.hdr:off + self.hdr + length]))
            cpos += (length + self.hdr + 7) & ~7
            struct.pack_into("=Q", self.cons, 0, cpos)
        return out

    def close(self) -> None:
        self.cons.close()
        self.prod.close()


def decode(raw: bytes, addr_offset: int = 24) -> dict[str, Any]:
    pid_tgid, family, proto, port, hook = struct.unpack_from("=QIIII", raw, 0)
    addr = raw[addr_offset:addr_offset + 16]
    ev: dict[str, Any] = {"pid": pid_tgid >> 32, "tid": pid_tgid & 0xFFFFFFFF, "hook": hook}
    if hook == 1:                     # sock_create: port carries the socket type
        ev.update(family=family, dst=None, port=None, sock_type=port,
                  proto=_PROTO_NAME.get(proto, str(proto)))
        return ev
    ip: ipaddress.IPv4Address | ipaddress.IPv6Address
    ip = (ipaddress.IPv4Address(addr[:4]) if family == socket.AF_INET
          else ipaddress.IPv6Address(addr))
    ev.update(family=family, dst=str(ip), port=port, proto=_PROTO_NAME.get(proto, str(proto)))
    return ev


class BpfBackend:
    name = "bpf"
    uses_nflog = False
    scope = "cgroup (every network namespace)"

    def __init__(self) -> None:
        self.table = ""
        self._c: dict[str, int] = {}
        self._cg_fd = -1
        self._rb_fd = -1
        self._ring: _Ring | None = None
        self._progs: list[tuple[int, int, int]] = []      # (fd, attach type, id)
        self._rules: list[tuple[int, int, int, bytes, int, int]] = []
        self._pending: list[dict[str, Any]] = []
        self.denied_calls = 0

    def available(self) -> str | None:
        try:
            self._c = _constants()
        except BackendError as exc:
            return str(exc)
        return None

    def _hooks(self) -> list[tuple[int, int, int, str]]:
        c = self._c
        sa, sk = c["PROG_TYPE_CGROUP_SOCK_ADDR"], c["PROG_TYPE_CGROUP_SOCK"]
        return [(c["KIND_ADDR4"], sa, c["CGROUP_INET4_CONNECT"], "sdkg_connect4"),
                (c["KIND_ADDR6"], sa, c["CGROUP_INET6_CONNECT"], "sdkg_connect6"),
                (c["KIND_ADDR4"], sa, c["CGROUP_UDP4_SENDMSG"], "sdkg_sendmsg4"),
                (c["KIND_ADDR6"], sa, c["CGROUP_UDP6_SENDMSG"], "sdkg_sendmsg6"),
                (c["KIND_SOCK"], sk, c["CGROUP_INET_SOCK_CREATE"], "sdkg_sock_create")]

    def apply(self, group: Group, rules: Sequence[Rule], log_group: int,
              canary_mark: int) -> None:
        self.table = f"bpf:{group.path}"
        self._rules = rule_tuples(rules)
        try:
            self._cg_fd = os.open(group.path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
            self._rb_fd = _guard.egress_bpf_ringbuf(_RING_SIZE)
            self._ring = _Ring(self._rb_fd, _RING_SIZE, self._c)
            self._attach()
        except OSError as exc:
            self.remove()
            what = exc.strerror or str(exc)
            if exc.errno and os.strerror(exc.errno) not in what:
                what += f": {os.strerror(exc.errno)}"
            hint = (" (needs CAP_BPF and CAP_NET_ADMIN, or CAP_SYS_ADMIN)"
                    if exc.errno == 1 else "")
            raise BackendError(f"{what}{hint}") from None

    def _attach(self) -> None:
        for kind, ptype, attach, name in self._hooks():
            prog = _guard.egress_bpf_build(kind, self._rules, self._rb_fd)
            fd = _guard.egress_bpf_load(prog, ptype, attach, name)
            try:
                _guard.egress_bpf_attach(self._cg_fd, fd, attach, self._c["F_ALLOW_MULTI"])
            except OSError:
                os.close(fd)
                raise
            self._progs.append((fd, attach, _guard.egress_bpf_prog_id(fd)))

    def _detach(self) -> None:
        for fd, attach, _id in self._progs:
            try:
                _guard.egress_bpf_detach(self._cg_fd, fd, attach)
            except OSError:
                pass
            os.close(fd)
        self._progs = []

    def reapply(self) -> None:
        self._detach()
        self._attach()

    def intact(self) -> str | None:
        for _fd, attach, pid in self._progs:
            try:
                ids = _guard.egress_bpf_query(self._cg_fd, attach)
            except OSError as exc:
                return f"cannot query the group's programs: {exc.strerror}"
            if pid not in ids:
                return f"program {pid} (attach type {attach}) was detached"
        return None

    def canary_script(self, mark: int) -> str:
        """Run as root inside the group: a raw socket must be refused by sock_create."""
        return ("import errno, socket, sys\n"
                "try:\n"
                "    socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)\n"
                "except PermissionError:\n"
                "    sys.exit(0)\n"
                "sys.exit(3)\n")

    def canary_packets(self, pid: int | None = None) -> int:
        hits = 0
        for ev in self.read_events():
            if ev["hook"] == 1 and ev["pid"] == pid:
                hits += 1
            else:
                self._pending.append(ev)
        self.denied_calls -= hits           # the canary's refusal is not the worker's
        return hits

    def fileno(self) -> int:
        return self._rb_fd

    def read_events(self) -> list[dict[str, Any]]:
        if self._ring is None:
            return []
        out, self._pending = self._pending, []
        offset = self._c.get("EVENT_ADDR_OFFSET", 24)
        fresh = [decode(raw, offset) for raw in self._ring.read()]
        self.denied_calls += len(fresh)
        return out + fresh

    def counters(self) -> dict[str, Any]:
        # Each denial is one ring record the kernel wrote (read so far).
        return {"denied_calls": self.denied_calls, "denied": None}

    def remove(self) -> None:
        self._detach()
        if self._ring is not None:
            self._ring.close()
            self._ring = None
        for fd in (self._rb_fd, self._cg_fd):
            if fd >= 0:
                os.close(fd)
        self._rb_fd = self._cg_fd = -1

    @staticmethod
    def stale() -> list[str]:
        return []                     # programs die with their group (cleanup removes it)
