"""Audit trail costs, side by side in one run (ratios, never timed assertions).

Each sample runs in a fresh child interpreter with sdk_guard installed (an audit hook
can never be removed) and an extension "benchext" loaded through the guard.

Recorded events (per event, including the writer thread's work, measured up to the
end of audit.flush()):
  emit/ring only     _guard.emit into the ring, no sink (records taken afterwards)
  emit/MemorySink    ... delivered to a MemorySink
  emit/JSONL batch   ... written by JsonlSink(flush="batch")
  emit/JSONL line    ... written by JsonlSink(flush="line"): one write(2) per event
  denial/no sink     a real mediated denial (open of a file outside fs.read) caught
                     by the extension, records left in the ring
  denial/JSONL line  the same with a line-mode JsonlSink

Span bookkeeping (three nested spans: action > task > model_call, vs none):
  id()               unmediated events: the hook never looks at spans
  open+close         mediated, allowed, not recorded (audit = "deny")
  open+close all     mediated, allowed, recorded (audit = "all"): spans copied into
                     every record; no sink attached
Goal (issue 5): span context adds <= 5% to the mediated open benchmark.

Usage: python bench/bench_audit.py [--rounds 5] [--quick] [--json]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent

EXTENSION = '''
def id_loop(n, x=None):
    for _ in range(n):
        id(x)

def open_loop(path, n):
    for _ in range(n):
        open(path, "rb").close()

def deny_loop(path, n):
    for _ in range(n):
        try:
            open(path, "rb")
        except PermissionError:
            pass
'''

CHILD = r'''
import json, os, sys, time
params = json.loads(sys.argv[1])
sys.path.insert(0, params["plugins"])
import sdk_guard
from sdk_guard import _guard, audit

policy = sdk_guard.Policy.from_dict(params["policy"])
guard = sdk_guard.install(policy)
ext = guard.import_extension("benchext")
N, REPEAT = params["n"], params["repeat"]
allowed, denied, out_dir = params["allowed"], params["denied"], params["out"]

def best(fn):
    times = []
    for _ in range(REPEAT):
        t0 = time.perf_counter_ns()
        fn()
        times.append(time.perf_counter_ns() - t0)
        _guard.take_undelivered()
    return min(times) / N

def with_spans(fn):
    def run():
        with audit.span("action", "bench", user="u", org="o"), audit.span("task", "t"), \
                audit.span("model_call", "m"):
            fn()
    return run

res = {}
if params["group"] == "spans":
    for name, fn in (("id", lambda: ext.id_loop(N)), ("open", lambda: ext.open_loop(allowed, N))):
        for _ in range(2):
            res[name + "/none"] = min(res.get(name + "/none", 1e18), best(fn))
            res[name + "/spans"] = min(res.get(name + "/spans", 1e18), best(with_spans(fn)))
elif params["group"] == "spans_all":
    fn = lambda: ext.open_loop(allowed, N)
    for _ in range(2):
        res["open_all/none"] = min(res.get("open_all/none", 1e18), best(fn))
        res["open_all/spans"] = min(res.get("open_all/spans", 1e18), best(with_spans(fn)))
else:
    def emit_n():
        for i in range(N):
            _guard.emit("guard", "net.connect", "deny", "benchext", "10.0.0.5:5432",
                        "extensions.benchext.net.connect")
    def timed(fn):
        def run():
            fn()
            audit.flush()
        return run
    res["emit/ring"] = best(emit_n)
    res["denial/ring"] = best(lambda: ext.deny_loop(denied, N))
    sink = audit.add_sink(audit.MemorySink())
    res["emit/memory"] = best(lambda: (timed(emit_n)(), sink.clear()))
    audit.remove_sink(sink)
    for mode in ("batch", "line"):
        path = os.path.join(out_dir, f"audit-{mode}.jsonl")
        sink = audit.add_sink(audit.JsonlSink(path, flush=mode))
        res[f"emit/jsonl-{mode}"] = best(timed(emit_n))
        if mode == "line":
            res["denial/jsonl-line"] = best(timed(lambda: ext.deny_loop(denied, N)))
        audit.remove_sink(sink)
        os.unlink(path)
print(json.dumps(res))
'''


def policy(plugins: Path, data: Path, audit_all: bool) -> dict[str, Any]:
    return {
        "version": 1,
        "guard": {"audit": "all" if audit_all else "deny"},
        "host": {"trusted": ["__main__"]},
        "extensions": {"benchext": {"package": "benchext", "path": str(plugins),
                                    "fs": {"read": [str(data / "allowed")]}}},
    }


def run_child(params: dict[str, Any]) -> dict[str, float]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "python"), env.get("PYTHONPATH", "")])
    env.pop("SUITE_AUDIT_TEE", None)
    proc = subprocess.run([sys.executable, "-c", CHILD, json.dumps(params)], env=env,
                          capture_output=True, text=True, timeout=600)
    if proc.returncode != 0:
        raise SystemExit(f"benchmark child failed:\n{proc.stderr}")
    return json.loads(proc.stdout.splitlines()[-1])


def fmt(ns: float) -> str:
    return f"{ns / 1000:.2f} µs" if ns >= 1000 else f"{ns:.0f} ns"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=3, help="fresh children per group")
    ap.add_argument("--quick", action="store_true", help="fewer iterations")
    ap.add_argument("--json", action="store_true", help="also print the raw results")
    args = ap.parse_args(argv)
    n = 5_000 if args.quick else 20_000
    repeat = 3 if args.quick else 5
    best: dict[str, float] = {}
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="sdk_guard-bench-audit-") as tmp:
        base = Path(tmp)
        (base / "plugins" / "benchext").mkdir(parents=True)
        (base / "plugins" / "benchext" / "__init__.py").write_text(textwrap.dedent(EXTENSION))
        (base / "data").mkdir()
        (base / "data" / "allowed").write_text("x")
        (base / "denied").write_text("x")
        for _ in range(args.rounds):
            for group in ("sinks", "spans", "spans_all"):
                params = {"group": group, "n": n, "repeat": repeat,
                          "plugins": str(base / "plugins"), "out": str(base),
                          "allowed": str(base / "data" / "allowed"),
                          "denied": str(base / "denied"),
                          "policy": policy(base / "plugins", base / "data",
                                           audit_all=group == "spans_all")}
                for k, v in run_child(params).items():
                    best[k] = min(best.get(k, float("inf")), v)
    elapsed = time.monotonic() - t0

    print(f"## sdk_guard audit trail costs ({time.strftime('%Y-%m-%d')}, Python "
          f"{sys.version.split()[0]}, {n} events x {repeat} repeats x {args.rounds} children, "
          f"{elapsed:.0f} s)\n")
    print("| recorded event | per event | vs ring only |")
    print("|---|---:|---:|")
    ring = best["emit/ring"]
    for key, label in (("emit/ring", "emit, ring only (no sink)"),
                       ("emit/memory", "emit → MemorySink"),
                       ("emit/jsonl-batch", "emit → JsonlSink(flush=\"batch\")"),
                       ("emit/jsonl-line", "emit → JsonlSink(flush=\"line\")"),
                       ("denial/ring", "mediated denial, ring only"),
                       ("denial/jsonl-line", "mediated denial → JsonlSink(line)")):
        print(f"| {label} | {fmt(best[key])} | {best[key] / ring:.2f}x |")
    jsonl_cost = best["denial/jsonl-line"] - best["denial/ring"]
    print(f"\nJSONL (line) cost per recorded denial: {fmt(jsonl_cost)} "
          f"(denial with sink − denial without)\n")
    print("| span bookkeeping (3 nested spans) | no spans | in spans | ratio |")
    print("|---|---:|---:|---:|")
    for key, label in (("id", "id(): unmediated"),
                       ("open", "open+close: mediated, not recorded"),
                       ("open_all", "open+close: mediated, recorded (audit=\"all\")")):
        a, b = best[f"{key}/none"], best[f"{key}/spans"]
        print(f"| {label} | {fmt(a)} | {fmt(b)} | {b / a:.3f} |")
    ratio = best["open/spans"] / best["open/none"]
    print(f"\n| goal (issue 5) | measured | target | status |\n|---|---:|---:|---|\n"
          f"| span context on mediated open | {ratio:.3f} | ≤ 1.05 | "
          f"{'met' if ratio <= 1.05 else 'NOT met'} |")
    if args.json:
        print(json.dumps(best))
    return 0


if __name__ == "__main__":
    sys.exit(main())
