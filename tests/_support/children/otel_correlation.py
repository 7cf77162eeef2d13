"""OpenTelemetry correlation child: ``otel_correlation.py PLUGINS ORDER``.

ORDER is "otel-first" (OpenTelemetry set up before the guard is installed) or
"guard-first".  The extension acme (under PLUGINS) is denied a read three times: in an
inner OpenTelemetry span inside an sdk_guard action span, in the outer span, and in
none.  Prints the ids, the guard's records by seq and what OTelLogSink logged.
"""
import json
import sys

sys.path[0] = ""  # what `python -c` puts there: the working directory

import sdk_guard as sg  # noqa: E402


def setup_otel():
    global trace, tracer, logs, exporter
    from opentelemetry import trace
    from opentelemetry.sdk._logs import LoggerProvider
    from opentelemetry.sdk._logs.export import InMemoryLogExporter, SimpleLogRecordProcessor
    from opentelemetry.sdk.trace import TracerProvider
    trace.set_tracer_provider(TracerProvider())
    tracer = trace.get_tracer("host")
    logs = LoggerProvider()
    exporter = InMemoryLogExporter()
    logs.add_log_record_processor(SimpleLogRecordProcessor(exporter))

out = {}
if sys.argv[2] == "otel-first":
    setup_otel()
mem = sg.audit.MemorySink()
sg.audit.add_sink(mem)
policy = sg.Policy.from_dict({"version": 1, "extensions": {"acme": {
    "package": "acme", "path": sys.argv[1]}}})
guard = sg.install(policy)
out["otel_imported_at_install"] = "opentelemetry.context" in sys.modules
if sys.argv[2] == "guard-first":
    setup_otel()
sg.audit.add_sink(sg.audit.OTelLogSink(logger_provider=logs))
acme = guard.import_extension("acme")
out["enabled"] = sg.otel.trace_ids_enabled()

def attempt():
    try:
        acme.secret()
    except sg.PolicyViolation as exc:
        return exc.event_id

with tracer.start_as_current_span("request") as span:
    ctx = span.get_span_context()
    out["trace_id"] = f"{ctx.trace_id:032x}"
    out["span_id"] = f"{ctx.span_id:016x}"
    with sg.audit.span("action", "export", user="u-1"):
        with tracer.start_as_current_span("inner") as inner:
            out["inner_span_id"] = f"{inner.get_span_context().span_id:016x}"
            out["inner_seq"] = attempt()
        out["outer_seq"] = attempt()
out["no_span_seq"] = attempt()
sg.audit.flush()
out["records"] = {r["seq"]: r for r in mem.records if r["layer"] == "guard"}
out["logs"] = []
for item in exporter.get_finished_logs():
    lr = getattr(item, "log_record", item)
    out["logs"].append({"trace_id": f"{lr.trace_id:032x}" if lr.trace_id else None,
                        "span_id": f"{lr.span_id:016x}" if lr.span_id else None,
                        "severity": lr.severity_text, "body": lr.body,
                        "attrs": dict(lr.attributes or {})})
print(json.dumps(out))
