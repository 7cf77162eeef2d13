"""Seccomp child: ``seccomp_threads_fork_mp.py``.

Runs the scenario of test_threads_fork_and_multiprocessing_still_work (it shows that
threads fork and multiprocessing still work) and prints the outcome as JSON.
"""
import json
import os
import sys

from seccomp_prelude import lock

sys.path[0] = ""  # what `python -c` puts there: the working directory

import multiprocessing  # noqa: E402
import threading  # noqa: E402

lock()
box = []
t = threading.Thread(target=lambda: box.append(os.getpid()))
t.start()
t.join()
pid = os.fork()
if pid == 0:
    os._exit(7)
_, status = os.waitpid(pid, 0)
ctx = multiprocessing.get_context("fork")
with ctx.Pool(2) as pool:
    squares = pool.map(abs, [-1, -2, -3])
print(json.dumps({"thread": box == [os.getpid()], "fork": os.waitstatus_to_exitcode(status),
                  "mp": squares}))
