"""The policy written as TOML (tomllib only reads it): ``check`` prints a resolved policy
with it and ``learn`` writes its proposals with it; ``Policy.from_toml`` reads both back."""
from __future__ import annotations

import json
from typing import Any


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        # An unset optional key inside an inline table (a sink's max_bytes) is left out:
        # TOML has no null, and leaving it out means the same default.
        items = [(k, v) for k, v in value.items() if v is not None]
        if not items:
            return "{}"
        return "{ " + ", ".join(f"{toml_key(k)} = {toml_value(v)}" for k, v in items) + " }"
    if value is None:
        # TOML has no null: an unset optional key is shown as a comment by the caller.
        raise ValueError("None has no TOML form")
    return json.dumps(str(value))


def toml_key(key: str) -> str:
    bare = key.replace("_", "a").replace("-", "a").isalnum() and key.isascii()
    return key if bare else json.dumps(key)


def emit_table(lines: list[str], header: str, table: dict[str, Any]) -> None:
    """Writes TABLE's scalars under [HEADER] with nested tables as dotted keys."""
    lines.append(f"[{header}]")

    def walk(prefix: str, d: dict[str, Any]) -> None:
        for k, v in d.items():
            key = f"{prefix}{toml_key(k)}"
            if v is None:
                lines.append(f"# {key} is not set")
            elif isinstance(v, dict) and v and not (header == "host" and k == "hints"):
                walk(key + ".", v)
            else:
                lines.append(f"{key} = {toml_value(v)}")

    walk("", table)
    lines.append("")


def to_toml(data: dict[str, Any]) -> str:
    """The resolved policy as TOML (the same structure Policy.from_toml reads)."""
    lines = [f"version = {data['version']}", ""]
    for section in ("guard", "host", "lockdown", "audit", "media", "actions"):
        if isinstance(data.get(section), dict):
            emit_table(lines, section, data[section])
    for name, ext in data.get("extensions", {}).items():
        emit_table(lines, f"extensions.{toml_key(name)}", ext)
    return "\n".join(lines).rstrip() + "\n"
