"""The policy's ``[audit]`` section: :func:`parse_config` validates it (``PolicyError``
names the dotted key and the fix), :func:`configure` applies it (ring settings, span
records, then the sinks, with ``{data}``-style placeholders in sink paths expanded).
"""
from __future__ import annotations

import logging
import os
import string
import sys
import tempfile
from collections.abc import Mapping
from typing import Any, Final

from .. import _guard
from ..errors import PolicyError
from ._sinks import JsonlSink, LoggingSink, MemorySink, Sink
from ._writer import _writer, flush

_PLACEHOLDERS: Final = ("{data}", "{home}", "{tmp}", "{prefix}")
_SINK_KEYS: Final = {
    "jsonl": {"type", "path", "flush", "fsync", "max_bytes", "backups"},
    "logging": {"type", "logger", "level", "deny_level"},
    "memory": {"type", "maxlen"},
}
_LEVELS: Final = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def _expect(cond: bool, key: str, msg: str) -> None:
    if not cond:
        raise PolicyError(key, msg)


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _check_text(value: str, key: str) -> None:
    """A NUL or a lone surrogate reaches no file system, logger or terminal intact."""
    _expect("\0" not in value, key, "contains a NUL character; remove it")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise PolicyError(key, f"{ascii(value)[:80]} contains a lone surrogate, which is not "
                               "a character; write valid Unicode") from None


def _placeholder_fields(value: str, key: str) -> list[tuple[str, str | None]]:
    """(literal, placeholder name or None) pieces of VALUE; a literal brace is doubled."""
    try:
        parsed = list(string.Formatter().parse(value))
    except ValueError as exc:
        raise PolicyError(key, f"{value!r}: {exc}; a literal brace is doubled ({{{{ or }}}})"
                          ) from None
    out: list[tuple[str, str | None]] = []
    for literal, field, spec, conv in parsed:
        _expect(field is None or (not spec and not conv and f"{{{field}}}" in _PLACEHOLDERS),
                key, f"unknown placeholder in {value!r}; use one of {', '.join(_PLACEHOLDERS)} "
                     "(a literal brace is doubled)")
        out.append((literal, field))
    return out


def _check_path(value: Any, key: str) -> str:
    _expect(isinstance(value, str) and value.strip() != "", key,
            'must be a non-empty path string, e.g. "{data}/audit.jsonl"')
    _check_text(value, key)
    _placeholder_fields(value, key)
    return str(value)


def _parse_sink(entry: Any, key: str) -> dict[str, Any]:
    _expect(isinstance(entry, Mapping), key,
            'must be a table such as {type = "jsonl", path = "{data}/audit.jsonl"}')
    kind = entry.get("type")
    _expect(isinstance(kind, str) and kind in _SINK_KEYS, f"{key}.type",
            f"must be one of {', '.join(sorted(_SINK_KEYS))}, not {kind!r}")
    for k in entry:
        _expect(isinstance(k, str) and k in _SINK_KEYS[kind], f"{key}.{k}",
                f"unknown key for a {kind} sink; allowed: {', '.join(sorted(_SINK_KEYS[kind]))}")
    out: dict[str, Any] = {"type": kind}
    if kind == "jsonl":
        _expect("path" in entry, f"{key}.path", 'is required, e.g. path = "{data}/audit.jsonl"')
        out["path"] = _check_path(entry["path"], f"{key}.path")
        flush_mode = entry.get("flush", "line")
        _expect(isinstance(flush_mode, str) and flush_mode in ("line", "batch"), f"{key}.flush",
                f'must be "line" or "batch", not {flush_mode!r}')
        out["flush"] = flush_mode
        fsync = entry.get("fsync", False)
        _expect(isinstance(fsync, bool), f"{key}.fsync", "must be true or false")
        out["fsync"] = fsync
        max_bytes = entry.get("max_bytes")
        _expect(max_bytes is None or (_is_int(max_bytes) and max_bytes > 0), f"{key}.max_bytes",
                "must be a positive number of bytes")
        out["max_bytes"] = max_bytes
        backups = entry.get("backups", 3)
        _expect(_is_int(backups) and 1 <= backups <= 100, f"{key}.backups",
                "must be a whole number from 1 to 100")
        out["backups"] = backups
    elif kind == "logging":
        logger = entry.get("logger", "sdk_guard.audit")
        _expect(isinstance(logger, str) and logger != "", f"{key}.logger",
                'must be a logger name, e.g. "sdk_guard.audit"')
        _check_text(logger, f"{key}.logger")
        out["logger"] = logger
        for lk, default in (("level", "INFO"), ("deny_level", "WARNING")):
            lv = entry.get(lk, default)
            _expect(isinstance(lv, str) and lv.upper() in _LEVELS, f"{key}.{lk}",
                    f"must be one of {', '.join(_LEVELS)}, not {lv!r}")
            out[lk] = lv.upper()
    else:
        maxlen = entry.get("maxlen")
        _expect(maxlen is None or (_is_int(maxlen) and maxlen > 0), f"{key}.maxlen",
                "must be a positive whole number")
        out["maxlen"] = maxlen
    return out


