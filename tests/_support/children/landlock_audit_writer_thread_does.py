"""Landlock child: ``landlock_audit_writer_thread_does.py PARAMS_JSON``.

Runs the scenario of test_audit_writer_thread_does_not_block_lockdown (it shows that
audit writer thread does not block lockdown) with the tree spec (fs.read P["ro"],
fs.write P["rw"] and P["rw2"]) and prints the outcome as JSON.
"""
import sys

from lockdown_prelude import P, done

import sdk_guard as sg
from sdk_guard import audit

sys.path[0] = ""  # what `python -c` puts there: the working directory

spec = {"fs": {"read": [P["ro"]], "write": [P["rw"], P["rw2"]]}, "seccomp": "off"}
import threading  # noqa: E402

sink = audit.add_sink(audit.MemorySink())
before = threading.active_count()
r = sg.lockdown(spec=spec)
recs = [x for x in audit.records() if x["layer"] == "landlock"]
done(before=before, status=r.status, mode=r.as_dict()["landlock"]["threads"]["mode"],
     records=len(recs), decision=recs[0]["decision"], capability=recs[0]["capability"],
     report_status=recs[0]["report"]["status"])
