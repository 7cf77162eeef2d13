"""Audit sinks for the collectors a fleet already runs (re-exported by sdk_guard.audit).

* :class:`OTelLogSink`: one OpenTelemetry log record per audit record, through the
  Logs API (``pip install sdk-guard[otel]``), carrying the record's trace and span ids
  so a denial shows up next to the request's trace.
* :class:`SyslogSink`: RFC 3164 messages to the local syslog socket (or a UDP/TCP
  address) through :mod:`logging.handlers`, no extra dependency.
* :class:`JournaldSink`: systemd-journald's native protocol (structured fields) over
  its datagram socket, no extra dependency.
"""
from __future__ import annotations

import json
import logging
import logging.handlers
import os
import socket
import struct
from datetime import datetime
from typing import Any

from ._record import Record
from ._sinks import Sink

__all__ = ["JournaldSink", "OTelLogSink", "SyslogSink"]

_DENIALS = ("deny", "would_deny", "refused", "dropped", "sink_failed")
_FIELDS = ("seq", "layer", "principal", "capability", "target", "decision", "rule", "user",
           "org", "pid", "tid", "otel_trace_id", "otel_span_id")


def _summary(record: Record) -> str:
    who = record.get("principal") or "-"
    return (f"sdk_guard {record.get('decision')} {record.get('capability')} "
            f"{record.get('target')} by {who} (rule {record.get('rule')})")


class OTelLogSink(Sink):
    """Emits each record as an OpenTelemetry log record (Logs API).

    ``logger_provider``: an SDK ``LoggerProvider`` (default: the global one).  Denials
    are WARN, everything else INFO; the record's fields become ``sdk_guard.*``
    attributes; its ``otel_trace_id``/``otel_span_id`` (see sdk_guard.otel) become the log
    record's trace context.
    """

    def __init__(self, logger_provider: Any = None, name: str | None = None) -> None:
        super().__init__(name)
        try:
            from opentelemetry import _logs
        except ImportError as exc:
            raise ImportError("OTelLogSink needs opentelemetry-api: pip install "
                              "sdk-guard[otel]") from exc
        from .. import __version__
        provider = logger_provider if logger_provider is not None \
            else _logs.get_logger_provider()
        from .. import otel
        otel.enable_when_imported()     # a host shipping records to OTel wants the ids
        self._logs = _logs
        self._logger = provider.get_logger("sdk_guard.audit", __version__)

    def _context(self, record: Record) -> Any:
        trace_id, span_id = record.get("otel_trace_id"), record.get("otel_span_id")
        if not (isinstance(trace_id, str) and isinstance(span_id, str)):
            return None
        from opentelemetry import trace
        from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags
        sc = SpanContext(int(trace_id, 16), int(span_id, 16), is_remote=False,
                         trace_flags=TraceFlags(TraceFlags.SAMPLED))
        return trace.set_span_in_context(NonRecordingSpan(sc))

    def write(self, record: Record) -> None:
        denial = record.get("decision") in _DENIALS
        severity = self._logs.SeverityNumber.WARN if denial else self._logs.SeverityNumber.INFO
        attrs: dict[str, Any] = {}
        for key, value in record.items():
            if isinstance(value, (str, bool, int, float)):
                attrs[f"sdk_guard.{key}"] = value
            elif key == "span" and isinstance(value, dict):
                attrs.update({f"sdk_guard.span.{k}": v for k, v in value.items()
                              if isinstance(v, str)})
        ts = record.get("ts")
        timestamp = None
        if isinstance(ts, str):
            timestamp = int(datetime.fromisoformat(ts.replace("Z", "+00:00")).timestamp()
                            * 1e9)
        fields: dict[str, Any] = {
            "timestamp": timestamp, "severity_number": severity,
            "severity_text": "WARN" if denial else "INFO", "body": _summary(record),
            "attributes": attrs}
        try:
            log_record = self._logs.LogRecord(context=self._context(record),
                                              event_name="sdk_guard.audit", **fields)
        except TypeError:
            # opentelemetry-api before context= / event_name= took the ids directly.
            from opentelemetry.trace import TraceFlags
            trace_id, span_id = record.get("otel_trace_id"), record.get("otel_span_id")
            if isinstance(trace_id, str) and isinstance(span_id, str):
                fields.update(trace_id=int(trace_id, 16), span_id=int(span_id, 16),
                              trace_flags=TraceFlags(TraceFlags.SAMPLED))
            log_record = self._logs.LogRecord(**fields)
        self._logger.emit(log_record)


