"""JSONL sink child: ``audit_jsonl_rotation.py LOG``.

Adds a JsonlSink on LOG rotating at 20 000 bytes (50 backups), records 400 denials
and prints the sink statistics.
"""
import json
import sys

sys.path[0] = ""  # what `python -c` puts there: the working directory

from sdk_guard import _guard, audit  # noqa: E402

sink = audit.add_sink(audit.JsonlSink(sys.argv[1], max_bytes=20_000, backups=50))
for i in range(400):
    _guard.emit("guard", "fs.read", "deny", target=str(i))
audit.flush()
print(json.dumps(sink.stats()))
