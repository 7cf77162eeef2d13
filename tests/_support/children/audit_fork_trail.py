"""Fork child: ``audit_fork_trail.py LOG``.

Adds a JsonlSink on LOG, records ``parent``, forks and records ``child`` in the
forked process.  Prints ``true``.
"""
import json
import os
import sys

sys.path[0] = ""  # what `python -c` puts there: the working directory

from sdk_guard import _guard, audit  # noqa: E402

audit.add_sink(audit.JsonlSink(sys.argv[1]))
_guard.emit("guard", "fs.read", "deny", target="parent")
audit.flush()
pid = os.fork()
if pid == 0:
    _guard.emit("guard", "fs.read", "deny", target="child")
    audit.flush()
    os._exit(0)
os.waitpid(pid, 0)
print(json.dumps(True))
