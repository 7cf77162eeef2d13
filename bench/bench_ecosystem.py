"""Real library workloads in extensions: guard vs no guard, measured in one run.

Each sample is a fresh child interpreter running one workload of
tests/ecosystem/workloads.py (the extension doing ordinary work with numpy, pandas,
lxml, ...) under the natural policy, in one of two configurations started in
interleaved order:

- **none**: the extension package imported plainly, no guard;
- **guard**: ``sg.install(policy)`` (libraries initialised by the host) and
  ``guard.import_extension``.

Per child, the workload's ``run()`` is repeated REPEAT times and the best kept; the
table shows the best over CHILDREN children, and the ratio guard/none (DESIGN goal:
<= 1.05).  ``setup`` is interpreter-side time from the start of the host program to
the extension being ready (plain import vs install + preload + import_extension).

    python bench/bench_ecosystem.py [--children 3] [--repeat 20] [--quick] [-k numpy]
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import threading
import time
from http.server import ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "tests" / "ecosystem"))

import workloads as W  # noqa: E402
from conftest import _Handler  # noqa: E402

from _support.child import child_env  # noqa: E402


def sample(lib: str, mode: str, port: int, repeat: int, base: Path) -> dict[str, float]:
    w = W.WORKLOADS[lib]
    paths = W.build_tree(base / f"{lib}-{mode}", w)
    cfg = {"paths": paths, "port": port, "mode": mode, "repeat": repeat,
           "policy_mode": "enforce"}
    proc = subprocess.run([sys.executable, "-c", W.host_code(), lib, json.dumps(cfg)],
                          env=child_env(), capture_output=True, text=True, timeout=300)
    if proc.returncode != 0:
        raise SystemExit(f"{lib}/{mode}: child exited {proc.returncode}\n{proc.stderr}")
    res = json.loads(proc.stdout.strip().splitlines()[-1])
    if "error" in res:
        raise SystemExit(f"{lib}/{mode}: {res['error']}")
    return {"run": float(res["run_s"]), "setup": float(res["import_s"])}


def fmt(s: float) -> str:
    return f"{s * 1e3:.2f} ms" if s >= 1e-3 else f"{s * 1e6:.1f} µs"


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--children", type=int, default=3)
    ap.add_argument("--repeat", type=int, default=20)
    ap.add_argument("--quick", action="store_true", help="1 child x 5 repeats")
    ap.add_argument("-k", action="append", default=[], help="only libraries containing this")
    ap.add_argument("--rounds", type=int, default=None, help="alias of --children")
    args, _ = ap.parse_known_args()
    children = 1 if args.quick else (args.rounds or args.children)
    repeat = 5 if args.quick else args.repeat
    libs = [lib for lib in sorted(W.WORKLOADS)
            if not args.k or any(k.lower() in lib.lower() for k in args.k)]
    import importlib.util
    missing = [lib for lib in libs if importlib.util.find_spec(lib) is None]
    if missing:
        print(f"not installed (pip install -r requirements-ecosystem.txt): {missing}")
        libs = [lib for lib in libs if lib not in missing]

    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    port = srv.server_address[1]
    best: dict[tuple[str, str], dict[str, float]] = {}
    started = time.monotonic()
    with tempfile.TemporaryDirectory() as tmp:
        for c in range(children):
            for lib in libs:
                order = ("none", "guard") if c % 2 == 0 else ("guard", "none")
                for mode in order:
                    s = sample(lib, mode, port, repeat, Path(tmp) / str(c))
                    cur = best.setdefault((lib, mode), {"run": s["run"], "setup": s["setup"]})
                    cur["run"] = min(cur["run"], s["run"])
                    cur["setup"] = min(cur["setup"], s["setup"])
    srv.shutdown()
    took = time.monotonic() - started
    print(f"Measured {time.strftime('%Y-%m-%d')}, Python {sys.version.split()[0]}, "
          f"{children} children x best of {repeat} runs each, {took:.0f} s\n")
    print("| library | run(), no guard | run(), guard | ratio | setup, no guard | "
          "setup, guard (install + preload) |")
    print("|---|---:|---:|---:|---:|---:|")
    worst = 0.0
    for lib in libs:
        n, g = best[(lib, "none")], best[(lib, "guard")]
        ratio = g["run"] / n["run"]
        worst = max(worst, ratio)
        print(f"| {lib} | {fmt(n['run'])} | {fmt(g['run'])} | {ratio:.2f}x | "
              f"{fmt(n['setup'])} | {fmt(g['setup'])} |")
    print(f"\nworst run() ratio: {worst:.2f}x (goal <= 1.05x)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
