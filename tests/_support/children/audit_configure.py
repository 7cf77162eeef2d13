"""[audit] section child: ``audit_configure.py DATA_DIR``.

Builds the sinks of an [audit] section (a batching JSONL sink under ``{data}``, ring
capacity 1024) with ``{data}`` = DATA_DIR, records one denial and prints the sink
type names followed by the ring capacity.
"""
import json
import sys

sys.path[0] = ""  # what `python -c` puts there: the working directory

from sdk_guard import _guard, audit  # noqa: E402

cfg = audit.parse_config({"sinks": [{"type": "jsonl", "path": "{data}/audit.jsonl",
                                     "flush": "batch"}], "ring_capacity": 1024})
made = audit.configure(cfg, placeholders={"data": sys.argv[1]})
_guard.emit("guard", "fs.read", "deny")
audit.flush()
print(json.dumps([type(s).__name__ for s in made] + [_guard.audit_counters()["capacity"]]))
