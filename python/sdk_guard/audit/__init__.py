"""Audit trail: correlation spans, the writer thread and the sinks.

Every policy decision becomes one record (schema: ``schema/audit-event.json``).  The C
extension builds it, stamps the next ``seq`` and queues it in the audit ring; a writer
thread started by the first :func:`add_sink` takes records off the ring in ``seq``
order and hands each to every sink.  Nothing is lost silently: a full ring is counted
and reported as a ``dropped`` record, a sink that raises keeps its records in a
backlog and is retried, and every failure shows up in :func:`stats` and as an
``audit.sink`` record.

This module is the public surface; the rooms behind it, in the order a record
passes through them:

``_spans``            span(), bind(), spawn_thread(): on whose behalf code runs (the C
                      side copies the span state into every record it makes)
``_record``           emit() from Python; the plain-data copy and the JSON encoder
``_writer``           the consumer of the C ring: add_sink(), flush(), stats(), the
                      writer thread, writer_paused() for lockdown(), exit and fork
``_sinks``            Sink and the built-in sinks
``_telemetry_sinks``  OTelLogSink, SyslogSink, JournaldSink (imported on first use)
``_config``           the policy's ``[audit]`` section: parse_config(), configure()
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

# Plumbing, not surface, so left out of __all__.  Bound here because the policy
# loader looks the [audit] parser up as sdk_guard.audit.parse_config, lockdown() and
# the media CLI call audit.writer_paused() and audit.configure(), and install()
# attaches the default sink through audit.attach_default_sink() (so a wrapper around
# this module's functions sees every sink attached).
from ._config import configure as configure
from ._config import parse_config as parse_config
from ._record import emit
from ._sinks import CallbackSink, DefaultLogSink, JsonlSink, LoggingSink, MemorySink, Sink
from ._spans import KINDS, Span, bind, current_span, span, spawn_thread
from ._writer import add_sink, flush, records, remove_sink, sinks, stats
from ._writer import attach_default_sink as attach_default_sink
from ._writer import writer_paused as writer_paused

__all__ = [
    "KINDS", "CallbackSink", "DefaultLogSink", "JournaldSink", "JsonlSink", "LoggingSink", "MemorySink",
    "OTelLogSink", "Sink", "Span", "SyslogSink",
    "add_sink", "bind", "current_span", "emit", "flush", "records", "remove_sink", "sinks",
    "span", "spawn_thread", "stats",
]

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
