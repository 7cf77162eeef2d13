"""Lockdown child: ``lockdown_private_tmp.py PARAMS_JSON``.

Locks down, writes into the private temporary directory and prints its report,
mode, TMPDIR and whether writing to the shared one is refused.
"""
import os
import sys

from lockdown_prelude import attempt, done

import sdk_guard as sg

sys.path[0] = ""  # what `python -c` puts there: the working directory

import stat  # noqa: E402
import tempfile  # noqa: E402

outside = tempfile.gettempdir()
r = sg.lockdown(spec={"seccomp": "errno"})
t = r.landlock["tmp"]
with open(os.path.join(t["path"], "left-behind"), "w") as f:
    f.write("x")
done(tmp=t, mode=oct(stat.S_IMODE(os.stat(t["path"]).st_mode)), env=os.environ["TMPDIR"],
     tempdir=tempfile.gettempdir(), parent=os.path.dirname(t["path"]) == outside,
     outside_write=attempt(open, os.path.join(outside, "sdk_guard-escape-test"), "w"))
