"""Landlock child: ``landlock_truncate_is_denied_outside.py PARAMS_JSON``.

Runs the scenario of test_truncate_is_denied_outside_fs_write (it shows that truncate
is denied outside fs write) with the tree spec (fs.read P["ro"], fs.write P["rw"] and
P["rw2"]) and prints the outcome as JSON.
"""
import os
import sys

from lockdown_prelude import P, attempt, done

import sdk_guard as sg

sys.path[0] = ""  # what `python -c` puts there: the working directory

spec = {"fs": {"read": [P["ro"]], "write": [P["rw"], P["rw2"]]}, "seccomp": "off"}
r = sg.lockdown(spec=spec)
def ftrunc(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        os.ftruncate(fd, 0)
    finally:
        os.close(fd)
done(trunc_rw=attempt(os.truncate, P["rw"] + "/f.txt", 1),
     trunc_ro=attempt(os.truncate, P["ro"] + "/f.txt", 0),
     trunc_out=attempt(os.truncate, P["out"] + "/f.txt", 0),
     o_trunc_ro=attempt(os.open, P["ro"] + "/f.txt", os.O_RDONLY | os.O_TRUNC),
     ftrunc_readonly_fd_rw=attempt(ftrunc, P["rw"] + "/f.txt"),
     ro_size=os.stat(P["ro"] + "/f.txt").st_size)
