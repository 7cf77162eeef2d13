"""Fork child: ``audit_fork_queued.py LOG``.

Adds a batching JsonlSink on LOG and a slow callback sink, records ``first`` and five
``queued`` denials, forks while they are still queued and records ``child`` in the
forked process.  Prints ``true``.
"""
import json
import os
import sys
import threading

sys.path[0] = ""  # what `python -c` puts there: the working directory

from sdk_guard import _guard, audit  # noqa: E402

gate = threading.Event()
audit.add_sink(audit.JsonlSink(sys.argv[1], flush="batch"))
audit.add_sink(audit.CallbackSink(lambda rec: gate.wait(5), name="slow"))
_guard.emit("guard", "fs.read", "deny", target="first")
for _ in range(5):
    _guard.emit("guard", "fs.read", "deny", target="queued")
pid = os.fork()
if pid == 0:
    gate.set()
    _guard.emit("guard", "fs.read", "deny", target="child")
    audit.flush()
    os._exit(0)
os.waitpid(pid, 0)
gate.set()
audit.flush()
print(json.dumps(True))
