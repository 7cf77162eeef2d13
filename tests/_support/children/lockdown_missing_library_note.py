"""Lockdown child: ``lockdown_missing_library_note.py PARAMS_JSON``.

Locks down with runtime "none" (only the stdlib and sdk_guard readable) and prints
the notes on the ImportError of ssl and on a ctypes load of libsqlite3.
"""
import os
import sys

from lockdown_prelude import done

import sdk_guard as sg

sys.path[0] = ""  # what `python -c` puts there: the working directory

# runtime = "none": only what the policy names.  The stdlib and sdk_guard are named,
# the shared-library directories are not.
import ctypes  # loaded before lockdown; libsqlite3 is not  # noqa: E402

from sdk_guard import landlock  # noqa: E402

r = sg.lockdown(spec={"runtime": "none", "tmp": "none", "seccomp": "off",
                      "fs": {"read": [sys.prefix, sys.base_prefix, os.path.dirname(sg.__path__[0])]}})
res = {"rules": sorted({x["source"].split(":")[0] for x in r.landlock["rules"]})}
try:
    import ssl  # noqa: F401
    res["ssl"] = "ok"
except ImportError as e:
    res["ssl"] = str(e)
    res["notes"] = getattr(e, "__notes__", [])
try:
    ctypes.CDLL("libsqlite3.so.0")
    res["ctypes_note"] = "loaded"
except OSError as e:
    res["ctypes_note"] = " ".join(landlock.explain(e).__notes__)
done(**res)
