"""Audit load child: ``audit_load.py LOG THREADS PER_THREAD CONFIG_JSON``.

Applies CONFIG_JSON as the policy's ``[audit]`` section (ring_capacity, overflow_wait),
attaches a batch JsonlSink on LOG, then THREADS threads record PER_THREAD denials each
(principal "p<thread>", target "<i>"), released together by a barrier.  Prints the
ring counters after a flush.
"""
import json
import sys
import threading

sys.path[0] = ""  # what `python -c` puts there: the working directory

from sdk_guard import _guard, audit  # noqa: E402

log, threads, per_thread = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
audit.configure(audit.parse_config(json.loads(sys.argv[4])))
audit.add_sink(audit.JsonlSink(log, flush="batch"))
start = threading.Barrier(threads)


def work(n):
    start.wait()
    for i in range(per_thread):
        _guard.emit("guard", "net.connect", "deny", principal="p" + str(n), target=str(i))


ts = [threading.Thread(target=work, args=(n,)) for n in range(threads)]
for t in ts:
    t.start()
for t in ts:
    t.join()
audit.flush()
print(json.dumps(_guard.audit_counters()))
