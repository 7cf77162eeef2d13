"""Approvals: approval=True actions and the guard's `approve` capabilities go through
one service; approve, deny and expire are audited with the action's span id."""
from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from _support.child import child_env, program, run_program_json, write_tree


def test_callback_approver_approves_and_denies_with_audited_decisions() -> None:
    out = run_program_json("approvals_host", "callback")
    assert out["ok"] == ["ok", "sent 10"]
    assert out["no"][:2] == ["violation", "approval"]
    assert "denied by risk-bot: limit is 10" in out["no"][2]
    assert out["seen"] == [["u-1", "o-1", "payouts.send", ["10"]],
                           ["u-1", "o-1", "payouts.send", ["999"]]]
    t = out["trail"]
    assert [r["decision"] for r in t] == ["pending", "approved", "pending", "refused"]
    assert t[1]["approver"] == "risk-bot" and t[3]["approver"] == "risk-bot"
    # each pair is correlated to its own action span
    assert t[0]["action_span"] == t[1]["action_span"] != t[2]["action_span"] == t[3]["action_span"]
    assert all(r["span_name"] == "payouts.send" and r["org"] == "o-1" for r in t)
    assert t[0]["id"] == t[1]["id"] != t[2]["id"]


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "sdk_guard", "approvals", *args],
                          capture_output=True, text=True, env=child_env(), timeout=60)


def _wait_pending(store: Path, proc: subprocess.Popen[str], n: int = 1) -> list[dict]:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()
        if store.exists():
            r = _cli("--store", str(store), "list", "--json")
            if r.returncode == 0 and len(json.loads(r.stdout)) >= n:
                return json.loads(r.stdout)
        time.sleep(0.1)
    raise AssertionError("no pending approval request appeared")


def test_operator_queue_approve_deny_and_expire_through_the_cli(tmp_path: Path) -> None:
    store = tmp_path / "approvals.db"
    def host(timeout: float) -> subprocess.Popen[str]:
        return subprocess.Popen([sys.executable, program("approvals_host"), "queue", str(store),
                                 str(timeout)],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env=child_env())

    def result(p: subprocess.Popen[str]) -> dict:
        o, e = p.communicate(timeout=60)
        assert p.returncode == 0, e
        return json.loads(o.strip().splitlines()[-1])

    p = host(60)
    pending = _wait_pending(store, p)[0]
    assert (pending["target"], pending["user"], pending["org"]) == ("payouts.send", "u-1", "o-2")
    assert pending["span"].startswith("a-")
    listing = _cli("--store", str(store), "list")
    assert pending["id"] in listing.stdout and "payouts.send" in listing.stdout
    r = _cli("--store", str(store), "approve", pending["id"], "--as", "alice")
    assert r.returncode == 0, r.stderr
    out = result(p)
    assert out["res"] == ["ok", "sent 5"]
    assert [(t["decision"], t["approver"]) for t in out["trail"]] == \
        [("pending", None), ("approved", "alice")]
    assert out["trail"][1]["action_span"] == pending["span"]
    assert _cli("--store", str(store), "deny", pending["id"]).returncode == 1  # decided

    p = host(60)
    pending = [x for x in _wait_pending(store, p) if x["status"] == "pending"][0]
    assert _cli("--store", str(store), "deny", pending["id"], "--as", "bob",
                "--reason", "not today").returncode == 0
    out = result(p)
    assert out["res"][:2] == ["violation", "approval"]
    assert "denied by bob: not today" in out["res"][2]
    assert out["trail"][-1]["decision"] == "refused"

    p = host(0.5)
    out = result(p)
    assert out["res"][:2] == ["violation", "approval"] and "expired" in out["res"][2]
    assert out["trail"][-1]["decision"] == "expired"
    expired_id = out["trail"][-1]["id"]
    late = _cli("--store", str(store), "approve", expired_id)
    assert late.returncode == 1 and "already expired" in late.stderr


def test_guard_approve_capabilities_go_through_the_approvals_service(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "report.txt").write_text("numbers")
    write_tree(tmp_path / "plugins", {
        "acme/__init__.py": """
            def read(path):
                with open(path) as f:
                    return f.read()
            """,
    })
    out = run_program_json("approval_once", str(tmp_path / "plugins"), str(tmp_path / "data"))
    assert out["res"] == ["numbers", "fs.read"]
    assert out["answers"][0][:2] == ["acme", "fs.read"]
    assert out["answers"][0][2].endswith("report.txt")
    assert ["app", "approval", "approved", "ops"] in out["recs"]
    assert ["app", "approval", "refused", "ops"] in out["recs"]
    # the guard's own record of the decision is still written
    assert ["guard", "fs.read", "approved", None] in out["recs"]
    assert ["guard", "fs.read", "refused", None] in out["recs"]


def test_approval_needed_without_a_service_is_refused() -> None:
    out = run_program_json("approvals_host", "none")
    assert out["res"][:2] == ["violation", "approval"]
    assert "no approvals service" in out["res"][2]


