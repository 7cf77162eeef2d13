"""Stuck sink child: ``audit_sink_stuck.py``.

With a 16-record ring and a 0.5 s overflow wait, records 200 denials while a callback
sink is stuck.  Prints how long recording took, the dropped count and how many guard
records arrived.
"""
import json
import sys
import threading
import time

sys.path[0] = ""  # what `python -c` puts there: the working directory

from sdk_guard import _guard, audit  # noqa: E402

_guard.audit_configure(capacity=16, overflow_wait=0.5)
release = threading.Event()
mem = audit.add_sink(audit.MemorySink())
audit.add_sink(audit.CallbackSink(lambda rec: release.wait(60)))
t0 = time.monotonic()
for _ in range(200):
    _guard.emit("guard", "fs.read", "deny")
elapsed = time.monotonic() - t0
release.set()
audit.flush()
recs = mem.records
dropped = sum(r["dropped"] for r in recs if r["decision"] == "dropped")
present = {r["seq"] for r in recs if r["layer"] == "guard"}
print(json.dumps({"elapsed": elapsed, "dropped": dropped, "present": len(present)}))
