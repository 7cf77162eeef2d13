"""sdk_guard demo: a host application loading one well-behaved and one hostile extension.

Run from the repository root after building the extension in place (``make demo``).
Each action runs inside an audit span with a user and an org; every decision is
printed, the audit trail goes to a JSONL file in a temporary directory, and a summary
of that file is printed at the end.  Exit status 0 means every good action succeeded
and every hostile action was denied, so the demo doubles as a smoke test.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.dont_write_bytecode = True             # keep examples/ free of __pycache__
sys.path.insert(0, str(ROOT / "python"))   # sdk_guard, built in place
sys.path.insert(0, str(HERE))              # hostapp, the trusted host package

import sdk_guard as sg  # noqa: E402

import hostapp.db  # noqa: E402
import hostapp.sdk  # noqa: E402

GOOD = [
    ("load settings.json from its data directory", "load_settings"),
    ("fetch through the SDK gateway", "fetch_quote"),
    ("store a summary through SDK storage", "store_summary"),
    ("write a report to its out/ directory", "write_report"),
]
EVIL = [
    ("import the private module hostapp.db", "import_private_module"),
    ("read /etc/passwd", "read_passwd"),
    ("connect to 127.0.0.1:9", "connect_loopback"),
    ("spawn a process (subprocess.run)", "spawn_process"),
    ("run a shell (os.system)", "system_shell"),
    ("load native code (ctypes)", "use_ctypes"),
    ("walk to the host's frame via a traceback", "walk_frames_via_traceback"),
    ("grab the caller's frame (sys._getframe)", "get_caller_frame"),
    ("exec a string of code", "exec_code"),
]


def short(value: Any, limit: int = 70) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def run_action(extension: str, module: Any, label: str, func: str,
               user: str, org: str) -> tuple[bool, str]:
    """Run MODULE.FUNC inside an action span; returns (denied, line printed)."""
    fn: Callable[[], Any] = getattr(module, func)
    with sg.audit.span("action", f"{extension}.{func}", user=user, org=org) as span:
        try:
            result = fn()
        # ImportBoundaryError is an ImportError and only a *virtual* PolicyViolation
        # (CPython cannot lay out both bases), so an except clause names both.
        except (sg.PolicyViolation, sg.ImportBoundaryError) as exc:
            line = (f"  DENIED   {extension}: {label}\n"
                    f"           {type(exc).__name__}: {exc}  [{span.id}]")
            print(line)
            return True, line
        except Exception as exc:   # the operation was allowed but failed on its own
            line = (f"  ERROR    {extension}: {label}\n"
                    f"           {type(exc).__name__}: {exc}  [{span.id}]")
            print(line)
            return False, line
    line = f"  allowed  {extension}: {label} -> {short(result)}  [{span.id}]"
    print(line)
    return False, line


def main() -> int:
    work = Path(tempfile.mkdtemp(prefix="sdk_guard_demo-")).resolve()
    data = work / "data"
    for ext in ("good_ext", "evil_ext"):
        (data / ext).mkdir(parents=True)
    (data / "good_ext" / "out").mkdir()
    (data / "good_ext" / "settings.json").write_text(
        json.dumps({"greeting": "hello from good_ext", "retries": 3}), encoding="utf-8")
    hostapp.db.open_store(work / "store")
    for ext in ("good_ext", "evil_ext"):
        hostapp.sdk._register_data_dir(ext, str(data / ext))

    trail = work / "audit.jsonl"
    sg.audit.add_sink(sg.audit.JsonlSink(trail))

    policy = sg.Policy.from_toml(HERE / "policy.toml", variables={"data": str(data)})
    guard = sg.install(policy)
    print(f"sdk_guard {sg.__version__}: installed {policy!r}")
    print(f"data directory: {data}\n")

    failures: list[str] = []
    good = guard.import_extension("good_ext")
    print("good_ext (well-behaved): every action should be allowed")
    for label, func in GOOD:
        denied, line = run_action("good_ext", good, label, func, user="u-alice", org="o-acme")
        if denied or "ERROR" in line:
            failures.append(f"good_ext {func} did not succeed")

    print("\nevil_ext (hostile): every action should be DENIED")
    try:
        evil = guard.import_extension("evil_ext")
    except (sg.PolicyViolation, sg.ImportBoundaryError) as exc:
        print(f"  DENIED   evil_ext: import of the extension itself: {exc}")
        failures.append("evil_ext could not even be imported")
        evil = None
    if evil is not None:
        for label, func in EVIL:
            denied, _ = run_action("evil_ext", evil, label, func, user="u-mallory", org="o-evil")
            if not denied:
                failures.append(f"evil_ext {func} was not denied")

    if not sg.audit.flush(timeout=10.0):
        failures.append("the audit trail could not be flushed")
    print(f"\naudit trail: {trail}")
    # Host code (trusted) may run the CLI; an extension could not.
    summary = subprocess.run(
        [sys.executable, "-m", "sdk_guard", "audit", "--summary", str(trail)],
        capture_output=True, text=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(
            [str(ROOT / "python")] + ([os.environ["PYTHONPATH"]]
                                      if os.environ.get("PYTHONPATH") else []))})
    print(summary.stdout.rstrip() or summary.stderr.rstrip())

    if failures:
        print("\nFAILED: " + "; ".join(failures))
        return 1
    print(f"\nOK: {len(GOOD)} good actions allowed, {len(EVIL)} hostile actions denied")
    return 0


if __name__ == "__main__":
    sys.exit(main())
