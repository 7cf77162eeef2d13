"""Landlock child: ``landlock_locked_down_process_cannot.py PARAMS_JSON``.

Runs the scenario of test_locked_down_process_cannot_execute_programs (it shows that
locked down process cannot execute programs) with the tree spec (fs.read P["ro"],
fs.write P["rw"] and P["rw2"]) and prints the outcome as JSON.
"""
import sys

from lockdown_prelude import P, attempt, done

import sdk_guard as sg

sys.path[0] = ""  # what `python -c` puts there: the working directory

spec = {"fs": {"read": [P["ro"]], "write": [P["rw"], P["rw2"]]}, "seccomp": "off"}
import subprocess  # noqa: E402

r = sg.lockdown(spec=spec)
done(python=attempt(subprocess.run, [sys.executable, "-c", "pass"]),
     sh=attempt(subprocess.run, ["/bin/sh", "-c", "true"]))
