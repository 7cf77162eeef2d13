"""OpenTelemetry correlation and the collector sinks (sdk_guard.otel, OTelLogSink,
SyslogSink, JournaldSink).  The guard-installing parts run in a child interpreter."""
from __future__ import annotations

import json
import os
import socket
import struct
import tempfile
from pathlib import Path

import pytest

from _support.child import run_program_json, write_tree

pytest.importorskip("opentelemetry.sdk", reason="opentelemetry-sdk is in requirements-dev.txt")

# The child program is tests/_support/children/otel_correlation.py.



@pytest.mark.parametrize("order", ["otel-first", "guard-first"])
def test_denials_carry_the_otel_trace_and_reach_the_logs_api(tmp_path: Path, order: str) -> None:
    write_tree(tmp_path, {"plugins/acme/__init__.py":
                          "def secret():\n    return open('/etc/passwd').read()\n"})
    out = run_program_json("otel_correlation", str(tmp_path / "plugins"), order)
    assert out["enabled"] is True
    # a process that has not imported OpenTelemetry is not made to import it
    assert out["otel_imported_at_install"] is (order == "otel-first")
    recs = {int(k): v for k, v in out["records"].items()}
    inner, outer, none = recs[out["inner_seq"]], recs[out["outer_seq"]], recs[out["no_span_seq"]]
    assert inner["otel_trace_id"] == out["trace_id"]
    assert inner["otel_span_id"] == out["inner_span_id"]
    # the inner span ended: back to the request span, inside the same sdk_guard span
    assert outer["otel_trace_id"] == out["trace_id"] and outer["otel_span_id"] == out["span_id"]
    assert outer["span"]["action"] is not None and outer["user"] == "u-1"
    assert "otel_trace_id" not in none and "otel_span_id" not in none
    denials = [lg for lg in out["logs"] if lg["attrs"].get("sdk_guard.decision") == "deny"]
    assert len(denials) == 3
    first = next(lg for lg in denials if lg["attrs"]["sdk_guard.seq"] == out["inner_seq"])
    assert first["trace_id"] == out["trace_id"] and first["span_id"] == out["inner_span_id"]
    assert first["severity"] == "WARN"
    assert first["body"].startswith("sdk_guard deny fs.read /etc/passwd by acme")
    assert first["attrs"]["sdk_guard.principal"] == "acme"
    assert first["attrs"]["sdk_guard.rule"] == "extensions.acme.fs.read"
    last = next(lg for lg in denials if lg["attrs"]["sdk_guard.seq"] == out["no_span_seq"])
    assert last["trace_id"] is None


def test_syslog_sink_sends_each_record_to_the_collector() -> None:
    from sdk_guard.audit import SyslogSink
    rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rx.bind(("127.0.0.1", 0))
    rx.settimeout(5)
    sink = SyslogSink(address=rx.getsockname())
    try:
        rec = {"seq": 4, "layer": "guard", "principal": "acme", "capability": "fs.read",
               "target": "/etc/passwd", "decision": "deny", "rule": "extensions.acme.fs.read"}
        sink.write(rec)
        data = rx.recv(65536).decode()
    finally:
        sink.close()
        rx.close()
    # <PRI> = facility authpriv (10) * 8 + warning (4)
    assert data.startswith(f"<84>sdk_guard[{os.getpid()}]: sdk_guard deny fs.read /etc/passwd by acme")
    assert json.loads(data.split(" (rule extensions.acme.fs.read) ", 1)[1].rstrip("\0")) == rec


def test_syslog_sink_without_a_local_socket_says_so() -> None:
    from sdk_guard.audit import SyslogSink
    with pytest.raises(FileNotFoundError, match="no syslog socket at /nonexistent/log"):
        SyslogSink(address="/nonexistent/log")


def _parse_journal(data: bytes) -> dict[str, str]:
    fields: dict[str, str] = {}
    while data:
        line, _, rest = data.partition(b"\n")
        if b"=" in line:
            k, _, v = line.partition(b"=")
            fields[k.decode()] = v.decode()
            data = rest
        else:
            (n,) = struct.unpack("<Q", rest[:8])
            fields[line.decode()] = rest[8:8 + n].decode()
            data = rest[8 + n + 1:]
    return fields


def test_journald_sink_sends_structured_fields() -> None:
    from sdk_guard.audit import JournaldSink
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "journal.sock")
        rx = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        rx.bind(path)
        rx.settimeout(5)
        sink = JournaldSink(path)
        try:
            sink.write({"seq": 9, "layer": "guard", "principal": "acme",
                        "capability": "net.connect", "target": "10.0.0.5:5432",
                        "decision": "deny", "rule": "extensions.acme.net.connect",
                        "span": {"action": "a-0123456789ab", "task": None},
                        "otel_trace_id": "0" * 31 + "1", "user": "multi\nline"})
            fields = _parse_journal(rx.recv(65536))
        finally:
            sink.close()
            rx.close()
    assert fields["MESSAGE"].startswith("sdk_guard deny net.connect 10.0.0.5:5432 by acme")
    assert fields["PRIORITY"] == "4" and fields["SYSLOG_IDENTIFIER"] == "sdk_guard"
    assert fields["SDK_GUARD_SEQ"] == "9" and fields["SDK_GUARD_DECISION"] == "deny"
    assert fields["SDK_GUARD_SPAN_ACTION"] == "a-0123456789ab"
    assert fields["SDK_GUARD_OTEL_TRACE_ID"] == "0" * 31 + "1"
    assert fields["SDK_GUARD_USER"] == "multi\nline"        # binary-safe field form


def test_journald_sink_names_the_absent_socket() -> None:
    from sdk_guard.audit import JournaldSink
    with pytest.raises(FileNotFoundError, match="journal socket /nonexistent/journal is absent"):
        JournaldSink("/nonexistent/journal")
