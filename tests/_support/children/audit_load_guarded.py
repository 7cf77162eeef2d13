"""Audit load child: ``audit_load_guarded.py BASE LOG THREADS PER_THREAD POLICY_JSON``.

Puts BASE (the test's tree: deeplib, plugins/acme, secret.txt) on sys.path, attaches a
batch JsonlSink on LOG, installs POLICY_JSON (relative to BASE) and has THREADS
threads each make acme try PER_THREAD refused reads of BASE/secret.txt.  Prints how
many each was denied and the ring counters after a flush.
"""
import json
import os
import sys
import threading

sys.path[0] = ""  # what `python -c` puts there: the working directory

import sdk_guard  # noqa: E402
from sdk_guard import _guard, audit  # noqa: E402

base, log = sys.argv[1], sys.argv[2]
threads, per_thread = int(sys.argv[3]), int(sys.argv[4])
sys.path.insert(0, base)
audit.add_sink(audit.JsonlSink(log, flush="batch"))
guard = sdk_guard.install(sdk_guard.Policy.from_dict(json.loads(sys.argv[5]), base_dir=base))
acme = guard.import_extension("acme")
results = []

def work():
    results.append(acme.hammer(os.path.join(base, "secret.txt"), per_thread))

ts = [threading.Thread(target=work) for _ in range(threads)]
for t in ts:
    t.start()
for t in ts:
    t.join()
audit.flush()
print(json.dumps({"denied": results, "counters": _guard.audit_counters()}))
