# pyproject.toml puts tests/ and python/ on sys.path (pytest's `pythonpath`).
# The suite's plugins: every audit record it produces is checked against the JSON Schema
# (tests/_support/schema_plugin.py), and its own tests use sdk_guard's pytest plugin
# (see docs/ecosystem.md).
pytest_plugins = ["_support.schema_plugin", "sdk_guard.pytest_plugin"]
