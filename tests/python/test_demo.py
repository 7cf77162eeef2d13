"""The demo (examples/host_app.py, `make demo`) doubles as a smoke test: it runs in a
child interpreter (it installs the guard) and must exit 0 with every hostile action
reported as denied and every good action allowed."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "examples" / "host_app.py"

HOSTILE = [
    "import the private module hostapp.db",
    "read /etc/passwd",
    "connect to 127.0.0.1:9",
    "spawn a process (subprocess.run)",
    "run a shell (os.system)",
    "load native code (ctypes)",
    "walk to the host's frame via a traceback",
    "grab the caller's frame (sys._getframe)",
    "exec a string of code",
]
GOOD = [
    "load settings.json from its data directory",
    "fetch through the SDK gateway",
    "store a summary through SDK storage",
    "write a report to its out/ directory",
]


def run_demo() -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return subprocess.run([sys.executable, str(DEMO)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)


def test_demo_exits_zero_with_every_hostile_action_denied() -> None:
    proc = run_demo()
    out = proc.stdout
    assert proc.returncode == 0, f"demo exited {proc.returncode}\n{out}\n{proc.stderr}"
    for label in HOSTILE:
        assert f"DENIED   evil_ext: {label}\n" in out, f"not reported denied: {label}\n{out}"
    for label in GOOD:
        assert f"allowed  good_ext: {label} ->" in out, f"not reported allowed: {label}\n{out}"
    assert "allowed  evil_ext" not in out
    assert "ImportBoundaryError: extension 'evil_ext' may not import 'hostapp.db'" in out
    assert "use hostapp.sdk.put/get instead" in out
    assert "may not net.connect '127.0.0.1:9'" in out


def test_demo_writes_an_audit_trail_with_spans_users_and_denials() -> None:
    import json

    proc = run_demo()
    assert proc.returncode == 0, proc.stdout + proc.stderr
    line = next(ln for ln in proc.stdout.splitlines() if ln.startswith("audit trail: "))
    trail = Path(line.split(": ", 1)[1])
    records = [json.loads(ln) for ln in trail.read_text().splitlines() if ln.strip()]
    denials = [r for r in records if r.get("decision") == "deny"]
    assert {r["principal"] for r in denials} == {"evil_ext"}
    assert len(denials) == len(HOSTILE)
    assert all(r["user"] == "u-mallory" and r["org"] == "o-evil" for r in denials)
    assert all(r["span"]["action"] for r in denials)
    assert f"{len(HOSTILE)} denials" in proc.stdout
