"""Seccomp child: ``seccomp_every_thread.py``.

Runs the scenario of test_filter_is_on_every_thread (it shows that filter is on every
thread) and prints the outcome as JSON.
"""
import json
import os
import sys

from seccomp_prelude import lock

sys.path[0] = ""  # what `python -c` puts there: the working directory

import threading  # noqa: E402

stop = threading.Event()
threads = [threading.Thread(target=stop.wait) for _ in range(3)]
for t in threads:
    t.start()
lock()
late = threading.Thread(target=stop.wait)
late.start()
modes = {}
for tid in os.listdir("/proc/self/task"):
    with open(f"/proc/self/task/{tid}/status") as f:
        modes[tid] = [ln.split()[1] for ln in f if ln.startswith("Seccomp:")][0]
stop.set()
for t in threads + [late]:
    t.join()
print(json.dumps(modes))
