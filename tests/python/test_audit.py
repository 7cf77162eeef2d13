"""Audit trail: spans, sinks, JSONL durability, the [audit] policy section, the schema.

Everything that records events runs in a child interpreter: the audit ring and seq
counter are process-wide, like the hook that feeds them.
"""
from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import jsonschema
import pytest

from _support.child import child_env, program, run_program, run_program_json
from _support.schema_plugin import SCHEMA_PATH, validate_lines
from sdk_guard import _guard, audit
from sdk_guard.errors import PolicyError


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(ln) for ln in path.read_text().splitlines() if ln.strip()]


def test_nested_spans_follow_await_and_the_thread_helper() -> None:
    out = run_program_json("nested_spans")
    recs = [r for r in out["records"] if r["layer"] == "guard"]
    by = {r["target"]: r for r in recs}
    act = out["act"]
    opens = {r["span_id"]: r for r in out["records"] if r["decision"] == "open"}
    assert by["outside"]["span"] == dict.fromkeys(("action", "task", "model_call", "storage_mutation"))
    assert by["outside"]["user"] is None and by["outside"]["span_path"] == []
    for t in ("t1", "t2"):
        task = by[t]["span"]["task"]
        assert by[t]["span"]["action"] == act and task.startswith("t-")
        assert by[t]["span"]["model_call"] is None
        llm = by[t + "-llm"]["span"]
        assert llm["task"] == task and llm["model_call"].startswith("m-")
        assert by[t + "-after"]["span"]["model_call"] is None
        assert by[t + "-llm"]["span_path"] == [act, task, llm["model_call"]]
        assert opens[llm["model_call"]]["parent"] == task
        assert opens[llm["model_call"]]["attrs"] == {"model": "m1"}
        assert (by[t]["user"], by[t]["org"]) == ("u-1", "o-1")
    assert by["t1"]["span"]["task"] != by["t2"]["span"]["task"]
    for t in ("thread", "pool1", "pool2"):
        assert by[t]["span"]["action"] == act
        assert by[t]["span"]["storage_mutation"].startswith("s-")
        assert (by[t]["user"], by[t]["org"]) == ("u-1", "o-1")
        assert by[t]["tid"] != by["outside"]["tid"]
    inner = by["inner"]
    assert inner["span"]["action"] != act and inner["span_path"][0] == act
    assert opens[inner["span"]["action"]]["parent"] == act
    assert (inner["user"], inner["org"]) == ("u-2", "o-1")
    assert [r["seq"] for r in out["records"]] == list(range(len(out["records"])))


def test_span_rejects_unknown_kind() -> None:
    with pytest.raises(ValueError, match="action, task, model_call, storage_mutation"):
        with audit.span("request", "x"):
            pass


def test_jsonl_sink_keeps_writing_after_files_cannot_be_opened(tmp_path: Path) -> None:
    """The fd is opened at construction: later opens failing (Landlock) do not matter."""
    log = tmp_path / "audit.jsonl"
    run_program_json("audit_jsonl_opens_refused", str(log))
    recs = read_jsonl(log)
    assert [r["target"] for r in recs] == [str(i) for i in range(100)]


def test_jsonl_sink_still_writes_after_lockdown(tmp_path: Path) -> None:
    """After lockdown() (Landlock denying all new writes) the JSONL sink still writes."""
    log = tmp_path / "audit.jsonl"
    out = run_program_json("audit_jsonl_lockdown", str(log), str(tmp_path / "new.txt"))
    if "skip" in out:
        pytest.skip(out["skip"])
    assert out["created"] is False
    targets = [r["target"] for r in read_jsonl(log) if r["layer"] == "guard"]
    assert targets == ["before", "after"]
    assert any(r["capability"] == "lockdown" for r in read_jsonl(log))


