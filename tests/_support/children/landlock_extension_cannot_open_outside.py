"""Landlock child: ``landlock_extension_cannot_open_outside.py PARAMS_JSON``.

Runs the scenario of test_extension_cannot_open_outside_fs_read_with_builtin_open (it
shows that extension cannot open outside fs read with builtin open) with the tree spec
(fs.read P["ro"], fs.write P["rw"] and P["rw2"]) and prints the outcome as JSON.
"""
import sys

from lockdown_prelude import P, attempt, done

import sdk_guard as sg

sys.path[0] = ""  # what `python -c` puts there: the working directory

spec = {"fs": {"read": [P["ro"]], "write": [P["rw"], P["rw2"]]}, "seccomp": "off"}
r = sg.lockdown(spec=spec)
done(status=r.status,
     read_ro=attempt(open, P["ro"] + "/f.txt"),
     read_rw=attempt(open, P["rw"] + "/f.txt"),
     read_out=attempt(open, P["out"] + "/f.txt"),
     write_ro=attempt(open, P["ro"] + "/f.txt", "a"),
     write_rw=attempt(open, P["rw"] + "/f.txt", "a"),
     write_out=attempt(open, P["out"] + "/f.txt", "a"),
     read_etc=attempt(open, "/etc/hostname"))
