"""Landlock child: ``landlock_require_landlock_passes_when.py PARAMS_JSON``.

Runs the scenario of test_require_landlock_passes_when_fully_enforced (it shows that
require landlock passes when fully enforced) with the tree spec (fs.read P["ro"],
fs.write P["rw"] and P["rw2"]) and prints the outcome as JSON.
"""
import sys

from lockdown_prelude import P, attempt, done

import sdk_guard as sg

sys.path[0] = ""  # what `python -c` puts there: the working directory

spec = {"fs": {"read": [P["ro"]], "write": [P["rw"], P["rw2"]]}, "seccomp": "off"}
r = sg.lockdown(spec=spec, require=["landlock"])
done(status=r.landlock["status"], read_out=attempt(open, P["out"] + "/f.txt"))