@pytest.mark.parametrize("flush", ["line", "batch"])
def test_sigkill_mid_stream_leaves_no_torn_lines(tmp_path: Path, flush: str) -> None:
    log = tmp_path / "audit.jsonl"
    # No suite-wide tee here: the kill could tear the tee's line too.
    proc = subprocess.Popen([sys.executable, program("audit_jsonl_spin"), str(log), flush],
                            env=child_env({"SUITE_AUDIT_TEE": ""}),
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline() == "go\n"
    deadline = time.monotonic() + 10
    while (not log.exists() or log.stat().st_size < 2_000_000) and time.monotonic() < deadline:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    proc.stdout.close()
    data = log.read_bytes()
    lines = data.split(b"\n")
    complete, tail = lines[:-1], lines[-1]
    assert len(complete) > 100
    seqs = [json.loads(ln)["seq"] for ln in complete]
    assert seqs == list(range(len(seqs)))
    # Reopening a file whose last line is incomplete starts the next record on its own line.
    run_program("audit_jsonl_reopen", str(log))
    after = log.read_bytes().split(b"\n")
    assert after[-1] == b"" and json.loads(after[-2])["target"] == "reopened"
    if tail:
        assert after[len(complete)] == tail


def test_jsonl_rotation_by_size_keeps_every_record(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    out = run_program_json("audit_jsonl_rotation", str(log))
    assert out["rotations"] >= 3 and out["rotation_failures"] == 0
    files = sorted(tmp_path.glob("audit.jsonl*"), key=lambda p: p.stat().st_mtime_ns)
    seqs = sorted(r["seq"] for f in files for r in read_jsonl(f))
    assert seqs == list(range(400))
    assert all(f.stat().st_size <= 20_000 for f in files)


@pytest.mark.parametrize("flush", ["line", "batch"])
def test_jsonl_write_failures_lose_no_record_and_tear_no_line(tmp_path: Path, flush: str) -> None:
    """A short write followed by ENOSPC, then more ENOSPC, then recovery: every record
    ends up in the file exactly once, in seq order, and every line parses."""
    log = tmp_path / "audit.jsonl"
    out = run_program_json("audit_jsonl_write_failures", str(log), flush)
    assert out["calls"] > 4 and out["stats"]["failures"] >= 1
    lines = log.read_text().splitlines()
    recs = [json.loads(ln) for ln in lines]     # a torn line would not parse
    seqs = [r["seq"] for r in recs]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))
    assert [r["target"] for r in recs if r["layer"] == "guard"][:20] == [str(i) for i in range(20)]
    assert out["stats"]["lost"] == 0


def test_sink_that_raises_loses_nothing_and_is_reported() -> None:
    out = run_program_json("audit_sink_raises")
    guard_seqs = out["seqs"]
    assert out["flaky"][: len(guard_seqs)] == guard_seqs
    mem_guard = [r["seq"] for r in out["mem"] if r["layer"] == "guard"]
    assert mem_guard == guard_seqs
    stats = {s["name"]: s for s in out["stats"]}
    assert stats["flaky"]["failures"] >= 1 and stats["flaky"]["backlog"] == 0
    assert stats["broken"]["failures"] == 1 and stats["broken"]["backlog"] >= 300
    assert stats["broken"]["lost"] == 0
    failed = [r for r in out["mem"] if r["decision"] == "sink_failed"]
    assert {r["target"] for r in failed} >= {"broken"}
    assert any("always" in (r["error"] or "") for r in failed)


def test_sink_that_blocks_does_not_block_guarded_code_or_lose_events() -> None:
    out = run_program_json("audit_sink_blocks", timeout=60)
    assert out["elapsed"] < 2.5
    assert out["n"] == 20000 and out["stats"]["dropped"] == 0


def test_sink_needing_a_lock_the_recording_code_holds_cannot_deadlock() -> None:
    """The hook fires inside arbitrary code: the producer's wait for ring space is
    bounded, so a sink that needs a lock the recording thread holds only causes
    counted drops."""
    out = run_program_json("audit_sink_needs_lock", timeout=60)
    assert out["dropped"] > 0
    assert out["dropped"] + out["present"] == 200


def test_a_stuck_sink_costs_guarded_code_one_overflow_wait_not_one_per_record() -> None:
    """With the writer stuck in a sink and the ring full, the first record waits
    overflow_wait; later ones are dropped (and counted) at once until the writer
    takes a record again.  Waiting per record would stall a loop of denials for
    records x overflow_wait."""
    out = run_program_json("audit_sink_stuck", timeout=150)
    assert out["elapsed"] < 3.0, out
    assert out["dropped"] > 0 and out["dropped"] + out["present"] == 200