def parse_config(section: Mapping[str, Any] | None) -> dict[str, Any]:
    """Validate a policy's ``[audit]`` section; returns it normalised with defaults.

    Raises PolicyError naming the dotted key (``audit.sinks[0].path``) and the fix.
    """
    section = {} if section is None else section
    _expect(isinstance(section, Mapping), "audit", "must be a table")
    allowed = {"sinks", "ring_capacity", "overflow_wait", "spans"}
    for k in section:
        _expect(isinstance(k, str) and k in allowed, f"audit.{k}",
                f"unknown key; allowed: {', '.join(sorted(allowed))}")
    raw_sinks = section.get("sinks", [])
    _expect(isinstance(raw_sinks, list), "audit.sinks",
            'must be a list of tables, e.g. sinks = [{type = "jsonl", path = "{data}/audit.jsonl"}]')
    out: dict[str, Any] = {
        "sinks": [_parse_sink(e, f"audit.sinks[{i}]") for i, e in enumerate(raw_sinks)]}
    cap = section.get("ring_capacity")
    cap_max = _guard.AUDIT_RING_MAX_CAPACITY
    _expect(cap is None or (_is_int(cap) and 1 <= cap <= cap_max), "audit.ring_capacity",
            f"must be a whole number from 1 to {cap_max} "
            f"(default {_guard.AUDIT_RING_DEFAULT_CAPACITY})")
    out["ring_capacity"] = cap
    wait = section.get("overflow_wait")
    wait_max = _guard.AUDIT_OVERFLOW_WAIT_MAX
    _expect(wait is None or (isinstance(wait, (int, float)) and not isinstance(wait, bool)
                             and 0 <= wait <= wait_max), "audit.overflow_wait",
            f"must be a number of seconds from 0 to {wait_max:g} "
            f"(default {_guard.AUDIT_OVERFLOW_WAIT_DEFAULT})")
    out["overflow_wait"] = float(wait) if wait is not None else None
    spans = section.get("spans", True)
    _expect(isinstance(spans, bool), "audit.spans", "must be true or false")
    out["spans"] = spans
    return out


def _expand(path: str, placeholders: Mapping[str, str], key: str) -> str:
    values = {"home": os.path.expanduser("~"), "tmp": tempfile.gettempdir(),
              "prefix": sys.prefix}
    values.update({k.strip("{}"): os.fspath(v) for k, v in placeholders.items()})
    out: list[str] = []
    for literal, field in _placeholder_fields(path, key):
        out.append(literal)
        if field is not None:
            _expect(field in values, key, f"{{{field}}} is not defined here; pass {field}=... "
                    "to configure() or use an absolute path")
            out.append(values[field])
    return "".join(out)


def configure(config: Mapping[str, Any], placeholders: Mapping[str, str] | None = None
              ) -> list[Sink]:
    """Apply a section returned by :func:`parse_config`: ring settings, then sinks.

    PLACEHOLDERS maps ``data`` (and optionally home/tmp/prefix) to directories for
    ``{data}``-style paths.  Returns the sinks it added.
    """
    if config.get("ring_capacity") is not None or config.get("overflow_wait") is not None:
        if config.get("ring_capacity") is not None:
            flush()
        _guard.audit_configure(capacity=config.get("ring_capacity"),
                               overflow_wait=config.get("overflow_wait"))
    _writer.record_spans = bool(config.get("spans", True))
    made: list[Sink] = []
    for i, entry in enumerate(config.get("sinks", [])):
        kind = entry["type"]
        if kind == "jsonl":
            path = _expand(entry["path"], placeholders or {}, f"audit.sinks[{i}].path")
            made.append(JsonlSink(path, flush=entry["flush"], fsync=entry["fsync"],
                                  max_bytes=entry["max_bytes"], backups=entry["backups"]))
        elif kind == "logging":
            made.append(LoggingSink(entry["logger"], level=getattr(logging, entry["level"]),
                                    deny_level=getattr(logging, entry["deny_level"])))
        else:
            made.append(MemorySink(maxlen=entry["maxlen"]))
    # Through the package, as any caller would: a wrapper around sdk_guard.audit's
    # add_sink sees these sinks too.
    from .. import audit
    for sink in made:
        audit.add_sink(sink)
    return made
