"""Landlock child: ``landlock_second_lockdown_raises_guard.py PARAMS_JSON``.

Runs the scenario of test_second_lockdown_raises_guard_error (it shows that second
lockdown raises guard error) and prints the outcome as JSON.
"""
import sys

from lockdown_prelude import done

import sdk_guard as sg

sys.path[0] = ""  # what `python -c` puts there: the working directory

r = sg.lockdown(spec={"seccomp": "off"})
try:
    sg.lockdown(spec={"seccomp": "off"})
    done(raised=False)
except sg.GuardError as e:
    done(raised=True, msg=str(e))
