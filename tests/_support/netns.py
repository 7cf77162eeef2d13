"""Runs a supervisor script as root in a network namespace the test creates.

``unshare -n`` gives a fresh netns (loopback only, its own nftables ruleset) but keeps
the mount namespace, so the cgroup2 tree stays visible (``ip netns exec`` would remount
/sys and hide it).  The prelude brings lo up with the test addresses, starts TCP
servers and tiny DNS responders; no traffic ever leaves the namespace.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
PYPATH = str(ROOT / "python")

PRELUDE = r'''
import errno, json, os, socket, struct, subprocess, sys, textwrap, threading, time
sys.path.insert(0, PYPATH)

def sh(cmd):
    subprocess.run(cmd, shell=True, check=True)

sh("ip link set lo up"
   " && ip addr add 10.200.0.2/32 dev lo && ip addr add 10.200.0.3/32 dev lo"
   " && ip addr add 10.200.0.53/32 dev lo && ip addr add 10.200.0.54/32 dev lo"
   " && ip -6 addr add fd20::2/128 dev lo nodad && ip -6 addr add fd20::3/128 dev lo nodad")

def tcp_server(port):
    s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    s.bind(("::", port)); s.listen(128)
    def loop():
        while True:
            c, _ = s.accept(); c.close()
    threading.Thread(target=loop, daemon=True).start()
    return s

def dns_server(addr, answer="10.200.0.99"):
    """Answers every A query with ANSWER (enough to prove the query got through)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((addr, 53))
    def loop():
        while True:
            q, peer = s.recvfrom(512)
            hdr = q[:2] + b"\x81\x80" + q[4:6] + b"\x00\x01\x00\x00\x00\x00"
            ans = b"\xc0\x0c\x00\x01\x00\x01\x00\x00\x00\x3c\x00\x04" + socket.inet_aton(answer)
            s.sendto(hdr + q[12:] + ans, peer)
    threading.Thread(target=loop, daemon=True).start()
    return s

def dns_query(server, name="svc.test", timeout=1.0):
    q = b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00"
    q += b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\x00\x00\x01\x00\x01"
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.settimeout(timeout)
    try:
        u.sendto(q, (server, 53))
        r = u.recv(512)
        return socket.inet_ntoa(r[-4:])
    except OSError as e:
        return errno.errorcode.get(e.errno, "timeout") if e.errno else "timeout"
    finally:
        u.close()

def attempt(family, addr, timeout=2.0, proto=0):
    """connect(); returns [outcome, milliseconds]."""
    t = time.perf_counter()
    s = None
    try:
        s = socket.socket(family, socket.SOCK_STREAM, proto); s.settimeout(timeout)
        s.connect(addr); r = "ok"
    except OSError as e:
        r = errno.errorcode.get(e.errno, "timeout") if e.errno else "timeout"
    finally:
        if s is not None:
            s.close()
    return [r, round((time.perf_counter() - t) * 1000, 3)]

def udp_send(family, addr, connect_first=False):
    u = socket.socket(family, socket.SOCK_DGRAM)
    try:
        if connect_first:
            u.connect(addr); u.send(b"x")
        else:
            u.sendto(b"x", addr)
        return "sent"
    except OSError as e:
        return errno.errorcode.get(e.errno, str(e))
    finally:
        u.close()

def groups():
    p = "/sys/fs/cgroup/unified/sdk_guard"
    p = p if os.path.isdir(p) else "/sys/fs/cgroup/sdk_guard"
    try:
        return sorted(n for n in os.listdir(p) if os.path.isdir(os.path.join(p, n))
                      and n.startswith(str(os.getpid()) + "-"))
    except FileNotFoundError:
        return []

def ruleset():
    return subprocess.run(["nft", "list", "ruleset"], capture_output=True, text=True).stdout

from sdk_guard import audit, egress
SINK = audit.add_sink(audit.MemorySink())

def egress_records(capability="net.connect"):
    audit.flush()
    return [r for r in SINK.records if r["layer"] == "egress" and r["capability"] == capability]

# The worker runs as nobody: it needs an interpreter outside root's home.
WORKER_PY = "/usr/bin/python3" if os.access("/usr/bin/python3", os.X_OK) else sys.executable

OUT = {}
'''


def need_root_netns() -> None:
    if os.geteuid() != 0:
        pytest.skip("kernel egress tests need root (they create network namespaces, "
                    "cgroups and netfilter rules)")
    if not shutil.which("unshare") or not shutil.which("ip"):
        pytest.skip("unshare/ip (util-linux, iproute2) not installed")


def need_tool(tool: str) -> None:
    if not shutil.which(tool):
        pytest.skip(f"{tool} not installed (scripts/install-deps installs it)")


def run_netns(body: str, timeout: float = 60, preexec: str = "") -> dict[str, Any]:
    """Runs PRELUDE + BODY as root in a new network namespace; returns OUT."""
    need_root_netns()
    script = (f"PYPATH = {PYPATH!r}\n" + PRELUDE + textwrap.dedent(body)
              + "\nprint('@@OUT@@' + json.dumps(OUT), flush=True)\nos._exit(0)\n")
    res = subprocess.run(["unshare", "-n", sys.executable, "-c", script],
                         capture_output=True, text=True, timeout=timeout, check=False)
    for line in res.stdout.splitlines():
        if line.startswith("@@OUT@@"):
            out: dict[str, Any] = json.loads(line[7:])
            out["_stderr"] = res.stderr
            return out
    raise AssertionError(f"netns script failed (rc {res.returncode}):\n"
                         f"stdout:\n{res.stdout[-3000:]}\nstderr:\n{res.stderr[-5000:]}")
