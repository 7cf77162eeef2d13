"""JSONL sink child: ``audit_jsonl_opens_refused.py LOG``.

Adds a JsonlSink on LOG, then makes builtins.open and os.open refuse every call (as
Landlock would) and records 100 denials.  Prints the sink statistics.
"""
import builtins
import json
import os
import sys

sys.path[0] = ""  # what `python -c` puts there: the working directory

from sdk_guard import _guard, audit  # noqa: E402

sink = audit.add_sink(audit.JsonlSink(sys.argv[1]))

def refuse(*a, **k):
    raise PermissionError("no new files")

builtins.open = os.open = refuse
for i in range(100):
    _guard.emit("guard", "fs.write", "deny", principal="acme", target=str(i))
audit.flush()
print(json.dumps(audit.stats()["sinks"]))
