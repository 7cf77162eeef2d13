"""lockdown() latency: Landlock alone (~20 policy rules), side by side in one run.

Every sample is a fresh child interpreter (a Landlock domain cannot be undone).
Columns, all measured in this run:

  sdk_guard lockdown()        the public call: spec parsing, probe, ABI downgrade, the
                              interpreter's runtime paths, fd scan, NO_NEW_PRIVS,
                              restrict_self, report, one audit record.  The lazily-imported
                              stdlib modules it preloads are imported before the clock
                              starts (that is module import time, reported separately).
  sdk_guard lockdown() cold   the same, with the preload inside the clock.
  ... tmp=none                the same without the private temporary directory (its
                              mkdtemp and the reaper's posix_spawn are the difference).
  ... + seccomp               Landlock and the seccomp filter (seccomp = "errno"): the
                              DESIGN goal's "Landlock + seccomp with ~20 rules".
  ... runtime=minimal         without the auto grants (DNS, /proc, CPU, app code).
  runtime discovery           _runtime_paths() alone, first call in a fresh child (the
                              library walk read from its on-disk cache); it is part of
                              every lockdown() above.
  sdk_guard C core            _guard.Ruleset(...).restrict() with the same rules.
  landlock (PyPI)             landlock.Ruleset(...).allow(...).apply() with the same path
                              rules (it has no network or scope rules), if it installs.

Goal (docs/design.md): lockdown() under 1 ms.  Usage: python bench/bench_lockdown.py [-n 30]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

COMMON = """
import json, os, sys, time
P = json.loads(sys.argv[1])
"""

SDK = COMMON + """
import sdk_guard as sg
from sdk_guard import landlock
from sdk_guard._lockdown_spec import parse_spec
if not P["cold"]:
    landlock._preload()
    import fcntl
spec = {"fs": {"read": P["ro"], "write": P["rw"]}, "seccomp": P.get("seccomp", "off"),
        "tmp": P.get("tmp", "private"), "runtime": P.get("runtime", "auto"),
        "net": {"connect_tcp": [5432]}}
if not P["cold"]:
    from sdk_guard import seccomp
if P.get("discovery"):
    # Runtime-grant discovery alone, as lockdown() meets it: first call in the process
    # (the library-directory walk is read from the on-disk cache).
    t = time.perf_counter_ns()
    landlock._runtime_paths(parse_spec(spec))
    print(json.dumps({"ns": time.perf_counter_ns() - t}))
    sys.exit(0)
t = time.perf_counter_ns()
r = sg.lockdown(spec=spec)
dt = time.perf_counter_ns() - t
d = r.as_dict()["landlock"]
assert r.status == "full", r.as_dict()
print(json.dumps({"ns": dt,
                  "rules": [[x["path"], x["access"]] for x in d["rules"] if x["type"] == "path"
                            and "sdk_guard-" not in x["path"]
                            and not x["path"].startswith("/proc/")]}))
"""

CORE = COMMON + """
from sdk_guard import _guard
from sdk_guard.landlock import _FS_ALL
names = {k.lower().replace("fs_", "fs."): v for k, v in _guard.landlock_constants().items()}
rules = [(p, sum(names[a] for a in acc)) for p, acc in P["rules"]]
rules.append((f"/proc/{os.getpid()}", names["fs.read_file"] | names["fs.read_dir"]))
t = time.perf_counter_ns()
abi = _guard.landlock_probe()["abi"]
c = _guard.landlock_compat(abi, _FS_ALL, 3, 3, 0)
with _guard.Ruleset(abi, c["handled"][:3], rules, []) as rs:
    rs.restrict(0)
res = rs.path_results
dt = time.perf_counter_ns() - t
assert all(r[0] == 0 for r in res), res
print(json.dumps({"ns": dt}))
"""

PYPI = COMMON + """
import landlock
from landlock import FSAccess
bits = {"fs." + f.name.lower(): f for f in FSAccess}
rules = [(p, acc) for p, acc in P["rules"]] + [(f"/proc/{os.getpid()}", ["fs.read_file", "fs.read_dir"])]
t = time.perf_counter_ns()
rs = landlock.Ruleset(restrict_rules=FSAccess.all())
for p, acc in rules:
    flags = FSAccess(0)
    for a in acc:
        flags |= bits[a]
    rs.allow(p, rules=flags)
