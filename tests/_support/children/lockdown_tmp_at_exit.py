"""Lockdown child: ``lockdown_tmp_at_exit.py PARAMS_JSON``.

Locks down (seccomp off) under an installed guard, creates a file in the private
temporary directory, prints its path and exits normally: the atexit cleanup runs
with no host frame on the stack.
"""
import os
import sys

from lockdown_prelude import P  # noqa: F401  (reads argv[1], like every lockdown child)

import sdk_guard as sg

sys.path[0] = ""  # what `python -c` puts there: the working directory

p = sg.Policy.from_dict({"version": 1, "lockdown": {"seccomp": "off"}})
r = sg.lockdown(p)
sg.install(p)
path = r.landlock["tmp"]["path"]
open(os.path.join(path, "f"), "w").close()
print(path, flush=True)
