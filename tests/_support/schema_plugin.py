"""Checks every audit event the test suite's children produce against the JSON Schema.

Loaded by tests/conftest.py as a plugin.  At import it names one JSONL file for the
session in ``SUITE_AUDIT_TEE`` and puts ``audit_tee/`` (whose ``sitecustomize`` attaches
a JsonlSink to that file in every child that imports sdk_guard.audit) at the front of
``PYTHONPATH``; child interpreters inherit both.  When the session ends it validates
the whole file.
"""
from __future__ import annotations

import json
import os
import re
import tempfile
from pathlib import Path
from typing import Any

SCHEMA_PATH = Path(__file__).resolve().parents[2] / "python" / "sdk_guard" / "schema" / "audit-event.json"

TEE_ENV = "SUITE_AUDIT_TEE"
TEE_DIR = Path(__file__).resolve().parent / "audit_tee"

if TEE_ENV not in os.environ:
    fd, _tee = tempfile.mkstemp(prefix="sdk_guard-suite-audit-", suffix=".jsonl")
    os.close(fd)
    os.environ[TEE_ENV] = _tee
TEE_PATH = Path(os.environ[TEE_ENV])
if str(TEE_DIR) not in os.environ.get("PYTHONPATH", "").split(os.pathsep):
    os.environ["PYTHONPATH"] = os.pathsep.join(
        [str(TEE_DIR)] + ([os.environ["PYTHONPATH"]] if os.environ.get("PYTHONPATH") else []))


def _shape(rec: Any) -> str:
    """REC with the per-event values (seq, ts, pid, tid, target) replaced by one
    stand-in of the same validity, so a load test's 80,000 denials validate as a
    handful of distinct shapes (jsonschema takes ~0.3 ms a record)."""
    if not isinstance(rec, dict):
        return json.dumps(rec)
    norm = dict(rec)
    for key, ok, stand_in in (
            ("seq", lambda v: isinstance(v, int) and v >= 0, 0),
            ("pid", lambda v: isinstance(v, int) and v >= 1, 1),
            ("tid", lambda v: isinstance(v, int) and v >= 1, 1),
            ("target", lambda v: isinstance(v, str), "t"),
            ("ts", lambda v: isinstance(v, str) and _TS.match(v) is not None,
             "2000-01-01T00:00:00.000000Z")):
        if key in norm and ok(norm[key]) and not isinstance(norm[key], bool):
            norm[key] = stand_in
    return json.dumps(norm, sort_keys=True)


_TS = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6}Z$")


def is_torn(line: str) -> bool:
    """A record cut short: a child the suite SIGKILLs (a crashed supervisor, a killed
    cgroup) can die in the middle of writing one, and the next writer starts on a new
    line.  Such a line starts like a record and never closes it.  A record that closes
    but does not parse still counts as invalid."""
    return line.startswith('{"seq":') and not line.rstrip().endswith("}")


def validate_lines(lines: list[str]) -> list[str]:
    """Returns one message per line that is not a schema-valid audit event."""
    import jsonschema

    validator = jsonschema.Draft202012Validator(json.loads(SCHEMA_PATH.read_text()))
    problems = []
    verdicts: dict[str, list[str]] = {}
    for n, line in enumerate(lines, 1):
        try:
            rec: Any = json.loads(line)
        except ValueError as exc:
            if is_torn(line):
                continue
            problems.append(f"line {n}: not JSON ({exc}): {line[:200]}")
            continue
        shape = _shape(rec)
        if shape not in verdicts:
            verdicts[shape] = [f"{err.json_path}: {err.message}"
                               for err in validator.iter_errors(rec)]
        problems.extend(f"line {n}: {msg}" for msg in verdicts[shape])
    return problems


def pytest_sessionfinish(session: Any, exitstatus: int) -> None:
    if not TEE_PATH.exists():
        return
    lines = [ln for ln in TEE_PATH.read_text(errors="replace").splitlines() if ln.strip()]
    problems = validate_lines(lines)
    torn = sum(1 for ln in lines if is_torn(ln))
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_line(f"audit schema: {len(lines)} events from the suite checked, "
                            f"{len(problems)} invalid, {torn} cut short by a killed "
                            f"writer ({TEE_PATH})")
        for p in problems[:20]:
            reporter.write_line(f"  {p}")
    if problems:
        session.exitstatus = 1
    else:
        TEE_PATH.unlink()
