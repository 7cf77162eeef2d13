"""Landlock child: ``landlock_thread_local_mode_confines.py PARAMS_JSON``.

Runs the scenario of test_thread_local_mode_confines_only_the_calling_thread (it shows
that thread local mode confines only the calling thread) with the tree spec (fs.read
P["ro"], fs.write P["rw"] and P["rw2"]) and prints the outcome as JSON.
"""
import sys

from lockdown_prelude import P, attempt, done, older_thread_opens

import sdk_guard as sg

sys.path[0] = ""  # what `python -c` puts there: the working directory

import threading  # noqa: E402

spec = {"fs": {"read": [P["ro"]], "write": [P["rw"], P["rw2"]]}, "seccomp": "off"}
spec["threads"] = "thread_local"
r, old_thread = older_thread_opens(lambda: sg.lockdown(spec=spec), P["out"] + "/f.txt")
box = []
n = threading.Thread(target=lambda: box.append(attempt(open, P["out"] + "/f.txt")))
n.start()
n.join()
th = r.as_dict()["landlock"]["threads"]
done(status=r.status, mode=th["mode"], unconfined=len(th["unconfined"]), old_thread=old_thread,
     main=attempt(open, P["out"] + "/f.txt"), new_thread=box[0])
