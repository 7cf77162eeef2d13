"""Checks every audit event the test suite produces against the JSON Schema.

Imported by conftest.py: it points SDK_GUARD_AUDIT_TEE (see sdk_guard.audit) at one
file for this session, so this process and every child interpreter append their
records to it, and validates the whole file when the session ends.
"""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

SCHEMA_PATH = Path(__file__).resolve().parent.parent / "python" / "sdk_guard" / "schema" / "audit-event.json"

if "SDK_GUARD_AUDIT_TEE" not in os.environ:
    fd, _tee = tempfile.mkstemp(prefix="sdk_guard-suite-audit-", suffix=".jsonl")
    os.close(fd)
    os.environ["SDK_GUARD_AUDIT_TEE"] = _tee
TEE_PATH = Path(os.environ["SDK_GUARD_AUDIT_TEE"])


def validate_lines(lines: list[str]) -> list[str]:
    """Returns one message per line that is not a schema-valid audit event."""
    import jsonschema

    validator = jsonschema.Draft202012Validator(json.loads(SCHEMA_PATH.read_text()))
    problems = []
    for n, line in enumerate(lines, 1):
        try:
            rec: Any = json.loads(line)
        except ValueError as exc:
            problems.append(f"line {n}: not JSON ({exc}): {line[:200]}")
            continue
        for err in validator.iter_errors(rec):
            problems.append(f"line {n}: {err.json_path}: {err.message}")
    return problems


def pytest_sessionfinish(session: Any, exitstatus: int) -> None:
    if not TEE_PATH.exists():
        return
    lines = [ln for ln in TEE_PATH.read_text(errors="replace").splitlines() if ln.strip()]
    problems = validate_lines(lines)
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_line(f"audit schema: {len(lines)} events from the suite checked, "
                            f"{len(problems)} invalid ({TEE_PATH})")
        for p in problems[:20]:
            reporter.write_line(f"  {p}")
    if problems:
        session.exitstatus = 1
    else:
        TEE_PATH.unlink()
