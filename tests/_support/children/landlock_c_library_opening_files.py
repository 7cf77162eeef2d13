"""Landlock child: ``landlock_c_library_opening_files.py PARAMS_JSON``.

Runs the scenario of test_c_library_opening_files_itself_is_confined (it shows that c
library opening files itself is confined) with the tree spec (fs.read P["ro"],
fs.write P["rw"] and P["rw2"]) and prints the outcome as JSON.
"""
import os
import sys

from lockdown_prelude import P, done

import sdk_guard as sg

sys.path[0] = ""  # what `python -c` puts there: the working directory

spec = {"fs": {"read": [P["ro"]], "write": [P["rw"], P["rw2"]]}, "seccomp": "off"}
import sqlite3  # noqa: E402

r = sg.lockdown(spec=spec)
def db(path):
    try:
        c = sqlite3.connect(path)
        c.execute("create table if not exists t (x)")
        c.execute("insert into t values (1)")
        c.commit()
        c.close()
        return "ok"
    except sqlite3.OperationalError as e:
        return "denied: " + str(e)
done(inside=db(P["rw"] + "/a.db"), outside=db(P["out"] + "/a.db"),
     outside_exists=os.path.exists(P["out"] + "/a.db"))
