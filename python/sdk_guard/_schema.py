"""The JSON Schema of the policy file (``schema/policy.json``), for editors (taplo /
Even Better TOML, VS Code's JSON support) and ``python -m sdk_guard check``.

The schema checks structure only; ``Policy`` checks everything (the schema is never
the stricter of the two: tests/python/test_policy_schema.py holds every policy in the
repository and every malformed one in the tests against both)."""
from __future__ import annotations

import json
from importlib import resources
from typing import Any


def policy_schema_text() -> str:
    return resources.files("sdk_guard").joinpath("schema", "policy.json").read_text("utf-8")


def policy_schema() -> dict[str, Any]:
    schema: dict[str, Any] = json.loads(policy_schema_text())
    return schema


def _dotted(path: Any) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def schema_errors(document: Any) -> list[str]:
    """One "dotted.key: message" per place DOCUMENT breaks the schema.

    Raises ImportError when jsonschema is not installed (``pip install
    sdk-guard[schema]``)."""
    import jsonschema  # type: ignore[import-untyped]

    validator = jsonschema.Draft202012Validator(policy_schema())
    return [f"{_dotted(e.absolute_path)}: {e.message}"
            for e in sorted(validator.iter_errors(document), key=lambda e: list(map(str, e.absolute_path)))]
