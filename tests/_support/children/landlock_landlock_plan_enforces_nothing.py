"""Landlock child: ``landlock_landlock_plan_enforces_nothing.py PARAMS_JSON``.

Runs the scenario of
test_landlock_plan_enforces_nothing_until_applied_and_applies_once (it shows that
landlock plan enforces nothing until applied and applies once) and prints the outcome
as JSON.
"""
import sys

from lockdown_prelude import P, attempt, done

import sdk_guard as sg

sys.path[0] = ""  # what `python -c` puts there: the working directory

from sdk_guard import landlock  # noqa: E402
from sdk_guard._lockdown_spec import parse_spec  # noqa: E402

plan = landlock.prepare(parse_spec({"fs": {"read": [P["ro"]]}, "tmp": "none"}))
res = {"status": plan.status, "report_status": plan.report["status"],
       "repr": repr(plan), "before": attempt(open, P["out"] + "/f.txt"),
       "nnp": sg._guard.get_no_new_privs()}
sg._guard.set_no_new_privs()
plan.apply()
res["after_status"] = plan.report["status"]
res["after_out"] = attempt(open, P["out"] + "/f.txt")
res["after_ro"] = attempt(open, P["ro"] + "/f.txt")
try:
    plan.apply()
except sg.GuardError as e:
    res["again"] = str(e)
done(**res)