rs.apply()
dt = time.perf_counter_ns() - t
print(json.dumps({"ns": dt}))
"""


def run(code: str, params: dict, env: dict[str, str]) -> dict:
    # From the benchmark's own directory: with -c, sys.path[0] is the cwd, whose code
    # files lockdown() grants one by one.
    proc = subprocess.run([sys.executable, "-c", code, json.dumps(params)], env=env,
                          cwd=params.get("cwd"),
                          capture_output=True, text=True, timeout=60)
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def pypi_landlock_available(env: dict[str, str]) -> str | None:
    proc = subprocess.run([sys.executable, "-c", "import landlock; print(landlock.__version__)"],
                          env=env, capture_output=True, text=True)
    if proc.returncode == 0:
        return proc.stdout.strip()
    pip = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "landlock"],
                         capture_output=True, text=True)
    if pip.returncode != 0:
        return None
    proc = subprocess.run([sys.executable, "-c", "import landlock; print(landlock.__version__)"],
                          env=env, capture_output=True, text=True)
    return proc.stdout.strip() if proc.returncode == 0 else None


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-n", type=int, default=30, help="children per variant (default 30)")
    args = ap.parse_args()
    env = dict(os.environ, PYTHONPATH=str(ROOT / "python"), PYTHONDONTWRITEBYTECODE="1")
    sys.path.insert(0, str(ROOT / "python"))
    from sdk_guard import _guard

    abi = _guard.landlock_probe()["abi"]
    if abi < 1:
        print(f"Landlock unavailable: {_guard.landlock_probe()['reason']}; nothing to measure")
        return 0
    with tempfile.TemporaryDirectory(prefix="bench-lockdown-") as tmp:
        ro, rw = [], []
        for i in range(10):
            for kind, lst in (("ro", ro), ("rw", rw)):
                d = Path(tmp, f"{kind}{i}")
                d.mkdir()
                lst.append(str(d))
        params = {"ro": ro, "rw": rw, "cold": False, "cwd": tmp}
        first = run(SDK, params, env)
        rules = first["rules"]
        first_total = len(rules) + 1  # + the private temporary directory
        variants: dict[str, list[int]] = {"sdk_guard lockdown()": [],
                                          "sdk_guard lockdown() cold": [],
                                          "sdk_guard lockdown() tmp=none": [],
                                          "sdk_guard lockdown() + seccomp": [],
                                          "... + seccomp, tmp=none": [],
                                          "... runtime=minimal, tmp=none": [],
                                          "runtime discovery": [],
                                          "sdk_guard C core": []}
        version = pypi_landlock_available(env)
        pypi_name = f"landlock {version} (PyPI)" if version else None
        if pypi_name:
            variants[pypi_name] = []
        # Interleave the variants so machine noise hits them alike.
        for _ in range(args.n):
            warm = run(SDK, params, env)
            variants["sdk_guard lockdown()"].append(warm["ns"])
            variants["runtime discovery"].append(run(SDK, dict(params, discovery=True), env)["ns"])
            variants["sdk_guard lockdown() tmp=none"].append(
                run(SDK, dict(params, tmp="none"), env)["ns"])
            variants["sdk_guard lockdown() + seccomp"].append(
                run(SDK, dict(params, seccomp="errno"), env)["ns"])
            variants["... + seccomp, tmp=none"].append(
                run(SDK, dict(params, seccomp="errno", tmp="none"), env)["ns"])
            variants["... runtime=minimal, tmp=none"].append(
                run(SDK, dict(params, runtime="minimal", tmp="none"), env)["ns"])
            variants["sdk_guard lockdown() cold"].append(run(SDK, dict(params, cold=True), env)["ns"])
            variants["sdk_guard C core"].append(run(CORE, {"rules": rules}, env)["ns"])
            if pypi_name:
                variants[pypi_name].append(run(PYPI, {"rules": rules}, env)["ns"])

    base = statistics.median(variants[pypi_name]) if pypi_name else None
    print(f"lockdown() latency, Landlock ABI {abi}, {len(ro) + len(rw)} policy path rules "
          f"({first_total} path rules in the ruleset incl. runtime grants), "
          f"median of {args.n} fresh children")
    print(f"{'variant':<32} {'min us':>9} {'median us':>10} {'p90 us':>10} {'vs PyPI':>8}")
    for name, ns in variants.items():
        med = statistics.median(ns) / 1e3
        p90 = sorted(ns)[int(0.9 * (len(ns) - 1))] / 1e3
        ratio = f"{med * 1e3 / base:.2f}x" if base else "n/a"
        print(f"{name:<32} {min(ns) / 1e3:>9.1f} {med:>10.1f} {p90:>10.1f} {ratio:>8}")
    if not pypi_name:
        print("landlock (PyPI) could not be installed with pip: no ratio against it")
    for name in ("sdk_guard lockdown()", "... + seccomp, tmp=none"):
        med = statistics.median(variants[name]) / 1e6
        print(f"goal {name} < 1 ms: {'met' if med < 1 else 'NOT met'} ({med:.3f} ms)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
