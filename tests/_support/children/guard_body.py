"""Process Guard behaviour child: ``guard_body.py PARAMS_JSON`` (see _support/guard_tree.py).

PARAMS: ``src`` (put on sys.path), ``base`` (the fixture tree), ``policy``,
``install`` (install the policy and import acme, and beta if the policy has it),
``report`` (print the results; false when the body prints its own) and ``body``, the
test's code.  The body runs as ``__main__`` code (host code, as the inline program
this replaces ran it) with these globals: BASE, DATA, OUTSIDE, PLUGINS, POLICY, ``sg``,
``audit``, MEM (a MemorySink), R (the results), ``attempt(name, fn, *args)``,
``outcome(exc)`` and, once installed, ``guard``, ``acme`` and ``beta``.  Prints R plus
``_audit``, every record MEM received, as one JSON dict.
"""
import json
import os
import sys

sys.path[0] = ""  # what `python -c` puts there: the working directory
P = json.loads(sys.argv[1])
# Compiled before anything runs, as `python -c` compiles its whole program.
BODY = compile(P["body"], "<string>", "exec")
sys.path.insert(0, P["src"])
BASE = P["base"]
DATA = os.path.join(BASE, "data")
OUTSIDE = os.path.join(BASE, "outside")
PLUGINS = os.path.join(BASE, "plugins")

import sdk_guard as sg  # noqa: E402
from sdk_guard import audit  # noqa: E402

MEM = audit.add_sink(audit.MemorySink())
R = {}


def _plain(v):
    if v is None or isinstance(v, (bool, int, float, str)):
        return v
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    return repr(v)


def outcome(exc):
    d = {"ok": False, "type": type(exc).__name__, "msg": str(exc),
         "violation": isinstance(exc, sg.PolicyViolation),
         "permission_error": isinstance(exc, PermissionError),
         "import_error": isinstance(exc, ImportError)}
    for f in ("principal", "capability", "target", "rule", "event_id"):
        if hasattr(exc, f):
            d[f] = getattr(exc, f)
    return d


def attempt(name, fn, *args, **kwargs):
    try:
        value = fn(*args, **kwargs)
    except sg.errors.VIOLATIONS as exc:
        R[name] = outcome(exc)
    except Exception as exc:
        R[name] = outcome(exc)
    else:
        R[name] = {"ok": True, "value": _plain(value)}
    return R[name]


POLICY = P["policy"]
if P["install"]:
    guard = sg.install(sg.Policy.from_dict(POLICY))
    acme = guard.import_extension("acme")
    if "beta" in POLICY["extensions"]:
        beta = guard.import_extension("beta")

exec(BODY)

if P["report"]:
    audit.flush()
    R["_audit"] = [dict(r) for r in MEM.records]
    print(json.dumps(R, default=repr))
