"""JSONL sink child: ``audit_jsonl_spin.py LOG FLUSH``.

Adds a JsonlSink on LOG with flush mode FLUSH and records ~3 KB denials from four
threads forever, so the parent can SIGKILL it mid-write.  Prints ``go`` once the
writers start.
"""
import sys
import threading

sys.path[0] = ""  # what `python -c` puts there: the working directory

from sdk_guard import _guard, audit  # noqa: E402

audit.add_sink(audit.JsonlSink(sys.argv[1], flush=sys.argv[2]))
pad = "x" * 3000   # lines near a page so writes straddle page boundaries

def spin(n):
    i = 0
    while True:
        _guard.emit("guard", "fs.read", "deny", principal="p" + str(n), target=pad + str(i))
        i += 1

for n in range(3):
    threading.Thread(target=spin, args=(n,), daemon=True).start()
print("go", flush=True)
spin(9)
