"""JSONL sink child: ``audit_jsonl_write_failures.py LOG FLUSH``.

Adds a JsonlSink on LOG with flush mode FLUSH whose writes fail: the first is short,
the next three raise ENOSPC, the rest succeed.  Records 20 denials with the writer
paused, then more across flushes.  Prints the sink statistics and the write count.
"""
import errno
import json
import os
import sys

sys.path[0] = ""  # what `python -c` puts there: the working directory

from sdk_guard import _guard, audit  # noqa: E402

sink = audit.JsonlSink(sys.argv[1], flush=sys.argv[2])
real_write, calls = os.write, {"n": 0}

def flaky_write(fd, data):
    if fd != sink._fd:
        return real_write(fd, data)
    calls["n"] += 1
    if calls["n"] == 1:
        return real_write(fd, bytes(data)[: len(data) // 2])
    if calls["n"] <= 4:
        raise OSError(errno.ENOSPC, "No space left on device")
    return real_write(fd, data)

os.write = flaky_write
audit.add_sink(sink)
with audit.writer_paused():
    for i in range(20):
        _guard.emit("guard", "fs.read", "deny", target=str(i))
for _ in range(6):
    audit.flush()
    _guard.emit("guard", "fs.read", "deny", target="more")
audit.remove_sink(sink)
print(json.dumps({"stats": sink.stats(), "calls": calls["n"]}))
