"""Lockdown child: ``lockdown_spec_keys.py PARAMS_JSON``.

Parses bad runtime and tmp values and an empty spec; prints each PolicyError's key
and message and the defaults.
"""
import sys

from lockdown_prelude import done

sys.path[0] = ""  # what `python -c` puts there: the working directory

from sdk_guard._lockdown_spec import parse_spec  # noqa: E402
from sdk_guard.errors import PolicyError  # noqa: E402

res = {}
for name, sec in {"runtime": {"runtime": "everything"}, "tmp": {"tmp": "shared"},
                  "tmp_type": {"tmp": True}}.items():
    try:
        parse_spec(sec)
        res[name] = None
    except PolicyError as e:
        res[name] = [e.key, str(e)]
d = parse_spec(None)
done(res=res, defaults=[d["runtime"], d["tmp"]])
