"""The policy's ``[audit]`` section: :func:`parse_config` validates it (``PolicyError``
names the dotted key and the fix), :func:`configure` applies it (ring settings, span
records, then the sinks, with ``{data}``-style placeholders in sink paths expanded).
"""
from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Mapping
from typing import Any, Final, TypeVar

from .. import _guard
from .._config.templates import Templates
from .._config.validate import boolean, check_keys, check_text, choice, integer, number, string, table
from ..errors import PolicyError
from ._sinks import JsonlSink, LoggingSink, MemorySink, Sink
from ._writer import _writer, flush

_T = TypeVar("_T")

_KEYS: Final = ("sinks", "ring_capacity", "overflow_wait", "spans")
_SINK_KEYS: Final = {
    "jsonl": ("type", "path", "flush", "fsync", "max_bytes", "backups"),
    "logging": ("type", "logger", "level", "deny_level"),
    "memory": ("type", "maxlen"),
}
_LEVELS: Final = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
_PATH_EXAMPLE: Final = '"{data}/audit.jsonl"'


def _with_default(default: object, check: Callable[[], _T]) -> _T:
    """CHECK's result; its PolicyError also says what leaving the key out gives."""
    try:
        return check()
    except PolicyError as exc:
        raise PolicyError(exc.key, f"{exc.message} (or leave it out for the default, "
                                   f"{default})") from None


def _sink_path(value: object, key: str) -> str:
    """A sink path, its templates kept for configure(); only {data} {home} {tmp}
    {prefix} are known here, and a literal brace is doubled."""
    path = string(value, key, _PATH_EXAMPLE, non_empty=True)
    if not path.strip():
        raise PolicyError(key, f"is blank; write a path such as {_PATH_EXAMPLE}")
    check_text(path, key, "the path")
    # The same expander configure() runs, with a stand-in {data}: an unknown template or
    # a lone brace fails now, when the policy loads, not when the sinks start.
    Templates({"data": ""}).expand(path, key)
    return path


def _parse_sink(entry: object, key: str) -> dict[str, Any]:
    sink = table(entry, key)
    kind = choice(sink.get("type"), f"{key}.type", tuple(_SINK_KEYS))
    check_keys(sink, key, _SINK_KEYS[kind], f"for a {kind} sink")
    out: dict[str, Any] = {"type": kind}
    if kind == "jsonl":
        if "path" not in sink:
            raise PolicyError(f"{key}.path", f"is required, e.g. path = {_PATH_EXAMPLE}")
        out["path"] = _sink_path(sink["path"], f"{key}.path")
        out["flush"] = choice(sink.get("flush", "line"), f"{key}.flush", ("line", "batch"))
        out["fsync"] = boolean(sink.get("fsync", False), f"{key}.fsync")
        max_bytes = sink.get("max_bytes")
        out["max_bytes"] = (None if max_bytes is None
                            else integer(max_bytes, f"{key}.max_bytes", 1, sys.maxsize))
        out["backups"] = integer(sink.get("backups", 3), f"{key}.backups", 1, 100)
    elif kind == "logging":
        logger = string(sink.get("logger", "sdk_guard.audit"), f"{key}.logger",
                        '"sdk_guard.audit"', non_empty=True)
        check_text(logger, f"{key}.logger", "the logger name")
        out["logger"] = logger
        for lk, default in (("level", "INFO"), ("deny_level", "WARNING")):
            lv = sink.get(lk, default)
            # Level names are case-insensitive ("info" is INFO); stored upper-case.
            out[lk] = choice(lv.upper() if isinstance(lv, str) else lv, f"{key}.{lk}", _LEVELS)
    else:
        maxlen = sink.get("maxlen")
        out["maxlen"] = (None if maxlen is None
                         else integer(maxlen, f"{key}.maxlen", 1, sys.maxsize))
    return out


def parse_config(section: Mapping[str, Any] | None) -> dict[str, Any]:
    """Validate a policy's ``[audit]`` section; returns it normalised with defaults.

    Raises PolicyError naming the dotted key (``audit.sinks[0].path``) and the fix.
    """
    audit = table({} if section is None else section, "audit")
    check_keys(audit, "audit", _KEYS)
    raw_sinks = audit.get("sinks", [])
    if not isinstance(raw_sinks, list):
        raise PolicyError("audit.sinks", "must be a list of tables, e.g. "
                                         f"sinks = [{{type = \"jsonl\", path = {_PATH_EXAMPLE}}}]")
    out: dict[str, Any] = {
        "sinks": [_parse_sink(e, f"audit.sinks[{i}]") for i, e in enumerate(raw_sinks)]}
    cap = audit.get("ring_capacity")
    out["ring_capacity"] = None if cap is None else _with_default(
        _guard.AUDIT_RING_DEFAULT_CAPACITY,
        lambda: integer(cap, "audit.ring_capacity", 1, _guard.AUDIT_RING_MAX_CAPACITY))
    wait = audit.get("overflow_wait")
    out["overflow_wait"] = None if wait is None else _with_default(
        _guard.AUDIT_OVERFLOW_WAIT_DEFAULT,
        lambda: number(wait, "audit.overflow_wait", 0, _guard.AUDIT_OVERFLOW_WAIT_MAX,
                       "seconds"))
    out["spans"] = boolean(audit.get("spans", True), "audit.spans")
    return out


def _expand(path: str, placeholders: Mapping[str, str], key: str) -> str:
    """PATH with its templates expanded: PLACEHOLDERS gives {data} (and may override
    {home} {tmp} {prefix}); a name may be written with its braces ("{data}")."""
    templates = Templates({k.strip("{}") if isinstance(k, str) else k: v
                           for k, v in placeholders.items()},
                          unset_hint='pass placeholders={"data": "/path"} to configure() '
                                     "or use an absolute path")
    return templates.expand(path, key)


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
