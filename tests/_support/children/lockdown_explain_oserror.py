"""Lockdown child: ``lockdown_explain_oserror.py PARAMS_JSON``.

Locks down, fails to open P["f"] and prints the notes explain() adds.
"""
import sys

from lockdown_prelude import P, done

import sdk_guard as sg

sys.path[0] = ""  # what `python -c` puts there: the working directory

sg.lockdown(spec={"seccomp": "off"})
from sdk_guard.landlock import explain  # noqa: E402

try:
    open(P["f"])
except PermissionError as e:
    done(notes=explain(e).__notes__)
