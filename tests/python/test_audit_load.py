"""Audit trail under load: lossless with the default ring, exact drop counts with a tiny
one, seq order kept across threads, and real denials from the Process Guard."""
from __future__ import annotations

import json
from pathlib import Path

from _support.child import run_program_json, write_tree

THREADS = 8
PER_THREAD = 10_000


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(ln) for ln in path.read_text().splitlines()]


def check_trail(recs: list[dict], next_seq: int) -> tuple[int, int]:
    """Every seq below NEXT_SEQ is either in the file or inside a dropped report; the
    file is in seq order.  Returns (present, dropped)."""
    seqs = [r["seq"] for r in recs]
    assert seqs == sorted(seqs), "records are not in seq order"
    assert len(set(seqs)) == len(seqs)
    dropped = sum(r["dropped"] for r in recs if r["decision"] == "dropped")
    missing = set(range(next_seq)) - set(seqs)
    assert len(missing) == dropped, (len(missing), dropped)
    ranges = [(r["first_seq"], r["last_seq"]) for r in recs if r["decision"] == "dropped"]
    assert all(any(a <= s <= b for a, b in ranges) for s in missing)
    return len(seqs), dropped


def _emit_load(log: Path, audit_section: dict) -> dict:
    return run_program_json("audit_load", str(log), str(THREADS), str(PER_THREAD),
                            json.dumps(audit_section), timeout=300)


def test_eight_threads_of_recorded_events_lose_nothing(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    counters = _emit_load(log, {"overflow_wait": 1.0})
    recs = read_jsonl(log)
    present, dropped = check_trail(recs, counters["next_seq"])
    assert dropped == 0 and counters["dropped"] == 0
    assert present == THREADS * PER_THREAD == counters["next_seq"]
    per_thread = {}
    for r in recs:
        per_thread.setdefault(r["principal"], []).append(int(r["target"]))
    assert all(v == list(range(PER_THREAD)) for v in per_thread.values())


def test_tiny_ring_reports_exactly_what_is_missing(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    counters = _emit_load(log, {"ring_capacity": 8, "overflow_wait": 0})
    assert counters["capacity"] == 8
    recs = read_jsonl(log)
    present, dropped = check_trail(recs, counters["next_seq"])
    assert dropped > 0 and dropped == counters["dropped"]
    guard = sum(1 for r in recs if r["layer"] == "guard")
    assert guard + dropped == THREADS * PER_THREAD


GUARD_POLICY = json.dumps({
    "version": 1,
    "host": {"trusted": ["__main__", "host"]},
    "extensions": {"acme": {"package": "acme", "path": "plugins",
                            "imports": {"allow": ["deeplib", "deeplib.*", "threading"]},
                            "fs": {"read": [], "write": []}}},
})


def _guard_tree(tmp_path: Path) -> Path:
    return write_tree(tmp_path, {
        "secret.txt": "s\n",
        "plugins/acme/__init__.py": """
            import deeplib

            def hammer(path, n):
                denied = 0
                for _ in range(n):
                    try:
                        open(path).close()
                    except PermissionError:
                        denied += 1
                return denied

            def deep(path):
                return deeplib.outer(path)
        """,
        "deeplib/__init__.py": """
            from deeplib import inner

            def outer(path):
                return inner.middle(path)
        """,
        "deeplib/inner.py": """
            def middle(path):
                return _read(path)

            def _read(path):
                with open(path) as f:
                    return f.read()
        """,
    })


def test_eight_threads_of_mediated_denials_reach_the_jsonl_file(tmp_path: Path) -> None:
    """8 threads x 10,000 real denials: every one in the file, seq contiguous, parseable."""
    _guard_tree(tmp_path)
    log = tmp_path / "audit.jsonl"
    out = run_program_json("audit_load_guarded", str(tmp_path), str(log), str(THREADS),
                           str(PER_THREAD), GUARD_POLICY, cwd=tmp_path, timeout=600)
    assert out["denied"] == [PER_THREAD] * THREADS
    recs = read_jsonl(log)
    present, dropped = check_trail(recs, out["counters"]["next_seq"])
    assert dropped == 0
    denials = [r for r in recs if r["decision"] == "deny" and r["capability"] == "fs.read"
               and r["target"] and r["target"].endswith("secret.txt")]
    assert len(denials) == THREADS * PER_THREAD
    assert {r["principal"] for r in denials} == {"acme"}
    assert len({r["tid"] for r in denials}) == THREADS


def test_denial_deep_in_a_library_carries_the_spans_user_and_org(tmp_path: Path) -> None:
    _guard_tree(tmp_path)
    out = run_program_json("audit_load_deep_span", str(tmp_path), GUARD_POLICY, cwd=tmp_path)
    rec = out["rec"]
    act, task, call = out["ids"]
    assert rec["principal"] == "acme" and rec["decision"] == "deny"
    assert rec["capability"] == "fs.read" and rec["target"].endswith("secret.txt")
    assert rec["span"] == {"action": act, "task": task, "model_call": call,
                           "storage_mutation": None}
    assert (rec["user"], rec["org"]) == ("u-1", "o-1")
    assert rec["span_path"] == [act, task, call]
