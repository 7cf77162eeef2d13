"""Landlock child: ``landlock_creating_files_dirs_and.py PARAMS_JSON``.

Runs the scenario of test_creating_files_dirs_and_fifos_only_inside_fs_write (it shows
that creating files dirs and fifos only inside fs write) with the tree spec (fs.read
P["ro"], fs.write P["rw"] and P["rw2"]) and prints the outcome as JSON.
"""
import os
import sys

from lockdown_prelude import P, attempt, done

import sdk_guard as sg

sys.path[0] = ""  # what `python -c` puts there: the working directory

spec = {"fs": {"read": [P["ro"]], "write": [P["rw"], P["rw2"]]}, "seccomp": "off"}
r = sg.lockdown(spec=spec)
done(create_rw=attempt(open, P["rw"] + "/new", "x"),
     create_ro=attempt(open, P["ro"] + "/new", "x"),
     create_out=attempt(open, P["out"] + "/new", "x"),
     mkdir_rw=attempt(os.mkdir, P["rw"] + "/d"),
     mkdir_ro=attempt(os.mkdir, P["ro"] + "/d"),
     fifo_rw=attempt(os.mkfifo, P["rw"] + "/fifo"),
     fifo_out=attempt(os.mkfifo, P["out"] + "/fifo"),
     unlink_ro=attempt(os.unlink, P["ro"] + "/f.txt"),
     rmdir_out=attempt(os.rmdir, P["out"] + "/sub"),
     mknod_chr_rw=attempt(os.mknod, P["rw"] + "/null", 0o600 | 0o020000, os.makedev(1, 3)))
