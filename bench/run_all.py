"""Run every bench/bench_*.py in turn (`make bench`) and print their output.

Each benchmark prints its own ratios from one run; this only sequences them (never in
parallel: they share two noisy cores) and reports which ones failed.  Extra arguments
are passed to every benchmark, e.g. ``python bench/run_all.py --quick`` where they all
accept it; ``-k NAME`` runs only the benchmarks whose file name contains NAME.
"""
from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent


def main(argv: list[str]) -> int:
    only: list[str] = []
    passthrough: list[str] = []
    it = iter(argv)
    for a in it:
        if a == "-k":
            only.append(next(it, ""))
        else:
            passthrough.append(a)
    scripts = sorted(p for p in BENCH.glob("bench_*.py")
                     if not only or any(k in p.name for k in only))
    if not scripts:
        print("no benchmarks matched", file=sys.stderr)
        return 1
    failed: list[str] = []
    for script in scripts:
        print(f"\n===== {script.name} =====", flush=True)
        started = time.monotonic()
        rc = subprocess.call([sys.executable, str(script), *passthrough], cwd=BENCH.parent)
        took = time.monotonic() - started
        print(f"----- {script.name}: exit {rc}, {took:.0f} s", flush=True)
        if rc != 0:
            failed.append(f"{script.name} (exit {rc})")
    if failed:
        print("\nfailed: " + ", ".join(failed), file=sys.stderr)
        return 1
    print(f"\nall {len(scripts)} benchmarks ran")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
