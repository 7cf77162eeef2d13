"""The CLI on hostile input: no traceback, bounded memory, rotation-safe --follow.

Each case ran into a traceback (or lost records) before.  The CLI runs as
``python -m sdk_guard`` in a child so what a user sees is what is checked.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from _support.child import ROOT, child_env
from sdk_guard._cli import audit as cli_audit
from sdk_guard.policy import Policy


def run_cli(*args: str | bytes, timeout: float = 60) -> subprocess.CompletedProcess[bytes]:
    proc = subprocess.run([sys.executable, "-m", "sdk_guard", *args], cwd=ROOT,
                          env=child_env(), capture_output=True, timeout=timeout, check=False)
    assert b"Traceback" not in proc.stderr, proc.stderr.decode(errors="replace")
    return proc


SINKS = 'version = 1\n[audit]\nsinks = [{type = "jsonl", path = "/tmp/a.jsonl"}, ' \
        '{type = "memory"}]\n'


def test_check_prints_a_policy_with_audit_sinks_that_loads_again(tmp_path: Path) -> None:
    p = tmp_path / "p.toml"
    p.write_text(SINKS)
    proc = run_cli("check", str(p))
    assert proc.returncode == 0
    again = tmp_path / "again.toml"
    again.write_bytes(proc.stdout)
    assert Policy.from_toml(again).data == Policy.from_toml(p).data


@pytest.mark.parametrize("command", ["check", "explain"])
def test_check_and_explain_survive_non_utf8_file_names_and_contents(
        tmp_path: Path, command: str) -> None:
    odd = os.fsencode(tmp_path) + b"/p\xff\xfe.toml"
    with open(odd, "wb") as f:
        f.write(SINKS.encode())
    proc = run_cli(command, odd)
    assert proc.returncode == 0
    assert b"p\\udcff\\udcfe.toml" in proc.stdout          # shown escaped
    with open(odd, "wb") as f:
        f.write(b"version = 1\n# \xff\n")
    proc = run_cli(command, odd)
    assert proc.returncode in (1, 2)
    assert b"not UTF-8 text (byte 0xff" in proc.stderr
    proc = run_cli(command, os.fsencode(tmp_path) + b"/missing\xff.toml")
    assert proc.returncode in (1, 2) and b"missing\\udcff.toml" in proc.stderr


WEIRD: list[Any] = [
    {"seq": None, "ts": None, "layer": 5, "decision": [1], "principal": {"a": 1},
     "capability": 3, "target": "\x1b[31mred\x1b]0;title\x07", "rule": ["x"], "span": [1],
     "span_path": 5, "user": ["u"], "org": {}},
    {"seq": "x", "decision": "deny", "principal": ["p"], "capability": {"c": 1},
     "target": "\u202eevil\nforged line", "span": {"action": [1]}, "span_path": [[1]],
     "span_id": 7, "dropped": 10 ** 30},
    {"decision": "dropped", "dropped": True, "first_seq": {}, "last_seq": []},
    {"seq": 9, "decision": "deny", "principal": "acme", "capability": "fs.read",
     "target": "\ud800\udfff\udc00", "ts": "9" * 10_000},
]


@pytest.fixture
def weird(tmp_path: Path) -> Path:
    path = tmp_path / "weird.jsonl"
    with path.open("w") as f:
        for r in WEIRD:
            f.write(json.dumps(r) + "\n")
        f.write("[" * 100_000 + "]" * 100_000 + "\n")      # nesting: RecursionError
        f.write('{"seq": ' + "1" * 5000 + "}\n")           # int digit limit
        f.write('"just a string"\n')
    return path


@pytest.mark.parametrize("extra", [
    (), ("--json",), ("--summary",), ("--summary", "--json"),
    ("--span", "x", "--principal", "a", "--capability", "net.*", "--user", "u", "--org", "o",
     "--layer", "l", "--decision", "deny"),
    ("--since", "99999999999999999999d"), ("--since", "9" * 400 + ".5s"),
    ("--until", "9999-12-31T23:59:59-23:59"), ("--since", "1970-01-01"),
], ids=["text", "json", "summary", "summary-json", "all-filters", "huge-since-days",
        "huge-since-seconds", "max-until", "epoch"])
def test_audit_reads_wrong_typed_and_unprintable_records_without_traceback(
        weird: Path, extra: tuple[str, ...]) -> None:
    proc = run_cli("audit", str(weird), *extra)
    assert proc.returncode == 0
    assert b"skipped 3 unreadable" in proc.stderr
    assert b"\x1b" not in proc.stdout and b"\x07" not in proc.stdout
    assert "\u202e".encode() not in proc.stdout
    if not extra:
        assert proc.stdout.count(b"\n") == len(WEIRD)       # the newline stayed escaped
        assert b"\\x1b[31mred" in proc.stdout and b"\\u202eevil\\nforged" in proc.stdout


def test_audit_summary_json_counts_unreadable_lines(weird: Path) -> None:
    proc = run_cli("audit", str(weird), "--summary", "--json")
    summary = json.loads(proc.stdout)
    assert summary["unreadable"] == 3
    assert summary["records"] == len(WEIRD)
    assert summary["principals"]["acme"] == {"fs.read": 1}
    assert summary["dropped"] == 0          # neither True nor 10**30 is a drop count


def test_audit_bad_since_argument_is_a_usage_error(weird: Path) -> None:
    proc = run_cli("audit", str(weird), "--since", b"\xff")
    assert proc.returncode == 2 and b"cannot read time \\udcff" in proc.stderr


def rec(seq: int) -> str:
    return json.dumps({"seq": seq, "ts": "2026-11-28T22:00:00Z", "layer": "guard",
                       "decision": "deny", "principal": "acme", "capability": "fs.read",
                       "target": f"/t/{seq}"}) + "\n"


def test_a_line_longer_than_the_cap_is_one_counted_unreadable_record(tmp_path: Path) -> None:
    path = tmp_path / "long.jsonl"
    with path.open("w") as f:
        f.write(rec(1))
        f.write('{"target": "' + "x" * (3 * cli_audit.MAX_LINE) + '"}\n')
        f.write(rec(2))
    proc = run_cli("audit", str(path), "--json")
    assert [json.loads(x)["seq"] for x in proc.stdout.splitlines()] == [1, 2]
    assert b"skipped 1 unreadable" in proc.stderr
    assert f"1 of them longer than {cli_audit.MAX_LINE} bytes".encode() in proc.stderr


def test_reader_skips_an_over_long_line_in_bounded_reads(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    path.write_text(rec(1) + "y" * 1000 + "\n" + rec(2) + "z" * 100)
    reader = cli_audit.Reader(max_line=200)
    assert [r["seq"] for r in reader.read(str(path))] == [1, 2]
    assert reader.oversized == 1 and reader.unreadable == 2     # + the torn last line


def test_summary_table_is_bounded_by_max_cells() -> None:
    summary = cli_audit.Summary(max_cells=3)
    for i in range(100):
        summary.add({"decision": "deny", "principal": f"p{i}", "capability": "fs.read"})
    result = summary.result()
    assert result["denials"] == 100
    assert len(result["principals"]) == 4 and result["principals"]["(other)"] == {
        "(other)": 97}


def _follow(path: Path) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "sdk_guard", "audit", str(path), "--follow",
                             "--json"], env=child_env(), cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def _next_seq(proc: subprocess.Popen[str]) -> int:
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line, proc.stderr.read() if proc.stderr else ""
    return int(json.loads(line)["seq"])


def test_follow_reads_on_after_copytruncate(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    path.write_text(rec(0))
    proc = _follow(path)
    try:
        assert _next_seq(proc) == 0
        with path.open("a") as f:
            f.write(rec(1) + rec(2))
        assert [_next_seq(proc), _next_seq(proc)] == [1, 2]
        # copytruncate: the content is copied elsewhere and the same file cut to zero.
        with path.open("r+") as f:
            f.truncate(0)
        time.sleep(0.5)
        with path.open("a") as f:
            f.write(rec(3))
        assert _next_seq(proc) == 3
    finally:
        proc.kill()
        proc.communicate()


def test_follow_reads_the_rest_of_a_renamed_file_before_the_new_one(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    path.write_text(rec(0))
    proc = _follow(path)
    try:
        assert _next_seq(proc) == 0
        old = path.open("a")
        time.sleep(0.3)
        path.rename(tmp_path / "audit.jsonl.1")
        # The writer still holds the old file and writes once more before reopening.
        old.write(rec(1))
        old.close()
        path.write_text(rec(2))
        assert [_next_seq(proc), _next_seq(proc)] == [1, 2]
    finally:
        proc.kill()
        proc.communicate()


def test_audit_into_a_closed_pipe_exits_without_traceback(tmp_path: Path) -> None:
    path = tmp_path / "many.jsonl"
    path.write_text("".join(rec(i) for i in range(50_000)))
    proc = subprocess.Popen([sys.executable, "-m", "sdk_guard", "audit", str(path)],
                            env=child_env(), cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.readline()
    proc.stdout.close()
    err = proc.stderr.read()
    proc.stderr.close()
    proc.wait(timeout=60)
    assert b"Traceback" not in err and b"Exception ignored" not in err, err
