"""Landlock child: ``landlock_signals_to_processes_outside.py PARAMS_JSON``.

Runs the scenario of test_signals_to_processes_outside_the_domain_are_denied (it shows
that signals to processes outside the domain are denied) and prints the outcome as
JSON.
"""
import os
import sys

from lockdown_prelude import attempt, done

import sdk_guard as sg

sys.path[0] = ""  # what `python -c` puts there: the working directory

import signal  # noqa: E402
import subprocess  # noqa: E402
import time  # noqa: E402

# Exits when this child does (stdin EOF), so nothing outlives the test.
outside = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"],
                           stdin=subprocess.PIPE)
r = sg.lockdown(spec={"scope": ["signal"], "seccomp": "off"})
res = {"to_outside": attempt(os.kill, outside.pid, signal.SIGTERM),
       "to_parent": attempt(os.kill, os.getppid(), 0),
       "to_self": attempt(os.kill, os.getpid(), 0)}
pid = os.fork()
if pid == 0:
    time.sleep(30)
    os._exit(0)
res["to_own_child"] = attempt(os.kill, pid, signal.SIGKILL)
os.waitpid(pid, 0)
res["outside_alive"] = outside.poll() is None
done(**res)
