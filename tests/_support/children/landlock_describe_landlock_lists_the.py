"""Landlock child: ``landlock_describe_landlock_lists_the.py PARAMS_JSON``.

Runs the scenario of test_describe_landlock_lists_the_rules_a_spec_would_add (it shows
that describe landlock lists the rules a spec would add) and prints the outcome as
JSON.
"""
import sys

from lockdown_prelude import done

import sdk_guard as sg

sys.path[0] = ""  # what `python -c` puts there: the working directory

from sdk_guard.landlock import describe_landlock  # noqa: E402

lines = describe_landlock({"fs": {"read": ["/srv/in"], "write": ["/srv/out"]},
                           "net.connect_tcp": [443], "scope": ["signal"]}, lambda v, k: v)
done(lines=lines, nnp=sg._guard.get_no_new_privs())