def test_writer_survives_fork_and_child_keeps_its_own_trail(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    run_program_json("audit_fork_trail", str(log))
    recs = read_jsonl(log)
    assert [r["target"] for r in recs] == ["parent", "child"]
    assert recs[0]["pid"] != recs[1]["pid"]


def test_fork_child_does_not_deliver_records_the_parent_still_had_queued(tmp_path: Path) -> None:
    """Records queued (in the ring, a sink's backlog or a batch buffer) when the process
    forks belong to the parent, which delivers them; the child writing them too would
    put every one of them twice into a shared trail."""
    log = tmp_path / "audit.jsonl"
    run_program_json("audit_fork_queued", str(log))
    recs = read_jsonl(log)
    keys = [(r["pid"], r["seq"]) for r in recs]
    assert len(keys) == len(set(keys)), "a record was delivered twice"
    assert sorted(r["target"] for r in recs) == ["child", "first"] + ["queued"] * 5


def test_logging_sink_logs_denials_at_warning() -> None:
    out = run_program_json("audit_logging_sink")
    assert out == [["WARNING", "deny", 0], ["INFO", "allow", 1]]


# ---- [audit] policy section ---------------------------------------------------------

@pytest.mark.parametrize("section, key", [
    ({"sinks": {}}, "audit.sinks"),
    ({"sink": []}, "audit.sink"),
    ({"sinks": ["x"]}, "audit.sinks[0]"),
    ({"sinks": [{"type": "syslog"}]}, "audit.sinks[0].type"),
    ({"sinks": [{"type": "jsonl"}]}, "audit.sinks[0].path"),
    ({"sinks": [{"type": "jsonl", "path": ""}]}, "audit.sinks[0].path"),
    ({"sinks": [{"type": "jsonl", "path": "  "}]}, "audit.sinks[0].path"),
    ({"sinks": [{"type": "jsonl", "path": "{datadir}/a.jsonl"}]}, "audit.sinks[0].path"),
    ({"sinks": [{"type": "memory"}, {"type": "jsonl", "path": "/a", "flush": "often"}]},
     "audit.sinks[1].flush"),
    ({"sinks": [{"type": "jsonl", "path": "/a", "fsync": "yes"}]}, "audit.sinks[0].fsync"),
    ({"sinks": [{"type": "jsonl", "path": "/a", "max_bytes": 0}]}, "audit.sinks[0].max_bytes"),
    ({"sinks": [{"type": "jsonl", "path": "/a", "rotate": 1}]}, "audit.sinks[0].rotate"),
    ({"sinks": [{"type": "logging", "level": "LOUD"}]}, "audit.sinks[0].level"),
    ({"sinks": [{"type": "memory", "maxlen": 2 ** 70}]}, "audit.sinks[0].maxlen"),
    ({"sinks": [{"type": "jsonl", "path": "/a", "backups": True}]}, "audit.sinks[0].backups"),
    ({"ring_capacity": 0}, "audit.ring_capacity"),
    ({"overflow_wait": -1}, "audit.overflow_wait"),
    ({"spans": "yes"}, "audit.spans"),
])
def test_parse_config_names_the_offending_key(section: dict, key: str) -> None:
    with pytest.raises(PolicyError) as info:
        audit.parse_config(section)
    assert info.value.key == key


def test_parse_config_errors_say_the_fix() -> None:
    def message(section: dict) -> str:
        with pytest.raises(PolicyError) as info:
            audit.parse_config(section)
        return info.value.message
    assert 'did you mean "max_bytes"' in message(
        {"sinks": [{"type": "jsonl", "path": "/a", "max_byte": 1}]})
    assert "use one of {data}, {home}, {tmp}, {prefix}" in message(
        {"sinks": [{"type": "jsonl", "path": "{datadir}/a.jsonl"}]})
    assert message({"ring_capacity": 0}).endswith(
        f"(or leave it out for the default, {_guard.AUDIT_RING_DEFAULT_CAPACITY})")
    assert message({"overflow_wait": "1s"}).startswith("must be a number of seconds")
    # A list item has no [header] spelling: the fix is an inline table.
    assert message({"sinks": [5]}) == "must be a table ({...}), not an integer"


def test_parse_config_takes_level_names_in_any_case() -> None:
    cfg = audit.parse_config({"sinks": [{"type": "logging", "level": "debug",
                                         "deny_level": "Error"}]})
    assert (cfg["sinks"][0]["level"], cfg["sinks"][0]["deny_level"]) == ("DEBUG", "ERROR")


def test_parse_config_fills_defaults() -> None:
    cfg = audit.parse_config({"sinks": [{"type": "jsonl", "path": "{data}/audit.jsonl"},
                                        {"type": "logging"}]})
    assert cfg["sinks"][0] == {"type": "jsonl", "path": "{data}/audit.jsonl", "flush": "line",
                               "fsync": False, "max_bytes": None, "backups": 3}
    assert cfg["sinks"][1] == {"type": "logging", "logger": "sdk_guard.audit",
                               "level": "INFO", "deny_level": "WARNING"}
    assert cfg["spans"] is True and cfg["ring_capacity"] is None
    assert audit.parse_config(None)["sinks"] == []


def test_configure_builds_sinks_from_the_policy_section(tmp_path: Path) -> None:
    out = run_program_json("audit_configure", str(tmp_path))
    assert out == ["JsonlSink", 1024]
    assert len(read_jsonl(tmp_path / "audit.jsonl")) == 1


def test_configure_without_data_dir_names_the_key() -> None:
    cfg = audit.parse_config({"sinks": [{"type": "jsonl", "path": "{data}/audit.jsonl"}]})
    with pytest.raises(PolicyError) as info:
        audit.configure(cfg)
    assert info.value.key == "audit.sinks[0].path"
    assert 'placeholders={"data": "/path"}' in info.value.message


# ---- the schema ---------------------------------------------------------------------

def test_schema_is_valid_and_rejects_broken_records() -> None:
    schema = json.loads(SCHEMA_PATH.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    good = {"seq": 41, "ts": "2026-11-28T22:01:02.123456Z", "layer": "guard", "principal": "acme",
            "capability": "net.connect", "target": "10.0.0.5:5432", "decision": "deny",
            "rule": "extensions.acme.net.connect",
            "span": {"action": "a-7f3c00000000", "task": None, "model_call": None,
                     "storage_mutation": None},
            "user": "u-1", "org": "o-1", "pid": 1234, "tid": 1240}
    assert validate_lines([json.dumps(good)]) == []
    for broken in ({**good, "decision": "maybe"}, {**good, "capability": "net.open"},
                   {**good, "seq": -1}, {**good, "ts": "yesterday"},
                   {k: v for k, v in good.items() if k != "span"},
                   {**good, "span": {**good["span"], "request": None}},
                   {**good, "layer": "audit", "decision": "dropped", "capability": "audit.dropped"}):
        assert validate_lines([json.dumps(broken)]), broken
    # A record a killed writer cut short is passed over; one that closes but is not
    # JSON is not.
    text = json.dumps(good)
    assert validate_lines([text[:len(text) // 2]]) == []
    assert validate_lines([text[:-1] + ",}"])


def test_every_kind_of_record_this_module_writes_matches_the_schema(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    run_program("audit_every_record_kind", str(log))
    lines = log.read_text().splitlines()
    kinds = {json.loads(ln)["decision"] for ln in lines}
    assert {"deny", "dropped", "open", "sink_failed", "allow"} <= kinds
    assert validate_lines(lines) == []


def test_a_sink_attached_at_interpreter_shutdown_leaves_no_traceback() -> None:
    """3.12+ refuses to start a thread at shutdown: add_sink raises there, and the
    writer's own exit handler must not trip over a thread that never started."""
    proc = run_program("audit_sink_at_exit")
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
    assert proc.stdout.startswith(("attached", "refused")), proc.stdout
