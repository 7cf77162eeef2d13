"""Schema child: ``audit_every_record_kind.py LOG``.

Writes every kind of record the audit module produces into a JsonlSink on LOG:
denials, a dropped-count record (4-record ring, no overflow wait), the sink's open
record, a sink_failed record and an allow inside an action span.
"""
import sys

sys.path[0] = ""  # what `python -c` puts there: the working directory

from sdk_guard import _guard, audit  # noqa: E402

_guard.audit_configure(capacity=4, overflow_wait=0)
for i in range(10):
    _guard.emit("guard", "fs.read", "deny", principal="acme", target=str(i))
audit.add_sink(audit.JsonlSink(sys.argv[1]))
audit.add_sink(audit.CallbackSink(lambda r: 1 / 0))
audit.flush()
_guard.audit_configure(overflow_wait=1.0)
with audit.span("action", "a", user="u", org="o", k=1):
    _guard.emit("landlock", "lockdown", "allow", extra={"report": {"status": "full"}})
audit.flush()
