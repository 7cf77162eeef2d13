"""Lockdown child: ``lockdown_tmp_none.py PARAMS_JSON``.

Locks down with tmp "none" and prints the tmp report, whether TMPDIR is unchanged
and what tempfile.mkstemp gets.
"""
import os
import sys

from lockdown_prelude import attempt, done

import sdk_guard as sg

sys.path[0] = ""  # what `python -c` puts there: the working directory

import tempfile  # noqa: E402

before = os.environ.get("TMPDIR")
r = sg.lockdown(spec={"tmp": "none", "seccomp": "off"})
done(tmp=r.landlock["tmp"], same=os.environ.get("TMPDIR") == before,
     mk=attempt(tempfile.mkstemp))
