"""Process Guard overhead, side by side in one run (ratios, never timed assertions).

Every sample runs in its own fresh child interpreter (an audit hook can never be
removed), with one of four configurations:

  (a) none      no audit hook
  (b) empty-C   an audit hook in C that returns 0 (bench/emptyhook.c, built on the fly)
  (c) sdk_guard sdk_guard.install(policy); the workload runs in an extension loaded
                by guard.import_extension, so attribution really runs
  (d) pure-Py   bench/pyhook_reference.py: the same policy enforced by a Python hook

Workloads (the workload code lives in one extension package, "benchext", imported
plainly for (a)/(b)/(d) and through the guard for (c)):

  id()          unmediated events: a loop of id(x) calls (each raises builtins.id)
  open+close    open(path, "rb").close() of a file the policy allows (fs.read)
  open+close r  the same in text mode (open(path)), the usual call in extension code
  import x50    importing 50 pure-Python stdlib modules the child has not loaded yet,
                from extension code; one sample per fresh interpreter

Loops report the best of several repeats inside a child, then the best and the median
of those over several children started in interleaved order (a, b, c, d, a, ...), so
drift on a noisy machine hits every configuration alike.

Goals (docs/design.md):
  unmediated:  (c - a) <= 1.2 x (b - a)      guard overhead vs an empty C hook's
  mediated:    c / a <= 1.10                 open+close with the guard vs no hook
  vs Python:   (d - a) >= 10 x (c - a)       on mediated open+close

With --callgrind it also counts instructions per call under valgrind: deterministic,
so the CPU cost of each hook is visible apart from the machine's noise (syscall time
is not counted).

Usage: python bench/bench_guard.py [--rounds 5] [--quick] [--json] [--callgrind]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
CONFIGS = ("a", "b", "c", "d")
LABELS = {"a": "(a) no hook", "b": "(b) empty C hook", "c": "(c) sdk_guard",
          "d": "(d) pure-Python hook"}

# Pure-Python stdlib modules, in the order they are tried; the first 50 that the child
# has not loaded after its set-up (and that are .py files) are the import workload.
CANDIDATES = """
argparse ast base64 bisect bz2 calendar cmd code codeop colorsys configparser copy
csv dataclasses datetime decimal difflib dis fnmatch fractions ftplib getopt getpass
gettext glob graphlib gzip hashlib heapq hmac html html.parser http.client imaplib
inspect ipaddress locale lzma mailbox mimetypes netrc numbers optparse pickle
pickletools platform plistlib poplib pprint pstats queue quopri random reprlib sched
secrets selectors shelve shlex smtplib socketserver statistics string stringprep
subprocess tarfile tempfile textwrap timeit tokenize trace traceback uuid wave
webbrowser xml.dom.minidom xml.etree.ElementTree zipfile zoneinfo filecmp fileinput
email.parser urllib.request xmlrpc.client wsgiref.simple_server cProfile pydoc
""".split()

EXTENSION = '''
"""The benchmark's extension: every workload runs here, so under the guard it is
extension code and every mediated event is attributed to it."""


def id_loop(n, x=None):
    for _ in range(n):
        id(x)


def open_loop(path, n, mode):
    for _ in range(n):
        f = open(path, mode)
        f.close()


def import_all(names):
    for name in names:
        __import__(name)


def reimport_loop(n):
    for _ in range(n):
        import json
'''

CHILD = '''
import json, sys, time
P = json.loads(sys.argv[1])
sys.path[:0] = [P["python_dir"], P["bench_dir"], P["plugins"], P["hook_dir"]]
sys.dont_write_bytecode = True
# The same modules are loaded before every configuration, so (a)-(d) differ only in
# their hook and the import workload starts from the same sys.modules.
import importlib.abc, importlib.machinery, importlib.util, logging, sysconfig, threading
import sdk_guard as sg
import pyhook_reference
import emptyhook

cfg = P["cfg"]
spec = None
if cfg in ("c", "d", "probe"):
    policy = sg.Policy.from_dict(P["policy"])
if cfg == "b":
    emptyhook.install()
    import benchext as ext
elif cfg in ("c", "probe"):
    # preload=False: the import workload measures the extension's first imports, which
    # install() would otherwise make itself (library initialisation by the host).
    guard = sg.install(policy, preload=False)
    ext = guard.import_extension("bench")
elif cfg == "d":
    spec = policy.to_spec()
    spec["import_roots"] = sg.guard._import_roots(spec)
    pyhook_reference.install(spec)
    import benchext as ext
else:
    import benchext as ext

out = {"cfg": cfg}
if P["workload"] == "probe":
    picked = []
    for name in P["candidates"]:
        if len(picked) == P["count"]:
            break
        if name in sys.modules:
            continue
        found = importlib.util.find_spec(name)
        if found is None or not str(found.origin).endswith(".py"):
            continue
        ext.import_all([name])
        picked.append(name)
    out["modules"] = picked
elif P["workload"] == "loops":
    perf = time.perf_counter_ns
    ext.id_loop(1000)
    ext.open_loop(P["path"], 100, "rb")
    ext.reimport_loop(1000)
    for key, fn, args, n in (("id", ext.id_loop, (), P["n_id"]),
                             ("reimport", ext.reimport_loop, (), P["n_reimport"]),
                             ("open_rb", ext.open_loop, (P["path"], P["n_open"], "rb"), P["n_open"]),
                             ("open_r", ext.open_loop, (P["path"], P["n_open"], "r"), P["n_open"])):
        best = None
        for _ in range(P["repeats"]):
            t = perf()
            fn(args[0], args[1], args[2]) if args else fn(n)
            dt = (perf() - t) / n
            best = dt if best is None or dt < best else best
        out[key] = best
elif P["workload"] == "callgrind":
    # Run under valgrind --toggle-collect=<C function>: only that function's inclusive
    # instructions are counted, so the parent divides by the number of calls.
    if P["what"] == "id":
        ext.id_loop(P["n"])
    else:
        ext.open_loop(P["path"], P["n"], "rb")
else:
    names = P["modules"]
    fresh = [n for n in names if n in sys.modules]
    if fresh:
        raise SystemExit(f"already imported before the clock: {fresh}")
    t = time.perf_counter_ns()
    ext.import_all(names)
    out["import"] = time.perf_counter_ns() - t
    missing = [n for n in names if n not in sys.modules]
    if missing:
        raise SystemExit(f"not imported: {missing}")
print(json.dumps(out))
'''


def build_emptyhook(dest: Path) -> None:
    """Compile bench/emptyhook.c into DEST with the C compiler Python was built with."""
    cc = (sysconfig.get_config_var("CC") or "cc").split()
    suffix = sysconfig.get_config_var("EXT_SUFFIX") or ".so"
    include = sysconfig.get_paths()["include"]
    cmd = [*cc, "-O2", "-shared", "-fPIC", f"-I{include}", str(BENCH / "emptyhook.c"),
           "-o", str(dest / f"emptyhook{suffix}")]
    subprocess.run(cmd, check=True)


def run_child(script: Path, params: dict[str, Any]) -> dict[str, Any]:
    proc = subprocess.run([sys.executable, "-E", "-s", str(script), json.dumps(params)],
                          capture_output=True, text=True, timeout=600)
    if proc.returncode != 0:
        raise SystemExit(f"bench child ({params['cfg']}, {params['workload']}) failed:\n"
                         f"{proc.stdout}\n{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


OPENAT2_PROBE = """
import ctypes, sys
libc = ctypes.CDLL(None, use_errno=True)
class How(ctypes.Structure):
    _fields_ = [("flags", ctypes.c_uint64), ("mode", ctypes.c_uint64),
                ("resolve", ctypes.c_uint64)]
