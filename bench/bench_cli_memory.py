"""Peak memory of ``python -m sdk_guard audit`` against trail size (one run, no assertions).

Generates JSONL trails of growing size (realistic records: many principals and
capabilities, a quarter of them denials), plus one trail holding a single line far
longer than the reader's cap, and runs ``audit --summary``, ``audit --summary --json``
and ``audit --json`` (output to /dev/null) on each in a child interpreter, reporting
its peak RSS (ru_maxrss of the child).  ``audit --summary`` streams: its peak should
be flat across sizes; the ratio column is peak / peak on the smallest trail.

Usage: python bench/bench_cli_memory.py [--quick] [--sizes 20,100,400] (MB)
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def make_trail(path: Path, megabytes: int) -> int:
    principals = [f"ext{i}" for i in range(40)]
    caps = ["fs.read", "fs.write", "net.connect", "import", "process.spawn", "native"]
    target = megabytes << 20
    n = 0
    with path.open("w") as f:
        written = 0
        chunk: list[str] = []
        while written < target:
            rec = {"seq": n, "ts": f"2026-11-28T22:{(n // 60) % 60:02d}:{n % 60:02d}.000000Z",
                   "layer": "guard", "principal": principals[n % 40],
                   "capability": caps[n % 6], "target": f"/srv/data/file-{n}.bin",
                   "decision": "deny" if n % 4 == 0 else "allow",
                   "rule": f"extensions.{principals[n % 40]}.{caps[n % 6]}",
                   "span": {"action": f"a-{n // 100:012x}", "task": None, "model_call": None,
                            "storage_mutation": None},
                   "user": "u-1", "org": "o-1", "pid": 1234, "tid": 1240}
            line = json.dumps(rec) + "\n"
            chunk.append(line)
            written += len(line)
            n += 1
            if len(chunk) >= 10_000:
                f.write("".join(chunk))
                chunk.clear()
        f.write("".join(chunk))
    return n


def peak_rss_mb(args: list[str]) -> tuple[float, float]:
    """(peak RSS in MB, seconds) of one child running ``python -m sdk_guard ARGS``."""
    env = dict(os.environ, PYTHONPATH=str(ROOT / "python"))
    code = ("import resource, subprocess, sys, time; t = time.monotonic(); "
            "rc = subprocess.call(sys.argv[1:], stdout=subprocess.DEVNULL, "
            "stderr=subprocess.DEVNULL); "
            "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, "
            "time.monotonic() - t, rc)")
    out = subprocess.run([sys.executable, "-c", code, sys.executable, "-m", "sdk_guard",
                          *args], env=env, capture_output=True, text=True, check=True).stdout
    kb, secs, rc = out.split()
    if rc != "0":
        raise SystemExit(f"sdk_guard {' '.join(args)} exited {rc}")
    return int(kb) / 1024, float(secs)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="sizes 10,40 MB")
    ap.add_argument("--sizes", default="20,100,400", help="trail sizes in MB")
    ap.add_argument("--json", action="store_true")
    opts = ap.parse_args()
    sizes = [10, 40] if opts.quick else [int(x) for x in opts.sizes.split(",")]
    rows = []
    with tempfile.TemporaryDirectory(prefix="sdk_guard-bench-cli-") as tmp:
        for mb in sizes:
            trail = Path(tmp) / f"trail-{mb}.jsonl"
            started = time.monotonic()
            n = make_trail(trail, mb)
            print(f"generated {mb} MB trail ({n} records) in {time.monotonic() - started:.0f} s",
                  file=sys.stderr, flush=True)
            for mode in (["--summary"], ["--summary", "--json"], ["--json"]):
                rss, secs = peak_rss_mb(["audit", str(trail), *mode])
                rows.append({"trail_mb": mb, "records": n, "mode": " ".join(mode),
                             "peak_rss_mb": round(rss, 1), "seconds": round(secs, 1)})
            trail.unlink()
        long_mb = max(sizes)
        trail = Path(tmp) / "one-line.jsonl"
        with trail.open("w") as f:
            f.write('{"target": "')
            block = "x" * (1 << 20)
            for _ in range(long_mb):
                f.write(block)
            f.write('"}\n')
        rss, secs = peak_rss_mb(["audit", str(trail), "--summary"])
        rows.append({"trail_mb": long_mb, "records": 0, "mode": "--summary (one line)",
                     "peak_rss_mb": round(rss, 1), "seconds": round(secs, 1)})
    base = {r["mode"]: r["peak_rss_mb"] for r in rows if r["trail_mb"] == sizes[0]}
    base["--summary (one line)"] = base["--summary"]
    if opts.json:
        print(json.dumps(rows, indent=2))
        return 0
    print(f"{'trail':>8} {'records':>9}  {'mode':<22} {'peak RSS':>9} {'x smallest':>10} "
          f"{'time':>6}")
    for r in rows:
        ratio = r["peak_rss_mb"] / base[r["mode"]]
        print(f"{r['trail_mb']:>5} MB {r['records']:>9}  {r['mode']:<22} "
              f"{r['peak_rss_mb']:>6.1f} MB {ratio:>9.2f}x {r['seconds']:>5.1f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
