"""Landlock child: ``landlock_tsync_confines_threads_that.py PARAMS_JSON``.

Runs the scenario of test_tsync_confines_threads_that_already_exist (it shows that
tsync confines threads that already exist) with the tree spec (fs.read P["ro"],
fs.write P["rw"] and P["rw2"]) and prints the outcome as JSON.
"""
import sys

from lockdown_prelude import P, done, older_thread_opens

import sdk_guard as sg

sys.path[0] = ""  # what `python -c` puts there: the working directory

spec = {"fs": {"read": [P["ro"]], "write": [P["rw"], P["rw2"]]}, "seccomp": "off"}
r, res = older_thread_opens(lambda: sg.lockdown(spec=spec), P["out"] + "/f.txt")
done(status=r.status, mode=r.as_dict()["landlock"]["threads"]["mode"], old_thread=res)