how = How(0o10000000 | 0o2000000, 0, 0x04)    # O_PATH|O_CLOEXEC, RESOLVE_NO_SYMLINKS
fd = libc.syscall(437, -100, b"/", ctypes.byref(how), ctypes.sizeof(how))
sys.exit(0 if fd >= 0 else 3)
"""


def valgrind_has_openat2() -> bool:
    """The guard resolves paths with openat2(O_PATH, RESOLVE_NO_SYMLINKS) and falls back
    to a realpath walk where the kernel (or valgrind, which emulates syscalls) says
    ENOSYS: under such a valgrind the open counts would measure the fallback."""
    native = subprocess.run([sys.executable, "-c", OPENAT2_PROBE], capture_output=True)
    under = subprocess.run(["valgrind", "-q", sys.executable, "-c", OPENAT2_PROBE],
                           capture_output=True, timeout=300)
    return native.returncode != 0 or under.returncode == 0


def callgrind_counts(script: Path, base: dict[str, Any], n: int) -> dict[str, dict[str, float]]:
    """Instructions per call, from callgrind (deterministic, blind to syscall time):
    inside builtin_id (the id() call and its audit event, hooks included) and inside
    io.open (the open and its audit event, hooks included).  The guard's classification
    of the extension's code objects happens on the first call and is amortised over N."""
    out: dict[str, dict[str, float]] = {"id": {}, "open_rb": {}}
    for what, symbol in (("id", "builtin_id"), ("open_rb", "_io_open")):
        for cfg in CONFIGS:
            with tempfile.NamedTemporaryFile(suffix=".cg") as cg:
                params = {**base, "cfg": cfg, "workload": "callgrind", "what": what, "n": n}
                proc = subprocess.run(
                    ["valgrind", "--tool=callgrind", f"--toggle-collect={symbol}",
                     f"--callgrind-out-file={cg.name}", sys.executable, "-E", "-s",
                     str(script), json.dumps(params)],
                    capture_output=True, text=True, timeout=900)
                if proc.returncode != 0:
                    raise SystemExit(f"callgrind run ({cfg}, {what}) failed:\n{proc.stderr}")
                total = None
                for line in Path(cg.name).read_text().splitlines():
                    if line.startswith("summary:") or line.startswith("totals:"):
                        total = int(line.split()[1])
                if total is None:
                    raise SystemExit(f"no instruction total in callgrind output ({cfg}, {what})")
                out[what][cfg] = total / n
    return out


