"""Lockdown child: ``lockdown_refused_tmp.py PARAMS_JSON``.

Has lockdown refused (P["missing"] does not exist) and prints the sdk_guard-*
directories that appeared in the temporary directory, and TMPDIR.
"""
import os
import sys

from lockdown_prelude import P, done

import sdk_guard as sg

sys.path[0] = ""  # what `python -c` puts there: the working directory

import glob  # noqa: E402
import tempfile  # noqa: E402

before = set(glob.glob(os.path.join(tempfile.gettempdir(), "sdk_guard-*")))
try:
    sg.lockdown(spec={"fs.read": [P["missing"]], "seccomp": "off"}, require=["landlock"])
except sg.GuardError:
    pass
after = set(glob.glob(os.path.join(tempfile.gettempdir(), "sdk_guard-*")))
done(new=sorted(after - before), tmpdir=os.environ.get("TMPDIR"))
