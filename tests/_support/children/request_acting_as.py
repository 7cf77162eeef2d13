"""acting_as child: ``request_acting_as.py PLUGINS``.

Installs a guard for acme (under PLUGINS) and, inside sg.acting_as("acme"), tries to
open a request. Prints "opened" or the violation's capability and principal.
"""
import json
import sys

import sdk_guard as sg

sys.path[0] = ""  # what `python -c` puts there: the working directory

guard = sg.install(sg.Policy.from_dict({"version": 1, "extensions": {"acme": {
    "package": "acme", "path": sys.argv[1]}}}))
guard.import_extension("acme")
with sg.acting_as("acme"):
    try:
        with sg.request(user="u-1", org="o-1"):
            res = "opened"
    except sg.PolicyViolation as e:
        res = [e.capability, e.principal]
print(json.dumps(res))