def policy_for(plugins: Path, data: Path, modules: list[str]) -> dict[str, Any]:
    # A dotted name imports its parent packages first; each is an import to allow.
    allow = {".".join(m.split(".")[:i + 1]) for m in modules for i in range(m.count(".") + 1)}
    return {
        "version": 1,
        "extensions": {
            "bench": {
                "package": "benchext",
                "path": str(plugins),
                "imports": {"allow": sorted(allow | {"json"})},
                "fs": {"read": [str(data)]},
            }
        },
    }


def fmt_ns(ns: float) -> str:
    if ns >= 1e6:
        return f"{ns / 1e6:.2f} ms"
    if ns >= 1e4:
        return f"{ns / 1e3:.1f} µs"
    return f"{ns:.1f} ns"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=5,
                    help="children per configuration and workload (default 5)")
    ap.add_argument("--quick", action="store_true", help="fewer iterations (a smoke run)")
    ap.add_argument("--json", action="store_true", help="also print the raw samples as JSON")
    ap.add_argument("--callgrind", action="store_true",
                    help="also count instructions per call under valgrind (deterministic)")
    args = ap.parse_args(argv)
    scale = 0.1 if args.quick else 1.0

    with tempfile.TemporaryDirectory(prefix="sdk-guard-bench-") as tmp_s:
        tmp = Path(tmp_s).resolve()
        hook_dir, plugins, data = tmp / "hook", tmp / "plugins", tmp / "data"
        for d in (hook_dir, plugins / "benchext", data):
            d.mkdir(parents=True)
        build_emptyhook(hook_dir)
        (plugins / "benchext" / "__init__.py").write_text(textwrap.dedent(EXTENSION))
        target = data / "allowed.txt"
        target.write_text("hello\n")
        script = tmp / "child.py"
        script.write_text(textwrap.dedent(CHILD))

        base = {"python_dir": str(ROOT / "python"), "bench_dir": str(BENCH),
                "plugins": str(plugins), "hook_dir": str(hook_dir), "path": str(target),
                "n_id": int(2_000_000 * scale), "n_open": int(20_000 * scale),
                "n_reimport": int(200_000 * scale),
                "repeats": 5}
        probe = run_child(script, {**base, "cfg": "probe", "workload": "probe",
                                   "candidates": CANDIDATES, "count": 50,
                                   "policy": policy_for(plugins, data, CANDIDATES)})
        modules = probe["modules"]
        if len(modules) < 50:
            print(f"note: only {len(modules)} candidate modules were fresh", file=sys.stderr)
        base["policy"] = policy_for(plugins, data, modules)
        base["modules"] = modules

        samples: dict[str, dict[str, list[float]]] = {
            w: {c: [] for c in CONFIGS}
            for w in ("id", "reimport", "open_rb", "open_r", "import")}
        started = time.monotonic()
        for _ in range(max(1, args.rounds)):
            for cfg in CONFIGS:
                r = run_child(script, {**base, "cfg": cfg, "workload": "loops"})
                for w in ("id", "reimport", "open_rb", "open_r"):
                    samples[w][cfg].append(r[w])
            for cfg in CONFIGS:
                r = run_child(script, {**base, "cfg": cfg, "workload": "import"})
                samples["import"][cfg].append(r["import"])
        elapsed = time.monotonic() - started
        counts = callgrind_counts(script, base, int(20_000 * scale)) if args.callgrind else None
        if counts is not None and not valgrind_has_openat2():
            # Said, not silently measured: the open row is then the fallback path.
            counts["_note"] = {"openat2": 0.0}

    best = {w: {c: min(v) for c, v in s.items()} for w, s in samples.items()}
    med = {w: {c: statistics.median(v) for c, v in s.items()} for w, s in samples.items()}
    print_report(best, med, len(modules), args.rounds, elapsed)
    if counts is not None:
        print_counts(counts)
    if args.json:
        print(json.dumps({"samples": samples, "modules": modules}))
    return 0


