"""Logging sink child: ``audit_logging_sink.py``.

Adds a LoggingSink on a logger with a recording handler, records a denial and an
allow, and prints ``[level, decision, seq]`` for every log record.
"""
import json
import logging
import sys

sys.path[0] = ""  # what `python -c` puts there: the working directory

from sdk_guard import _guard, audit  # noqa: E402

seen = []

class H(logging.Handler):
    def emit(self, r):
        seen.append((r.levelname, r.audit["decision"], json.loads(r.getMessage())["seq"]))

log = logging.getLogger("t.audit")
log.addHandler(H())
log.setLevel(logging.INFO)
audit.add_sink(audit.LoggingSink(log))
_guard.emit("guard", "fs.read", "deny")
_guard.emit("guard", "fs.read", "allow")
audit.flush()
print(json.dumps(seen))
