"""Seccomp child: ``seccomp_tiocsti.py``.

Runs the scenario of test_tiocsti_cannot_type_into_the_controlling_terminal (it shows
that tiocsti cannot type into the controlling terminal) and prints the outcome as
JSON.
"""
import json
import os
import sys

from seccomp_prelude import lock

sys.path[0] = ""  # what `python -c` puts there: the working directory

import fcntl  # noqa: E402
import termios  # noqa: E402

try:
    os.setsid()
except PermissionError:
    pass                            # already a session leader
master, slave = os.openpty()
fcntl.ioctl(slave, termios.TIOCSCTTY, 0)
def push():
    try:
        fcntl.ioctl(slave, termios.TIOCSTI, b"x")
        return "typed"
    except OSError as e:
        return e.errno
before = push()
lock()
after = push()
size = len(fcntl.ioctl(slave, termios.TIOCGWINSZ, b"\0" * 8))
print(json.dumps({"before": before, "after": after, "size": size}))
