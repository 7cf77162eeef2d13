"""seccomp benchmark: cost of the filter on hot syscalls, measured side by side in one run.

1. getppid() through ctypes' syscall() in a loop, in two fresh children: one without
   a filter, one with the lockdown filter (errno mode).  The kernel's action cache
   marks getppid constant-allow, so the goal is no measurable difference.
2. Instructions executed per hot syscall (bpf_sim), our program vs libseccomp's for the
   same rules (bench/seccomp_insns.c, built by CMake), and whether each is cached.
3. Filter build + install time.

    python bench/bench_seccomp.py [--iterations N] [--rounds R]
"""
from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "python"))

LOOP = r"""
import ctypes, json, sys, time
sys.path.insert(0, sys.argv[1])
from sdk_guard import seccomp
n, with_filter = int(sys.argv[2]), sys.argv[3] == "1"
t0 = time.perf_counter_ns()
if with_filter:
    plan = seccomp.prepare("errno")
    t1 = time.perf_counter_ns()
    plan.apply()
    t2 = time.perf_counter_ns()
else:
    t1 = t2 = t0
libc = ctypes.CDLL(None)
syscall = libc.syscall
nr = __import__("sdk_guard._guard", fromlist=["x"]).seccomp_syscall_nr("getppid")
for _ in range(2000):
    syscall(nr)
s = time.perf_counter_ns()
for _ in range(n):
    syscall(nr)
e = time.perf_counter_ns()
print(json.dumps({"ns_per_call": (e - s) / n, "build_ns": t1 - t0, "install_ns": t2 - t1}))
"""


def loop(n: int, with_filter: bool) -> dict[str, float]:
    out = subprocess.run([sys.executable, "-c", LOOP, str(ROOT / "python"), str(n),
                          "1" if with_filter else "0"], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def insn_helper() -> Path | None:
    build = Path(tempfile.gettempdir()) / "sdk_guard-bench-cmake"
    exe = build / "seccomp_insns"
    if shutil.which("cmake") is None:
        return None
    subprocess.run(["cmake", "-S", str(ROOT), "-B", str(build)], check=True,
                   capture_output=True)
    subprocess.run(["cmake", "--build", str(build), "--target", "seccomp_insns"], check=True,
                   capture_output=True)
    return exe if exe.exists() else None


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--iterations", type=int, default=200_000)
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()

    plain, filtered, build, install = [], [], [], []
    for _ in range(args.rounds):          # interleaved, so drift hits both sides
        plain.append(loop(args.iterations, False)["ns_per_call"])
        r = loop(args.iterations, True)
        filtered.append(r["ns_per_call"])
        build.append(r["build_ns"] / 1000)
        install.append(r["install_ns"] / 1000)
    p, f = statistics.median(plain), statistics.median(filtered)
    print(f"getppid() via ctypes syscall, {args.iterations} calls x {args.rounds} rounds (median)")
    print(f"  {'no filter':<22} {p:8.1f} ns/call")
    print(f"  {'lockdown filter':<22} {f:8.1f} ns/call   ratio {f / p:.3f}")
    print(f"  spread no filter {min(plain):.1f}..{max(plain):.1f}, "
          f"filter {min(filtered):.1f}..{max(filtered):.1f}")
    print(f"filter build {statistics.median(build):.0f} us, "
          f"install (NO_NEW_PRIVS + seccomp TSYNC) {statistics.median(install):.0f} us")

    exe = insn_helper()
    if exe is None:
        print("instruction counts: unavailable (cmake or libseccomp-dev missing)")
        return 0
    data = json.loads(subprocess.run([str(exe)], capture_output=True, text=True,
                                     check=True).stdout)
    print(f"\ninstructions executed per syscall ({data['arch']}; program length ours "
          f"{data['ours_len']}, libseccomp {data['libseccomp_len']})")
    print(f"  {'syscall':<12} {'ours':>5} {'libseccomp':>11}  kernel-cached (ours)")
    for name, row in data["syscalls"].items():
        print(f"  {name:<12} {row['ours']:>5} {row['libseccomp']:>11}  "
              f"{'yes' if row['cached'] else 'no (runs the filter)'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
