"""Landlock child: ``landlock_seccomp_failing_after_landlock.py PARAMS_JSON``.

Runs the scenario of
test_seccomp_failing_after_landlock_is_reported_and_raises_under_require (it shows
that seccomp failing after landlock is reported and raises under require) and prints
the outcome as JSON.
"""
import errno
import sys

from lockdown_prelude import attempt, done

import sdk_guard as sg

sys.path[0] = ""  # what `python -c` puts there: the working directory

from sdk_guard import _guard, seccomp  # noqa: E402


class Refusing:
    # The plan's program, with an install() the kernel refuses.
    def install(self, flags):
        raise OSError(errno.EINVAL, "refused for the test")

plan_init = seccomp.SeccompPlan.__init__

def refusing_plan(self, mode):
    plan_init(self, mode)
    assert self._program is not None, self.report
    self._program = Refusing()

seccomp.SeccompPlan.__init__ = refusing_plan
try:
    sg.lockdown(spec={"seccomp": "errno"}, require=["seccomp"])
    raised = None
except sg.GuardError as e:
    raised = str(e)
lock = [r for r in _guard.take_undelivered() if r.get("capability") == "lockdown"]
done(raised=raised, decisions=[r["decision"] for r in lock], report=lock[-1]["report"],
     read_etc=attempt(open, "/etc/hostname"), nnp=_guard.get_no_new_privs())
