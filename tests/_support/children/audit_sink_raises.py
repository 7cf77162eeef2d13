"""Sink failure child: ``audit_sink_raises.py``.

Adds a MemorySink, a callback sink failing every third record and one that always
raises, records 300 denials and prints the seqs, what the flaky sink got, every
memory record and the sink statistics.
"""
import json
import sys

sys.path[0] = ""  # what `python -c` puts there: the working directory

from sdk_guard import _guard, audit  # noqa: E402

calls = {"n": 0}
got = []

def flaky(rec):
    calls["n"] += 1
    if calls["n"] % 3 == 0:
        raise OSError("disk hiccup")
    got.append(rec["seq"])

def broken(rec):
    raise RuntimeError("always")

mem = audit.add_sink(audit.MemorySink())
audit.add_sink(audit.CallbackSink(flaky, name="flaky"))
audit.add_sink(audit.CallbackSink(broken, name="broken"))
seqs = [_guard.emit("guard", "fs.read", "deny", target=str(i)) for i in range(300)]
audit.flush()
audit.flush()
print(json.dumps({"seqs": seqs, "flaky": got, "mem": mem.records,
                  "stats": audit.stats()["sinks"]}))