class _RaisingSysLogHandler(logging.handlers.SysLogHandler):
    def handleError(self, record: logging.LogRecord) -> None:
        raise  # noqa: PLE0704 (inside emit's except): the sink reports its failures


class SyslogSink(Sink):
    """Sends each record to syslog as ``sdk_guard[pid]: <summary> <json>``.

    ``address``: the local socket (default ``/dev/log``) or ``(host, port)`` for UDP
    (``socktype=socket.SOCK_STREAM`` for TCP).  Denials go at WARNING, the rest INFO.
    """

    def __init__(self, address: str | tuple[str, int] = "/dev/log",
                 facility: int = logging.handlers.SysLogHandler.LOG_AUTHPRIV,
                 socktype: socket.SocketKind | None = None, ident: str = "sdk_guard",
                 name: str | None = None) -> None:
        super().__init__(name)
        if isinstance(address, str) and not os.path.exists(address):
            raise FileNotFoundError(f"SyslogSink: no syslog socket at {address} (no syslog "
                                    "daemon here?); pass address=(host, port) for a remote "
                                    "collector, or use JsonlSink")
        self._handler = _RaisingSysLogHandler(address=address, facility=facility,
                                              socktype=socktype)
        self._handler.ident = f"{ident}[{os.getpid()}]: "

    def write(self, record: Record) -> None:
        level = logging.WARNING if record.get("decision") in _DENIALS else logging.INFO
        msg = f"{_summary(record)} {json.dumps(record, separators=(',', ':'), default=str)}"
        entry = logging.LogRecord("sdk_guard.audit", level, __file__, 0, msg, None, None)
        self._handler.emit(entry)

    def close(self) -> None:
        self._handler.close()


JOURNAL_SOCKET = "/run/systemd/journal/socket"


def _journal_field(key: str, value: str) -> bytes:
    data = value.encode("utf-8", "replace")
    if b"\n" in data:
        # Binary-safe form: KEY, newline, 64-bit little-endian length, data, newline.
        return key.encode() + b"\n" + struct.pack("<Q", len(data)) + data + b"\n"
    return key.encode() + b"=" + data + b"\n"


class JournaldSink(Sink):
    """Sends each record to systemd-journald as structured fields over its native
    protocol: MESSAGE, PRIORITY, SYSLOG_IDENTIFIER, and SDK_GUARD_<FIELD> per field
    (``journalctl SDK_GUARD_DECISION=deny``)."""

    def __init__(self, path: str = JOURNAL_SOCKET, ident: str = "sdk_guard",
                 name: str | None = None) -> None:
        super().__init__(name)
        if not os.path.exists(path):
            raise FileNotFoundError(f"JournaldSink: the journal socket {path} is absent (no "
                                    "systemd-journald on this host); use SyslogSink, "
                                    "OTelLogSink or JsonlSink instead")
        self._path = path
        self._ident = ident
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)

    def write(self, record: Record) -> None:
        denial = record.get("decision") in _DENIALS
        parts = [_journal_field("MESSAGE", _summary(record)),
                 _journal_field("PRIORITY", "4" if denial else "6"),
                 _journal_field("SYSLOG_IDENTIFIER", self._ident)]
        for key in _FIELDS:
            value = record.get(key)
            if value is not None:
                parts.append(_journal_field(f"SDK_GUARD_{key.upper()}", str(value)))
        span = record.get("span")
        if isinstance(span, dict):
            for k, v in span.items():
                if isinstance(v, str):
                    parts.append(_journal_field(f"SDK_GUARD_SPAN_{k.upper()}", v))
        self._sock.sendto(b"".join(parts), self._path)

    def close(self) -> None:
        self._sock.close()
