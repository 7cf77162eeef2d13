"""Lockdown child: ``lockdown_tmp_killed.py PARAMS_JSON``.

Locks down (seccomp off), creates a file in the private temporary directory, prints
its path and sleeps 60 s so the parent can SIGKILL it.
"""
import os
import sys
import time

from lockdown_prelude import P  # noqa: F401  (reads argv[1], like every lockdown child)

import sdk_guard as sg

sys.path[0] = ""  # what `python -c` puts there: the working directory

r = sg.lockdown(spec={"seccomp": "off"})
open(os.path.join(r.landlock["tmp"]["path"], "f"), "w").close()
print(r.landlock["tmp"]["path"], flush=True)
time.sleep(60)
