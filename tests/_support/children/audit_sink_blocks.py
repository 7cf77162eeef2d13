"""Blocking sink child: ``audit_sink_blocks.py``.

Adds a MemorySink and a callback sink that blocks (up to 3 s), records 20 000
denials from four threads and prints how long recording took, how many records the
memory sink got and the audit statistics.
"""
import json
import sys
import threading
import time

sys.path[0] = ""  # what `python -c` puts there: the working directory

from sdk_guard import _guard, audit  # noqa: E402

release = threading.Event()

def slow(rec):
    release.wait(3)

mem = audit.add_sink(audit.MemorySink())
audit.add_sink(audit.CallbackSink(slow))
t0 = time.monotonic()

def work():
    for _ in range(5000):
        _guard.emit("guard", "fs.read", "deny")

ts = [threading.Thread(target=work) for _ in range(4)]
for t in ts:
    t.start()
for t in ts:
    t.join()
elapsed = time.monotonic() - t0
release.set()
audit.flush()
print(json.dumps({"elapsed": elapsed, "n": len(mem.records), "stats": audit.stats()}))
