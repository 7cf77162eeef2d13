"""Landlock child: ``landlock_preopened_descriptors_keep_access.py PARAMS_JSON``.

Runs the scenario of test_preopened_descriptors_keep_access_and_are_reported (it shows
that preopened descriptors keep access and are reported) with the tree spec (fs.read
P["ro"], fs.write P["rw"] and P["rw2"]) and prints the outcome as JSON.
"""
import os
import sys

from lockdown_prelude import P, attempt, done

import sdk_guard as sg

sys.path[0] = ""  # what `python -c` puts there: the working directory

spec = {"fs": {"read": [P["ro"]], "write": [P["rw"], P["rw2"]]}, "seccomp": "off"}
w = open(P["out"] + "/f.txt", "a")
d = os.open(P["out"], os.O_RDONLY | os.O_DIRECTORY)
r = sg.lockdown(spec=spec)
w.write("still")
w.flush()
warn = {x["target"]: x["access"] for x in r.as_dict()["landlock"]["warnings"] if "target" in x}
done(warned_write=warn.get(P["out"] + "/f.txt"), warned_dir=warn.get(P["out"]),
     listdir_fd=sorted(os.listdir(d)),
     open_under_fd=attempt(os.open, "f.txt", os.O_RDONLY, dir_fd=d))
