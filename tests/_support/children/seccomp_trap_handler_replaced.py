"""Seccomp child: ``seccomp_trap_handler_replaced.py``.

Runs the scenario of test_replacing_the_trap_handler_is_recorded_not_silent (it shows
that replacing the trap handler is recorded not silent) and prints the outcome as
JSON.
"""
import json
import sys

from seccomp_prelude import lock, sc

sys.path[0] = ""  # what `python -c` puts there: the working directory

import signal  # noqa: E402

from sdk_guard import audit  # noqa: E402

mem = audit.add_sink(audit.MemorySink())
lock("trap")
sc(105, 0)
audit.flush()
signal.signal(signal.SIGSYS, lambda *a: None)
r = sc(105, 0)
audit.flush()
audit.flush()
recs = [x for x in mem.records if x["layer"] == "seccomp"]
print(json.dumps({"caps": [x["capability"] for x in recs],
                  "after": list(r)}))
