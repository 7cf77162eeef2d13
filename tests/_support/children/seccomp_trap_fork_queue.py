"""Seccomp child: ``seccomp_trap_fork_queue.py``.

Runs the scenario of test_trap_denials_queued_at_fork_are_reported_by_the_parent_only
(it shows that trap denials queued at fork are reported by the parent only) and prints
the outcome as JSON.
"""
import json
import os
import sys

from seccomp_prelude import lock, sc

from sdk_guard import seccomp

sys.path[0] = ""  # what `python -c` puts there: the working directory

lock("trap")
sc(101, 0, 0, 0, 0)
sc(105, 0)
r, w = os.pipe()
pid = os.fork()
if pid == 0:
    os.close(r)
    os.write(w, str(seccomp.drain()).encode())
    os._exit(0)
os.close(w)
os.waitpid(pid, 0)
in_child = int(os.read(r, 100))
print(json.dumps({"child": in_child, "parent": seccomp.drain()}))
