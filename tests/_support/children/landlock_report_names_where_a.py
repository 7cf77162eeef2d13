"""Landlock child: ``landlock_report_names_where_a.py PARAMS_JSON``.

Runs the scenario of test_report_names_where_a_symlinked_policy_path_really_grants (it
shows that report names where a symlinked policy path really grants) and prints the
outcome as JSON.
"""
import sys

from lockdown_prelude import P, attempt, done

import sdk_guard as sg

sys.path[0] = ""  # what `python -c` puts there: the working directory

r = sg.lockdown(spec={"fs": {"read": [P["base"] + "/alias"]}, "seccomp": "off"})
rules = [x for x in r.landlock["rules"] if x["source"] == "lockdown.fs.read[0]"]
done(rules=rules, read_out=attempt(open, P["out"] + "/f.txt"))
