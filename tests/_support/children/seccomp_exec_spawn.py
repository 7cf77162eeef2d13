"""Seccomp child: ``seccomp_exec_spawn.py``.

Runs the scenario of test_exec_and_spawn_raise_permission_error (it shows that exec
and spawn raise permission error) and prints the outcome as JSON.
"""
import json
import os
import sys

from seccomp_prelude import lock

sys.path[0] = ""  # what `python -c` puts there: the working directory

import subprocess  # noqa: E402

lock()
res = {}
for label, fn in (
    ("execv", lambda: os.execv("/bin/true", ["true"])),
    ("subprocess", lambda: subprocess.run(["/bin/true"])),
    ("posix_spawn", lambda: os.posix_spawn("/bin/true", ["true"], dict(os.environ))),
):
    try:
        fn()
        res[label] = "ran"
    except PermissionError:
        res[label] = "PermissionError"
    except OSError as e:
        res[label] = f"OSError {e.errno}"
print(json.dumps(res))
