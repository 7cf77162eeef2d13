"""Lock-order child: ``audit_sink_needs_lock.py``.

With a 16-record ring and a 0.05 s overflow wait, records 200 denials while holding
a lock a callback sink needs.  Prints the dropped count, how many guard records
arrived and the last seq.
"""
import json
import sys
import threading

sys.path[0] = ""  # what `python -c` puts there: the working directory

from sdk_guard import _guard, audit  # noqa: E402

_guard.audit_configure(capacity=16, overflow_wait=0.05)
lock = threading.Lock()

def needs_lock(rec):
    with lock:
        pass

mem = audit.add_sink(audit.MemorySink())
audit.add_sink(audit.CallbackSink(needs_lock))
with lock:
    seqs = [_guard.emit("guard", "fs.read", "deny") for _ in range(200)]
audit.flush()
recs = mem.records
dropped = sum(r["dropped"] for r in recs if r["decision"] == "dropped")
present = {r["seq"] for r in recs if r["layer"] == "guard"}
print(json.dumps({"dropped": dropped, "present": len(present), "seqs": seqs[-1]}))
