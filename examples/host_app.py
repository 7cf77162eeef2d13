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

import hostapp.db  # noqa: E402
import hostapp.sdk  # noqa: E402

import sdk_guard as sg  # noqa: E402

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


def app_boundary(guard: Any, work: Path, failures: list[str]) -> None:
    """Two organizations share one database through scoped storage; one cross-org
    attempt is denied and one export needs (and gets) an approval.  These records go to
    a second trail, the application's, so the guard trail above stays as it was."""
    import importlib

    from sdk_guard.data import Storage

    sg.audit.remove_sink(sg.audit.sinks()[0])
    trail = work / "app-audit.jsonl"
    sg.audit.add_sink(sg.audit.JsonlSink(trail))
    storage = Storage(f"sqlite:///{work / 'app.db'}")
    hostapp.sdk._open_storage(storage)
    ledger = importlib.import_module("good_ext.ledger")      # as good_ext
    evil = importlib.import_module("evil_ext.ledger")        # as evil_ext
    storage.create_all()
    sg.approvals.configure(sg.approvals.Approvals(
        approver=lambda req: (req.org == "o-acme", "exports of o-acme are fine"),
        approver_name="demo-operator"), guard=guard)

    print("\napplication boundary: two organizations, one database (scoped storage, SQLite)")
    people = {"u-alice": ("o-acme", ["invoices.read", "invoices.write"]),
              "u-bob": ("o-globex", ["invoices.read", "invoices.write"]),
              "u-carol": ("o-acme", [])}

    def call(user: str, label: str, fn: Callable[[], Any]) -> Any:
        org, perms = people[user]
        with sg.request(user=user, org=org, permissions=perms):
            try:
                result = fn()
            except sg.PolicyViolation as exc:
                print(f"  DENIED   {user}@{org}: {label}\n           {exc}")
                return exc
        print(f"  allowed  {user}@{org}: {label} -> {short(result)}")
        return result

    call("u-alice", "invoices.create", lambda: ledger.create("Initech", 120))
    call("u-bob", "invoices.create", lambda: ledger.create("Umbrella", 75))
    acme = call("u-alice", "invoices.list", ledger.list_invoices)
    globex = call("u-bob", "invoices.list", ledger.list_invoices)
    if acme != [("Initech", 120)] or globex != [("Umbrella", 75)]:
        failures.append("an organization saw another organization's invoices")
    if not isinstance(call("u-carol", "invoices.list (no invoices.read)",
                           ledger.list_invoices), sg.PolicyViolation):
        failures.append("u-carol listed invoices without invoices.read")
    if not isinstance(call("u-bob", "evil_ext plants a note in o-acme",
                           lambda: evil.plant_note_in_other_org("o-acme")), sg.PolicyViolation):
        failures.append("evil_ext wrote a row into another organization")
    if call("u-alice", "invoices.export (approval=True)", ledger.export) != \
            "exported 1 invoices":
        failures.append("the approved export did not run")

    if not sg.audit.flush(timeout=10.0):
        failures.append("the application audit trail could not be flushed")
    records = [json.loads(ln) for ln in trail.read_text().splitlines() if ln.strip()]
    cross = [r for r in records if r["capability"] == "storage" and r["decision"] == "deny"]
    approved = [r for r in records if r["capability"] == "approval"
                and r["decision"] == "approved"]
    print(f"\napplication audit trail: {trail}")
    for r in cross + approved:
        print(f"  seq {r['seq']}: {r['decision']} {r['capability']} {r['target']!r} "
              f"principal={r['principal']} user={r['user']} org={r['org']} "
              f"action span={r['span']['action']}"
              + (f" approver={r['approver']}" if r.get("approver") else ""))
    if len(cross) != 1 or cross[0]["org"] != "o-globex":
        failures.append("the cross-org attempt is not in the application audit trail")
    if len(approved) != 1 or approved[0]["approver"] != "demo-operator":
        failures.append("the approval is not in the application audit trail")


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

    app_boundary(guard, work, failures)

    if failures:
        print("\nFAILED: " + "; ".join(failures))
        return 1
    print(f"\nOK: {len(GOOD)} good actions allowed, {len(EVIL)} hostile actions denied")
    return 0


if __name__ == "__main__":
    sys.exit(main())
