"""JSONL sink child: ``audit_jsonl_lockdown.py LOG NEW_FILE``.

Adds a JsonlSink on LOG, records a denial, calls lockdown() with no writable path,
tries to create NEW_FILE and records another denial.  Prints whether the file was
created and the lockdown status, or ``{"skip": why}`` without Landlock.
"""
import json
import sys

sys.path[0] = ""  # what `python -c` puts there: the working directory

import sdk_guard  # noqa: E402
from sdk_guard import _guard, audit  # noqa: E402

log, new_file = sys.argv[1], sys.argv[2]
if sdk_guard.probe().get("landlock", {}).get("abi", 0) < 1:
    print(json.dumps({"skip": "Landlock is not available on this kernel"}))
    raise SystemExit
audit.add_sink(audit.JsonlSink(log))
_guard.emit("guard", "fs.write", "deny", principal="acme", target="before")
report = sdk_guard.lockdown(spec={"fs": {"read": ["/"], "write": []}, "seccomp": "off"})
try:
    open(new_file, "w")
    created = True
except PermissionError:
    created = False
_guard.emit("guard", "fs.write", "deny", principal="acme", target="after")
audit.flush()
print(json.dumps({"created": created, "status": report.as_dict()["status"]}))
