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

Usage: sudo python bench/bench_egress.py [--rounds 5] [--n 3000] [--quick] [--json]
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
import json, socket, struct, sys, time
n = int(sys.argv[1])
addr = ("10.200.0.2", 8080)
linger = struct.pack("ii", 1, 0)       # RST on close: no TIME_WAIT pile-up
def connect_loop():
    t = time.perf_counter_ns()
    for _ in range(n):
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger)
        s.connect(addr)
        s.close()
    return (time.perf_counter_ns() - t) / n
def sendto_loop():
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    t = time.perf_counter_ns()
    for _ in range(n):
        u.sendto(b"x", ("10.200.0.2", 9999))
    return (time.perf_counter_ns() - t) / n
connect_loop(); sendto_loop()      # warm up
print(json.dumps({"connect": connect_loop(), "sendto": sendto_loop()}))
'''

SUPERVISOR = r'''
import json, os, socket, statistics, subprocess, sys, threading, time
sys.path.insert(0, ROOT + "/python")
subprocess.run("ip link set lo up && ip addr add 10.200.0.2/32 dev lo", shell=True, check=True)
srv = socket.socket(); srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("10.200.0.2", 8080)); srv.listen(4096)
def accept():
    while True:
        c, _ = srv.accept(); c.close()
threading.Thread(target=accept, daemon=True).start()
sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); sink.bind(("10.200.0.2", 9999))
def drain():
    while True:
        sink.recv(64)
threading.Thread(target=drain, daemon=True).start()
from sdk_guard import egress

def rules(k):
    filler = [f"10.201.{i // 250}.{i % 250 + 1}:{1000 + i}" for i in range(k - 1)]
    return {"connect": filler + ["10.200.0.2:8080", "10.200.0.2:9999"][: 1 if k else 0]
            + ["10.200.0.2:9999"]}

def run(backend, k):
    argv = [sys.executable, "-S", "-c", WORKER, str(N)]
    if backend is None:
        out = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
        return json.loads(out), None
    w = egress.Worker(spec={**rules(k), "backend": backend}, argv=argv, user=None,
                      stdout=subprocess.PIPE)
    rep = w.start().as_dict()
    assert rep["egress"] == backend, rep["backends"]
    out = w._proc.stdout.read()
    w.wait(60)
    return json.loads(out), rep

configs = [(None, 0)] + [(b, k) for b in BACKENDS for k in (20, 200)]
samples = {c: {"connect": [], "sendto": []} for c in configs}
apply = {c: [] for c in configs}
for _ in range(ROUNDS):
    for c in configs:
        res, rep = run(*c)
        for key in ("connect", "sendto"):
            samples[c][key].append(res[key])
        if rep:
            apply[c].append((rep["apply_seconds"], rep["self_test"]["seconds"]))
out = []
base = {k: statistics.median(samples[(None, 0)][k]) for k in ("connect", "sendto")}
for c in configs:
    row = {"backend": c[0] or "none", "rules": c[1]}
    for key in ("connect", "sendto"):
        med = statistics.median(samples[c][key])
        row[key + "_ns"] = round(med)
        row[key + "_ratio"] = round(med / base[key], 3)
    if apply[c]:
        row["apply_ms"] = round(statistics.median(a for a, _ in apply[c]) * 1000, 1)
        row["canary_ms"] = round(statistics.median(s for _, s in apply[c]) * 1000, 1)
    out.append(row)
print("@@" + json.dumps(out))
'''


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--n", type=int, default=3000, help="operations per sample")
    ap.add_argument("--quick", action="store_true", help="2 rounds of 1000")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("bench_egress needs root (network namespace, cgroups, netfilter, bpf)")
        return 0
    rounds, n = (2, 1000) if args.quick else (args.rounds, args.n)
    backends = [b for b, tool in (("nft", "nft"), ("iptables", "iptables"), ("bpf", None))
                if tool is None or shutil.which(tool)]
    script = (f"ROOT = {str(ROOT)!r}\nN = {n}\nROUNDS = {rounds}\nBACKENDS = {backends!r}\n"
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
    print(f"kernel egress, {rounds} rounds x {n} ops, medians; ratio to no rules (same run)")
    print(f"{'backend':10} {'rules':>5} {'connect ns':>11} {'ratio':>6} {'sendto ns':>10} "
          f"{'ratio':>6} {'apply ms':>9} {'canary ms':>9}")
    for r in rows:
        print(f"{r['backend']:10} {r['rules']:>5} {r['connect_ns']:>11} "
              f"{r['connect_ratio']:>6.3f} {r['sendto_ns']:>10} {r['sendto_ratio']:>6.3f} "
              f"{r.get('apply_ms', ''):>9} {r.get('canary_ms', ''):>9}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
