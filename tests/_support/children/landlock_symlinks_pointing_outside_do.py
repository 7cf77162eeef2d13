"""Landlock child: ``landlock_symlinks_pointing_outside_do.py PARAMS_JSON``.

Runs the scenario of test_symlinks_pointing_outside_do_not_escape (it shows that
symlinks pointing outside do not escape) with the tree spec (fs.read P["ro"], fs.write
P["rw"] and P["rw2"]) and prints the outcome as JSON.
"""
import os
import sys

from lockdown_prelude import P, attempt, done

import sdk_guard as sg

sys.path[0] = ""  # what `python -c` puts there: the working directory

spec = {"fs": {"read": [P["ro"]], "write": [P["rw"], P["rw2"]]}, "seccomp": "off"}
r = sg.lockdown(spec=spec)
made = attempt(os.symlink, P["out"] + "/f.txt", P["rw"] + "/new_link")
done(made=made,
     follow_new=attempt(open, P["rw"] + "/new_link"),
     follow_old=attempt(open, P["ro"] + "/link_out"),
     write_through=attempt(open, P["rw"] + "/new_link", "a"),
     symlink_in_ro=attempt(os.symlink, "/", P["ro"] + "/l2"),
     readlink=os.readlink(P["ro"] + "/link_out") == P["out"] + "/f.txt")
