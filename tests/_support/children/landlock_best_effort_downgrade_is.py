"""Landlock child: ``landlock_best_effort_downgrade_is.py PARAMS_JSON``.

Runs the scenario of test_best_effort_downgrade_is_reported_for_older_abis (it shows
that best effort downgrade is reported for older abis) and prints the outcome as JSON.
"""
import sys

from lockdown_prelude import done

import sdk_guard as sg

sys.path[0] = ""  # what `python -c` puts there: the working directory

from sdk_guard.landlock import _FS_ALL, _NET_ALL  # noqa: E402

res = {}
for abi in range(0, 9):
    c = sg._guard.landlock_compat(abi, _FS_ALL, _NET_ALL, 3, 8)
    res[abi] = [c["handled"], c["dropped"], c["refer_always_denied"]]
done(res=res)
