"""Landlock child: ``landlock_probe_reports_landlock_seccomp.py PARAMS_JSON``.

Runs the scenario of test_probe_reports_landlock_seccomp_cgroup_and_egress (it shows
that probe reports landlock seccomp cgroup and egress) and prints the outcome as JSON.
"""
import json
import sys

from lockdown_prelude import done

import sdk_guard as sg

sys.path[0] = ""  # what `python -c` puts there: the working directory

import argparse  # noqa: E402
import contextlib  # noqa: E402
import io  # noqa: E402

from sdk_guard._cli import probe as cli_probe  # noqa: E402

p = sg.probe()
parser = argparse.ArgumentParser()
sub = parser.add_subparsers(dest="cmd")
cli_probe.register(sub)
args = parser.parse_args(["probe", "--compact"])
buf = io.StringIO()
with contextlib.redirect_stdout(buf):
    rc = args.func(args)
cli = json.loads(buf.getvalue())
before = p["no_new_privs"]
if p["landlock"]["available"]:
    sg.lockdown(spec={"seccomp": "off"})
after = sg.probe()
done(p=p, rc=rc, cli_abi=cli["landlock"]["abi"], before=before, after_nnp=after["no_new_privs"],
     after_confined=after["landlock"]["confined_by_sdk_guard"])
