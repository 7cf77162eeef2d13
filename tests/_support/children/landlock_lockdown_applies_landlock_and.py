"""Landlock child: ``landlock_lockdown_applies_landlock_and.py PARAMS_JSON``.

Runs the scenario of test_lockdown_applies_landlock_and_seccomp_and_reports_both (it
shows that lockdown applies landlock and seccomp and reports both) and prints the
outcome as JSON.
"""
import sys

from lockdown_prelude import P, attempt, done

import sdk_guard as sg
from sdk_guard import audit

sys.path[0] = ""  # what `python -c` puts there: the working directory

spec = {"fs": {"read": [P["ro"]], "write": [P["rw"]]}, "seccomp": "errno"}
sink = audit.add_sink(audit.MemorySink())
r = sg.lockdown(spec=spec, require=["landlock", "seccomp"])
d = r.as_dict()
done(status=r.status, landlock=d["landlock"]["status"], seccomp=d["seccomp"]["status"],
     read_out=attempt(open, P["out"] + "/f.txt"), write_rw=attempt(open, P["rw"] + "/x", "w"),
     records=[(x["capability"], x["decision"]) for x in audit.records() if x["layer"] == "landlock"])
