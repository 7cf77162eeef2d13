"""Lockdown child: ``lockdown_runtime_grants.py PARAMS_JSON``.

Locks down allowing TCP 443 and prints the path rules, the pid, the private tmp and
the runtime mode.
"""
import os
import sys

from lockdown_prelude import done

import sdk_guard as sg

sys.path[0] = ""  # what `python -c` puts there: the working directory

r = sg.lockdown(spec={"net.connect_tcp": [443], "seccomp": "off"})
rules = [x for x in r.landlock["rules"] if x["type"] == "path"]
done(rules=rules, pid=os.getpid(), tmp=r.landlock["tmp"], runtime=r.landlock["runtime"])
