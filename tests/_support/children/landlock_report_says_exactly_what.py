"""Landlock child: ``landlock_report_says_exactly_what.py PARAMS_JSON``.

Runs the scenario of test_report_says_exactly_what_was_enforced (it shows that report
says exactly what was enforced) with the tree spec (fs.read P["ro"], fs.write P["rw"]
and P["rw2"]) and prints the outcome as JSON.
"""
import json
import os
import sys

from lockdown_prelude import P, done

import sdk_guard as sg

sys.path[0] = ""  # what `python -c` puts there: the working directory

spec = {"fs": {"read": [P["ro"]], "write": [P["rw"], P["rw2"]]}, "seccomp": "off"}
spec["fs"]["read"] += [P["out"] + "/f.txt", P["base"] + "/missing", "rel"]
os.makedirs(P["base"] + "/cwd/rel")
os.chdir(P["base"] + "/cwd")
r = sg.lockdown(spec=spec)
d = r.as_dict()
json.dumps(d)
done(d=d)
