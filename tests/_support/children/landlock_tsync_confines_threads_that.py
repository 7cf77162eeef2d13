"""Landlock child: ``landlock_tsync_confines_threads_that.py PARAMS_JSON``.

Runs the scenario of test_tsync_confines_threads_that_already_exist (it shows that
tsync confines threads that already exist) with the tree spec (fs.read P["ro"],
fs.write P["rw"] and P["rw2"]) and prints the outcome as JSON.
"""
import sys

from lockdown_prelude import P, attempt, done

import sdk_guard as sg

sys.path[0] = ""  # what `python -c` puts there: the working directory

spec = {"fs": {"read": [P["ro"]], "write": [P["rw"], P["rw2"]]}, "seccomp": "off"}
import queue  # noqa: E402
import threading  # noqa: E402

jobs, results = queue.Queue(), queue.Queue()
def worker():
    while (job := jobs.get()) is not None:
        results.put(attempt(open, job))
t = threading.Thread(target=worker)
t.start()
r = sg.lockdown(spec=spec)
jobs.put(P["out"] + "/f.txt")
res = results.get()
jobs.put(None)
t.join()
done(status=r.status, mode=r.as_dict()["landlock"]["threads"]["mode"], old_thread=res)
