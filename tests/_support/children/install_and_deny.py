"""Install-and-deny child: ``install_and_deny.py`` (run under -X dev and the debug
allocators).

Feeds install() a malformed spec (its error path frees a partial copy), installs a
policy, has acme denied a read, tries a second install and a bad policy; prints one
line for each refusal.
"""
import os
import sys
import tempfile

sys.path[0] = ""  # what `python -c` puts there: the working directory

import sdk_guard as sg  # noqa: E402

d = tempfile.mkdtemp()
os.makedirs(os.path.join(d, "acme"))
open(os.path.join(d, "acme", "__init__.py"), "w").write(
    "def read(p):\n    return open(p).read()\n")
pol = sg.Policy.from_dict({"version": 1, "extensions": {"acme": {
    "package": "acme", "path": d, "imports": {"allow": ["@pure"]}}}})
bad = pol.to_spec()
bad["trusted"] = ["ok", 1]              # the malformed-spec error path frees a partial copy
try:
    sg._guard.install(bad, violation=sg.PolicyViolation, import_error=sg.ImportBoundaryError,
                      guard_error=sg.GuardError, finder=None)
except TypeError:
    pass
guard = sg.install(pol)
acme = guard.import_extension("acme")
try:
    acme.read("/etc/hostname")
except sg.PolicyViolation as exc:
    print("denied", exc.capability)
try:
    sg.install(pol)
except sg.GuardError:
    print("second install refused")
try:
    sg.Policy.from_dict({"version": 1, "extensions": {"x": {"package": 1}}})
except sg.PolicyError:
    print("bad policy refused")
