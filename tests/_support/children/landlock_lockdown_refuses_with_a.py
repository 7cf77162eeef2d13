"""Landlock child: ``landlock_lockdown_refuses_with_a.py PARAMS_JSON``.

Runs the scenario of test_lockdown_refuses_with_a_live_thread_and_applies_nothing (it
shows that lockdown refuses with a live thread and applies nothing) with the tree spec
(fs.read P["ro"], fs.write P["rw"] and P["rw2"]) and prints the outcome as JSON.
"""
import sys

from lockdown_prelude import P, attempt, done

import sdk_guard as sg

sys.path[0] = ""  # what `python -c` puts there: the working directory

spec = {"fs": {"read": [P["ro"]], "write": [P["rw"], P["rw2"]]}, "seccomp": "off"}
import threading  # noqa: E402

stop = threading.Event()
t = threading.Thread(target=stop.wait, name="plugin-worker")
t.start()
try:
    sg.lockdown(spec=spec)
    res = {"raised": False}
except sg.GuardError as e:
    res = {"raised": True, "msg": str(e)}
stop.set()
t.join()
res["nnp"] = sg._guard.get_no_new_privs()
res["read_out"] = attempt(open, P["out"] + "/f.txt")
# Nothing was applied, so a later lockdown (now single-threaded) succeeds.
res["retry"] = sg.lockdown(spec=spec).status
res["read_out_after"] = attempt(open, P["out"] + "/f.txt")
done(**res)
