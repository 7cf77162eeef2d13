"""Kernel egress costs, side by side in one run (ratios, never timed assertions).

Runs as root in a network namespace it creates (``unshare -n``; only loopback
addresses inside it are contacted).  A worker program times, inside its group:
  connect   loopback TCP connect()+close() to an allowed 10.200.0.2:8080
  sendto    UDP sendto() of 1 byte to an allowed 10.200.0.2:9999
per backend (nft, iptables-nft, bpf) with 20 and 200 rules (the allowed one last, so
linear matchers pay for every rule), against the same program with no rules, in
interleaved rounds; medians.  Also: rule apply latency (group + rules + canary).
Goals (DESIGN.md): connect <= 1.05x (bpf), <= 1.12x (nft) for a worker that does not
listen.

Usage: sudo python bench/bench_egress.py [--rounds 40] [--n 200] [--quick] [--json]
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

WORKER = r'''
import json, os, socket, statistics, struct, sys, time
group_procs, base_procs, batches, m = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
addr = ("10.200.0.2", 8080)
linger = struct.pack("ii", 1, 0)       # RST on close: no TIME_WAIT pile-up
def join(procs):
    with open(procs, "w") as f:
        f.write("0")
def connect_batch():
    t = time.thread_time_ns()
    for _ in range(m):
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger)
        s.connect(addr)
        s.close()
    return (time.thread_time_ns() - t) / m
def sendto_batch(u):
    t = time.thread_time_ns()
    for _ in range(m):
        u.sendto(b"x", ("10.200.0.2", 9999))
    return (time.thread_time_ns() - t) / m
# A socket belongs to the cgroup of the task that created it: one UDP socket per side.
udp = {}
for side, procs in (("base", base_procs), ("group", group_procs)):
    join(procs)
    udp[side] = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
res = {"connect": {"base": [], "group": []}, "sendto": {"base": [], "group": []}}
for i in range(batches + 2):
    for side, procs in (("base", base_procs), ("group", group_procs)):
        join(procs)
        c, u = connect_batch(), sendto_batch(udp[side])
        if i >= 2:                       # two warm-up batches
            res["connect"][side].append(c)
            res["sendto"][side].append(u)
join(group_procs)
print(json.dumps(res))
'''

SUPERVISOR = r'''
import json, os, socket, statistics, subprocess, sys, threading, time
sys.path.insert(0, ROOT + "/python")
subprocess.run("ip link set lo up && ip addr add 10.200.0.2/32 dev lo", shell=True, check=True)
# The peers run in their own processes so the supervisor's threads never compete with
# them: a TCP acceptor and a UDP sink whose buffer is small (datagrams are dropped, not
# queued; the sender's cost is what is measured).
SERVER = """
import socket, sys
srv = socket.socket(); srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("10.200.0.2", 8080)); srv.listen(4096)
sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); sink.bind(("10.200.0.2", 9999))
print("ready", flush=True)
while True:
    c, _ = srv.accept(); c.close()
"""
server = subprocess.Popen([sys.executable, "-S", "-c", SERVER], stdout=subprocess.PIPE)
server.stdout.readline()
from sdk_guard import egress

def rules(k):
    """K rules (each TCP and UDP), the two the worker uses last."""
    filler = [f"10.201.{i // 250}.{i % 250 + 1}:{1000 + i}" for i in range(k - 2)]
    return {"connect": filler + ["10.200.0.2:8080", "10.200.0.2:9999"]}

BASE_PROCS = os.path.join(egress._cgroup.mount_point(), "cgroup.procs")

def measure(backend, k):
    if backend is None:
        grp = egress._cgroup.Group(egress._cgroup.mount_point(), egress._cgroup.new_id())
        grp.create()
        rep = None
        procs = grp.procs
    else:
        grp = None
        holder = egress.Worker(spec={**rules(k), "backend": backend},
                               argv=["sleep", "600"], user=None, no_new_privs=False)
        rep = holder.start().as_dict()
        assert rep["egress"] == backend, rep["backends"]
        procs = rep["cgroup"] + "/cgroup.procs"
    out = subprocess.run([sys.executable, "-S", "-c", WORKER, procs, BASE_PROCS,
                          str(BATCHES), str(M)], capture_output=True, text=True)
    if out.returncode:
        raise SystemExit(out.stderr)
    res = json.loads(out.stdout)
    if grp is not None:
        grp.kill(); grp.remove()
    else:
        holder.close()
    return res, rep

out = []
for backend, k in [(None, 0)] + [(b, k) for b in BACKENDS for k in (20, 200)]:
    res, rep = measure(backend, k)
    row = {"backend": backend or "none", "rules": k}
    for key in ("connect", "sendto"):
        b, g = res[key]["base"], res[key]["group"]
        row[key + "_ns"] = round(statistics.median(g))
        row[key + "_ratio"] = round(statistics.median(x / y for x, y in zip(g, b)), 3)
    if rep:
        row["apply_ms"] = round(rep["apply_seconds"] * 1000, 1)
        row["canary_ms"] = round(rep["self_test"]["seconds"] * 1000, 1)
    out.append(row)
server.kill()
print("@@" + json.dumps(out))
'''


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=40, help="batches per side")
    ap.add_argument("--n", type=int, default=200, help="operations per batch")
    ap.add_argument("--quick", action="store_true", help="10 batches of 100")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("bench_egress needs root (network namespace, cgroups, netfilter, bpf)")
        return 0
    rounds, n = (10, 100) if args.quick else (args.rounds, args.n)
    backends = [b for b, tool in (("nft", "nft"), ("iptables", "iptables"), ("bpf", None))
                if tool is None or shutil.which(tool)]
    script = (f"ROOT = {str(ROOT)!r}\nM = {n}\nBATCHES = {rounds}\nBACKENDS = {backends!r}\n"
              f"WORKER = {WORKER!r}\n" + SUPERVISOR)
    res = subprocess.run(["unshare", "-n", sys.executable, "-c", script], capture_output=True,
                         text=True, check=False)
    line = next((x for x in res.stdout.splitlines() if x.startswith("@@")), None)
    if line is None:
        print(res.stdout[-2000:], res.stderr[-4000:], file=sys.stderr)
        return 1
    rows = json.loads(line[2:])
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print(f"kernel egress: {rounds} batches x {n} ops per side, alternating in one process; "
          "ratio = median(group / root group)")
    print(f"{'backend':10} {'rules':>5} {'connect ns':>11} {'ratio':>6} {'sendto ns':>10} "
          f"{'ratio':>6} {'apply ms':>9} {'canary ms':>9}")
    for r in rows:
        print(f"{r['backend']:10} {r['rules']:>5} {r['connect_ns']:>11} "
              f"{r['connect_ratio']:>6.3f} {r['sendto_ns']:>10} {r['sendto_ratio']:>6.3f} "
              f"{r.get('apply_ms', ''):>9} {r.get('canary_ms', ''):>9}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
