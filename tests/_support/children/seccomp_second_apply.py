"""Seccomp child: ``seccomp_second_apply.py``.

Runs the scenario of test_second_apply_is_refused (it shows that second apply is
refused) and prints the outcome as JSON.
"""
import json
import sys

from seccomp_prelude import lock

from sdk_guard import seccomp

sys.path[0] = ""  # what `python -c` puts there: the working directory

from sdk_guard.errors import GuardError  # noqa: E402

lock()
try:
    seccomp.prepare("errno").apply()
    print(json.dumps("applied twice"))
except GuardError:
    print(json.dumps("refused"))
