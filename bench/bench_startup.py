"""Start-up and OpenTelemetry costs of the ecosystem features, side by side in one run
(ratios, never timed assertions).

Interpreter start-up (``python -c pass``, median of interleaved rounds), in two venvs
made here (no pip) that differ only in sdk_guard's ``.pth`` line:
  no .pth                   the baseline
  .pth, variable unset      the cost every interpreter pays once sdk_guard is installed
  .pth, SDK_GUARD_POLICY    policy loaded during site, guard installed at __main__
  import sdk_guard          for scale: the package's own import, no .pth

OpenTelemetry span enter+exit (``tracer.start_as_current_span``), in one child:
  plain                     OpenTelemetry's own runtime context
  trace ids mirrored        sdk_guard.otel's wrapper (one extra context-variable set)

Usage: python bench/bench_startup.py [--rounds 30] [--quick]
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "python"))

from sdk_guard._startup import PTH_LINE, PTH_NAME  # noqa: E402

POLICY = 'version = 1\n[extensions.acme]\npackage = "acme"\n'

OTEL = r'''
import sys, time
sys.path.insert(0, sys.argv[1])
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
trace.set_tracer_provider(TracerProvider())
tracer = trace.get_tracer("bench")
N = int(sys.argv[2])

def run():
    t = time.perf_counter()
    for _ in range(N):
        with tracer.start_as_current_span("s"):
            pass
    return (time.perf_counter() - t) / N

import opentelemetry.context as oc
plain_rt = oc._RUNTIME_CONTEXT
from sdk_guard import otel
otel.enable_trace_ids()
wrapped_rt = oc._RUNTIME_CONTEXT
plain, wrapped = [], []
for _ in range(int(sys.argv[3])):
    oc._RUNTIME_CONTEXT = plain_rt
    plain.append(run())
    oc._RUNTIME_CONTEXT = wrapped_rt
    wrapped.append(run())
plain.sort(); wrapped.sort()
print(plain[len(plain) // 2], wrapped[len(wrapped) // 2])
'''


def _site_packages(python: Path) -> Path:
    out = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                         capture_output=True, text=True, check=True)
    return Path(out.stdout.strip())


def _time(cmd: list[str], env: dict[str, str]) -> float:
    t = time.perf_counter()
    subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=30)
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    rounds = 8 if args.quick else args.rounds
    with tempfile.TemporaryDirectory(prefix="sdk_guard-bench-startup-") as d:
        base = Path(d)
        plain, pth = base / "plain", base / "pth"
        for v in (plain, pth):
            venv.EnvBuilder(with_pip=False, symlinks=True).create(v)
        (_site_packages(pth / "bin" / "python") / PTH_NAME).write_text(PTH_LINE)
        (base / "policy.toml").write_text(POLICY)
        env = {k: v for k, v in os.environ.items() if not k.startswith("SDK_GUARD")}
        env["PYTHONPATH"] = str(ROOT / "python")
        on = dict(env, SDK_GUARD_POLICY=str(base / "policy.toml"))
        cases = {
            "no .pth": ([str(plain / "bin" / "python"), "-c", "pass"], env),
            ".pth, variable unset": ([str(pth / "bin" / "python"), "-c", "pass"], env),
            ".pth, SDK_GUARD_POLICY": ([str(pth / "bin" / "python"), "-c", "pass"], on),
            # For scale: what importing the package alone costs any host that uses it.
            "no .pth, import sdk_guard": ([str(plain / "bin" / "python"), "-c",
                                           "import sdk_guard"], env),
        }
        check = subprocess.run([str(pth / "bin" / "python"), "-c",
                                "import sdk_guard; print(sdk_guard.current_guard() is not None)"],
                               env=on, capture_output=True, text=True, check=True)
        assert check.stdout.strip() == "True", check
        times: dict[str, list[float]] = {k: [] for k in cases}
        for _ in range(rounds):
            for name, (cmd, e) in cases.items():
                times[name].append(_time(cmd, e))
        base_ms = statistics.median(times["no .pth"]) * 1e3
        print(f"interpreter start-up, median of {rounds} interleaved rounds")
        for name, ts in times.items():
            ms = statistics.median(ts) * 1e3
            print(f"  {name:27} {ms:7.1f} ms   {ms / base_ms:5.2f}x")

    try:
        import opentelemetry.sdk.trace  # noqa: F401
    except ImportError:
        print("\nOpenTelemetry span cost: skipped (opentelemetry-sdk is not installed)")
        return 0
    n = 2000 if args.quick else 20000
    out = subprocess.run([sys.executable, "-c", OTEL, str(ROOT / "python"), str(n),
                          str(5 if args.quick else 9)], capture_output=True, text=True,
                         check=True)
    plain_s, wrapped_s = (float(x) for x in out.stdout.split())
    print(f"\nOpenTelemetry start_as_current_span enter+exit, median of interleaved runs of {n}")
    print(f"  {'plain':26} {plain_s * 1e6:7.2f} us   1.00x")
    print(f"  {'trace ids mirrored':26} {wrapped_s * 1e6:7.2f} us   {wrapped_s / plain_s:5.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
