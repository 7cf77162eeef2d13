"""``python -m sdk_guard audit FILE``: filters, summary, JSON output, --follow."""
from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from _support.child import child_env, run_child

SPAN_A = "a-00000000000a"
SPAN_B = "a-00000000000b"
TASK = "t-000000000001"


def rec(seq: int, **kw: object) -> dict:
    base = {"seq": seq, "ts": f"2026-11-28T22:00:{seq:02d}.000000Z", "layer": "guard",
            "principal": "acme", "capability": "net.connect", "target": "10.0.0.5:5432",
            "decision": "deny", "rule": "extensions.acme.net.connect",
            "span": {"action": SPAN_A, "task": None, "model_call": None, "storage_mutation": None},
            "user": "u-1", "org": "o-1", "span_path": [SPAN_A], "pid": 10, "tid": 10}
    base.update(kw)
    return base


@pytest.fixture
def trail(tmp_path: Path) -> Path:
    recs = [
        rec(0),
        rec(1, principal="beta", capability="fs.read", target="/etc/shadow", user="u-2", org="o-2",
            span={"action": SPAN_B, "task": TASK, "model_call": None, "storage_mutation": None},
            span_path=[SPAN_B, TASK]),
        rec(2, decision="allow"),
        rec(3, capability="fs.write", target="/tmp/x"),
        rec(6, layer="audit", principal=None, capability="audit.dropped", target=None,
            decision="dropped", rule=None, dropped=2, first_seq=4, last_seq=5, user=None,
            org=None, span=dict.fromkeys(("action", "task", "model_call", "storage_mutation")),
            span_path=[]),
    ]
    path = tmp_path / "audit.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in recs) + '{"seq": 7, "torn')
    return path


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "sdk_guard", "audit", *args], env=child_env(),
                          capture_output=True, text=True, timeout=60)


def seqs(proc: subprocess.CompletedProcess[str]) -> list[int]:
    assert proc.returncode == 0, proc.stderr
    return [json.loads(ln)["seq"] for ln in proc.stdout.splitlines()]


@pytest.mark.parametrize("args, expected", [
    ((), [0, 1, 2, 3, 6]),
    (("--principal", "acme"), [0, 2, 3]),
    (("--principal", "acme", "--principal", "beta"), [0, 1, 2, 3]),
    (("--capability", "fs.*"), [1, 3]),
    (("--capability", "net.connect", "--decision", "deny"), [0]),
    (("--span", TASK), [1]),
    (("--span", SPAN_A), [0, 2, 3]),
    (("--user", "u-2"), [1]),
    (("--org", "o-1", "--decision", "deny"), [0, 3]),
    (("--layer", "audit"), [6]),
    (("--since", "2026-11-28T22:00:02Z", "--until", "2026-11-28T22:00:03Z"), [2, 3]),
    (("--since", "2026-11-28T22:00:02+00:00"), [2, 3, 6]),
])
def test_filters_select_matching_records(trail: Path, args: tuple[str, ...],
                                         expected: list[int]) -> None:
    assert seqs(cli(str(trail), "--json", *args)) == expected


def test_warns_about_drops_and_incomplete_lines(trail: Path) -> None:
    proc = cli(str(trail))
    assert proc.returncode == 0
    assert "2 dropped record(s)" in proc.stderr
    assert "skipped 1 unreadable or incomplete line(s)" in proc.stderr
    lines = proc.stdout.splitlines()
    assert "action=" + SPAN_A in lines[0] and "user=u-1 org=o-1" in lines[0]
    assert "dropped=2 seq=4..5" in lines[-1]


def test_summary_counts_denials_per_principal_and_capability(trail: Path) -> None:
    proc = cli(str(trail), "--summary", "--json")
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    assert summary["principals"] == {"acme": {"fs.write": 1, "net.connect": 1},
                                     "beta": {"fs.read": 1}}
    assert summary["denials"] == 3 and summary["records"] == 5 and summary["dropped"] == 2
    table = cli(str(trail), "--summary").stdout
    assert table.splitlines()[0].split() == ["principal", "fs.read", "fs.write", "net.connect", "total"]
    assert table.splitlines()[1].split() == ["acme", "-", "1", "1", "2"]


def test_bad_time_is_a_usage_error(trail: Path) -> None:
    proc = cli(str(trail), "--since", "last tuesday")
    assert proc.returncode == 2 and "ISO 8601" in proc.stderr


def test_missing_file_is_an_error(tmp_path: Path) -> None:
    proc = cli(str(tmp_path / "nope.jsonl"))
    assert proc.returncode == 1 and "cannot read" in proc.stderr


def test_follow_prints_records_appended_later_and_across_rotation(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    path.write_text(json.dumps(rec(0)) + "\n")
    proc = subprocess.Popen([sys.executable, "-m", "sdk_guard", "audit", str(path), "--follow",
                             "--json", "--principal", "acme"], env=child_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        assert json.loads(proc.stdout.readline())["seq"] == 0
        time.sleep(0.3)
        with path.open("a") as f:
            f.write(json.dumps(rec(1, principal="beta")) + "\n")
            f.write(json.dumps(rec(2)) + "\n")
        assert json.loads(proc.stdout.readline())["seq"] == 2
        path.rename(tmp_path / "audit.jsonl.1")
        path.write_text(json.dumps(rec(3)) + "\n")
        assert json.loads(proc.stdout.readline())["seq"] == 3
    finally:
        proc.kill()
        proc.communicate()


def test_a_real_trail_traces_a_denial_to_its_action_user_and_org(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    proc = run_child(f"""
        from sdk_guard import _guard, audit
        audit.add_sink(audit.JsonlSink({str(log)!r}))
        with audit.span("action", "checkout", user="u-9", org="o-9") as a:
            with audit.span("task", "pay"):
                _guard.emit("guard", "net.connect", "deny", principal="acme", target="1.2.3.4:443")
        _guard.emit("guard", "net.connect", "deny", principal="acme", target="5.6.7.8:443")
        audit.flush()
        print(a.id)
    """)
    action = proc.stdout.strip()
    out = cli(str(log), "--json", "--span", action, "--decision", "deny")
    recs = [json.loads(ln) for ln in out.stdout.splitlines()]
    assert [r["target"] for r in recs] == ["1.2.3.4:443"]
    assert (recs[0]["user"], recs[0]["org"]) == ("u-9", "o-9")
    opened = [json.loads(ln) for ln in cli(str(log), "--json", "--span", action,
                                            "--decision", "open").stdout.splitlines()]
    assert [r["span_name"] for r in opened] == ["checkout", "pay"]
