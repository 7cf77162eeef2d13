"""Landlock child: ``landlock_landlock_errno_meanings_are.py PARAMS_JSON``.

Runs the scenario of test_landlock_errno_meanings_are_distinct (it shows that landlock
errno meanings are distinct) and prints the outcome as JSON.
"""
import errno
import sys

from lockdown_prelude import done

import sdk_guard as sg

sys.path[0] = ""  # what `python -c` puts there: the working directory

e = sg._guard.landlock_explain
done(nosys=e("probe", errno.ENOSYS), notsup=e("probe", errno.EOPNOTSUPP),
     perm=e("restrict", errno.EPERM), big=e("restrict", errno.E2BIG))
