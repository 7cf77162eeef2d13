"""Landlock child: ``landlock_directory_listing_is_denied.py PARAMS_JSON``.

Runs the scenario of test_directory_listing_is_denied_outside_the_rules (it shows that
directory listing is denied outside the rules) with the tree spec (fs.read P["ro"],
fs.write P["rw"] and P["rw2"]) and prints the outcome as JSON.
"""
import os
import sys

from lockdown_prelude import P, attempt, done

import sdk_guard as sg

sys.path[0] = ""  # what `python -c` puts there: the working directory

spec = {"fs": {"read": [P["ro"]], "write": [P["rw"], P["rw2"]]}, "seccomp": "off"}
r = sg.lockdown(spec=spec)
done(list_ro=sorted(os.listdir(P["ro"])),
     list_out=attempt(os.listdir, P["out"]),
     scandir_out=attempt(lambda: list(os.scandir(P["out"]))),
     list_base=attempt(os.listdir, P["base"]),
     list_root=attempt(os.listdir, "/"),
     stat_out=attempt(os.stat, P["out"] + "/f.txt"))
