import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "python"))

# Every audit event the suite produces is checked against the JSON Schema at the end.
from audit_schema_check import pytest_sessionfinish  # noqa: E402,F401

# The project's own tests use its pytest plugin (see docs/ecosystem.md).
pytest_plugins = ["sdk_guard.pytest_plugin"]
