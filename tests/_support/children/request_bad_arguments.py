"""Request arguments child: ``request_bad_arguments.py``.

Calls sg.request with a malformed user, an empty org, a non-string org, a string for
permissions and a malformed permission, and prints the exception type name each raised
(or null).
"""
import json
import sys

import sdk_guard as sg

sys.path[0] = ""  # what `python -c` puts there: the working directory

errs = []
for kw in [dict(user="u 1", org="o-1"), dict(user="u", org=""),
           dict(user="u", org=5), dict(user="u", org="o", permissions="a.read"),
           dict(user="u", org="o", permissions=["Bad Perm"])]:
    try:
        sg.request(**kw)
        errs.append(None)
    except (TypeError, ValueError) as e:
        errs.append(type(e).__name__)
print(json.dumps(errs))
