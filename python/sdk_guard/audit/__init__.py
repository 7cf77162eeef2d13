"""Audit trail: correlation spans, the writer thread and the sinks.

Every policy decision becomes one record (schema: ``schema/audit-event.json``).  The C
extension builds it, stamps the next ``seq`` and queues it in the audit ring; a writer
thread started by the first :func:`add_sink` takes records off the ring in ``seq``
order and hands each to every sink.  Nothing is lost silently: a full ring is counted
and reported as a ``dropped`` record, a sink that raises keeps its records in a
backlog and is retried, and every failure shows up in :func:`stats` and as an
``audit.sink`` record.

Spans
-----
``span(kind, name, **attrs)`` marks the action, task, model call or storage mutation
on whose behalf code runs.  Only host code opens a span (an extension calling it gets
PolicyViolation): a span names the user and org every record inside it carries.  The
span state lives in a context variable the C side owns (so asyncio tasks inherit it
and threads get it via :func:`bind`); its value is a SpanState only the C side can
make, from exact-str copies, so extension code can neither forge nor alter one.
``_guard.span_current()`` reads it as::

    (action_id, task_id, model_call_id, storage_mutation_id, user, org,
     span_path, innermost_span[, (otel_trace_id, otel_span_id)])

``span_path`` is the tuple of enclosing span ids, outermost first.  The C side reads
items 0-6 (and 8, the current OpenTelemetry span's ids, set by ``sdk_guard.otel``)
only when it records an event.
"""
from __future__ import annotations

import contextvars
import functools
import logging
import os
import random
import string
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Final, TypeVar

from .. import _guard
from ..errors import PolicyError
from ._record import emit, plain_copy
from ._sinks import CallbackSink, DefaultLogSink, JsonlSink, LoggingSink, MemorySink, Sink
from ._writer import _writer, add_sink, flush, records, remove_sink, sinks, stats, writer_paused

__all__ = [
    "KINDS", "CallbackSink", "DefaultLogSink", "JournaldSink", "JsonlSink", "LoggingSink", "MemorySink",
    "OTelLogSink", "Sink", "Span", "SyslogSink",
    "add_sink", "bind", "configure", "current_span", "emit", "flush", "parse_config",
    "records", "remove_sink", "sinks", "span", "spawn_thread", "stats", "writer_paused",
]

F = TypeVar("F", bound=Callable[..., Any])

KINDS: Final = ("action", "task", "model_call", "storage_mutation")
_KIND_INDEX: Final = {k: i for i, k in enumerate(KINDS)}
_ID_PREFIX: Final = {"action": "a", "task": "t", "model_call": "m", "storage_mutation": "s"}


_ids = random.Random(int.from_bytes(os.urandom(16), "little"))


# ---- spans -------------------------------------------------------------------------

class Span:
    """One open span.  ``id`` looks like ``a-3f09c2e1b7aa`` (kind letter, 48 random bits)."""

    __slots__ = ("id", "kind", "name", "attrs", "parent", "user", "org")

    def __init__(self, kind: str, name: str, attrs: dict[str, Any], parent: Span | None,
                 user: str | None, org: str | None) -> None:
        self.id = f"{_ID_PREFIX[kind]}-{_ids.getrandbits(48):012x}"
        self.kind = kind
        self.name = name
        self.attrs = attrs
        self.parent = parent
        self.user = user
        self.org = org

    def chain(self) -> list[Span]:
        """This span and its ancestors, innermost first."""
        out: list[Span] = []
        sp: Span | None = self
        while sp is not None:
            out.append(sp)
            sp = sp.parent
        return out

    def __repr__(self) -> str:
        return f"<Span {self.kind} {self.name!r} {self.id}>"


@contextmanager
def span(kind: str, name: str, *, user: str | None = None, org: str | None = None,
         **attrs: Any) -> Iterator[Span]:
    """Open a span of KIND (action, task, model_call, storage_mutation) named NAME.

    Spans nest; ``user``/``org`` set here apply to everything inside unless an inner
    span sets its own.  While sinks are attached, opening a span records an
    ``audit.span`` event with its name, parent and attributes, so the parent chain of
    every id in the trail can be followed.
    """
    index = _KIND_INDEX.get(kind)
    if index is None:
        raise ValueError(f"span kind must be one of {', '.join(KINDS)}, not {kind!r}")
    outer = _guard.span_current()
    parent: Span | None = outer[7]
    user, org = _span_text(user, "user"), _span_text(org, "org")
    sp = Span(kind, name if type(name) is str else str.__str__(str(name)), attrs, parent,
              user if user is not None else outer[4], org if org is not None else outer[5])
    # Host-only, checked on the caller of span(); the C side copies what it keeps.
    token = _guard.span_enter(index, sp.id, sp, user, org)
    try:
        if _writer.active and _writer.record_spans:
            _guard.emit("audit", "audit.span", "open", target=sp.name, extra={
                "span_id": sp.id, "span_kind": kind, "span_name": sp.name,
                "parent": parent.id if parent is not None else None,
                "attrs": plain_copy(attrs)})
        yield sp
    finally:
        _guard.span_exit(token)


def _span_text(value: object, what: str) -> str | None:
    if value is None or type(value) is str:
        return value
    if isinstance(value, str):
        return str.__str__(value)
    raise TypeError(f"span {what} must be a str or None, not {type(value).__name__}")


def _set_identity(user: str | None, org: str | None) -> object:
    """Make USER/ORG the identity of every record in this context until the returned
    token is passed to :func:`_reset_identity` (sdk_guard.context.request uses it).
    Host-only like span(): the C side copies them into a new span state."""
    return _guard.span_identity(user, org)


def _reset_identity(token: object) -> None:
    _guard.span_exit(token)


def current_span() -> Span | None:
    """The innermost open span in this context, or None."""
    innermost: Span | None = _guard.span_current()[7]
    return innermost


def bind(fn: F) -> F:
    """Return FN wrapped to run in a copy of the *current* context (spans, acting_as).

    Use it for thread pools and executors: ``pool.submit(audit.bind(work), x)``.  Each
    call gets its own copy, so one bound function may run in many threads at once.
    """
    ctx = contextvars.copy_context()

    @functools.wraps(fn)
    def bound(*args: Any, **kwargs: Any) -> Any:
        return ctx.copy().run(fn, *args, **kwargs)

    return bound  # type: ignore[return-value]


def spawn_thread(target: Callable[..., Any], *args: Any, name: str | None = None,
                 daemon: bool | None = None, **kwargs: Any) -> threading.Thread:
    """Start and return a thread running TARGET(*args, **kwargs) inside the current spans."""
    t = threading.Thread(target=bind(target), args=args, kwargs=kwargs, name=name,
                         daemon=daemon)
    t.start()
    return t


# ---- policy [audit] section ---------------------------------------------------------

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
    for sink in made:
        add_sink(sink)
    return made


_TELEMETRY_SINKS: Final = ("JournaldSink", "OTelLogSink", "SyslogSink")
if TYPE_CHECKING:
    from ._telemetry_sinks import JournaldSink, OTelLogSink, SyslogSink


def __getattr__(name: str) -> Any:
    # Sinks for existing collectors (OpenTelemetry, syslog, journald) live in their
    # own module, imported on first use: logging.handlers and socket are not free, and
    # most processes never use them.
    if name in _TELEMETRY_SINKS:
        from . import _telemetry_sinks
        return getattr(_telemetry_sinks, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