def overhead_ratio(v: dict[str, float], num: str, den: str) -> float:
    """(num - a) / (den - a); infinite when the denominator's overhead is <= 0."""
    n, d = v[num] - v["a"], v[den] - v["a"]
    if d <= 0:
        return float("inf")
    return n / d


def print_report(best: dict[str, dict[str, float]], med: dict[str, dict[str, float]],
                 nmods: int, rounds: int, elapsed: float) -> None:
    names = {"id": "id() (unmediated), per call",
             "reimport": "import json (already imported), per statement",
             "open_rb": 'open(p, "rb")+close, per op',
             "open_r": "open(p)+close (text), per op",
             "import": f"import {nmods} stdlib modules, per run"}
    print(f"## sdk_guard Process Guard overhead ({time.strftime('%Y-%m-%d')}, "
          f"{os.cpu_count()} CPUs, Python {sys.version.split()[0]}, {rounds} children "
          f"per cell, {elapsed:.0f} s)\n")
    print("Best of all samples (median in brackets).\n")
    print("| workload | " + " | ".join(LABELS[c] for c in CONFIGS) + " |")
    print("|---|" + "---:|" * len(CONFIGS))
    for w, label in names.items():
        cells = [f"{fmt_ns(best[w][c])} ({fmt_ns(med[w][c])})" for c in CONFIGS]
        print(f"| {label} | " + " | ".join(cells) + " |")

    rows = []
    for stat, v in (("best", best), ("median", med)):
        unmed = overhead_ratio(v["id"], "c", "b")
        rows.append((f"unmediated id(): guard overhead / empty C hook overhead [{stat}]",
                     unmed, "≤ 1.2", unmed <= 1.2))
        ratio = v["reimport"]["c"] / v["reimport"]["a"]
        rows.append((f"import of an already-imported module: (c) / (a) [{stat}]", ratio,
                     "≤ 1.5", ratio <= 1.5))
        for w, label in (("open_rb", 'open "rb"'), ("open_r", "open text")):
            ratio = v[w]["c"] / v[w]["a"]
            rows.append((f"mediated {label}: (c) / (a) [{stat}]", ratio, "≤ 1.10",
                         ratio <= 1.10))
        for w, label in (("open_rb", 'open "rb"'), ("open_r", "open text")):
            vs = overhead_ratio(v[w], "d", "c")
            rows.append((f"mediated {label}: pure-Python overhead / guard overhead [{stat}]",
                         vs, "≥ 10", vs >= 10))
    info = []
    for w in ("id", "import"):
        info.append((f"{names[w]}: pure-Python overhead / guard overhead [best]",
                     overhead_ratio(best[w], "d", "c")))
        info.append((f"{names[w]}: (c) / (a) [best]", best[w]["c"] / best[w]["a"]))

    print("\n| goal (docs/design.md) | measured | target | status |")
    print("|---|---:|---:|---|")
    for label, ratio, target, ok in rows:
        shown = "∞" if ratio == float("inf") else f"{ratio:.2f}×"
        print(f"| {label} | {shown} | {target} | {'met' if ok else 'NOT met'} |")
    print("\n| other ratios (no goal) | measured |")
    print("|---|---:|")
    for label, ratio in info:
        shown = "∞" if ratio == float("inf") else f"{ratio:.2f}×"
        print(f"| {label} | {shown} |")


def print_counts(counts: dict[str, dict[str, float]]) -> None:
    if "_note" in counts:
        print("\nNOTE: this valgrind does not emulate openat2 (ENOSYS), so under callgrind "
              "the guard takes its realpath fallback: the open row below measures that "
              "path, not the openat2 fast path the wall-clock table measured.")
    print("\n| instructions per call (callgrind) | " + " | ".join(LABELS[c] for c in CONFIGS)
          + " | (c) / (a) | (c−a) / (b−a) | (d−a) / (c−a) |")
    print("|---|" + "---:|" * (len(CONFIGS) + 3))
    for w, label in (("id", "id() (inside builtin_id)"),
                     ("open_rb", 'open(p, "rb") (inside io.open)'
                      + (" [realpath fallback]" if "_note" in counts else ""))):
        v = counts[w]
        cells = [f"{v[c]:,.0f}" for c in CONFIGS]
        ratios = [v["c"] / v["a"], overhead_ratio(v, "c", "b"), overhead_ratio(v, "d", "c")]
        print(f"| {label} | " + " | ".join(cells) + " | "
              + " | ".join(f"{r:.2f}×" for r in ratios) + " |")


if __name__ == "__main__":
    sys.exit(main())
