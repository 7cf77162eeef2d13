"""Both layers after lockdown child: ``lockdown_layers.py PARAMS_JSON``.

PARAMS: ``data`` (the policy's {data}; acme may read {data}/acme), ``plugins`` and ``secret``
(a file outside the policy).  Installs the guard, locks the process down (Landlock and
seccomp errno, both required) and reports: acme reading inside and outside its policy,
acme opening the secret through libc (the audit hook never sees it), and the host
reading the secret and running a program.
"""
import errno
import json
import os
import subprocess
import sys

sys.path[0] = ""  # what `python -c` puts there: the working directory

import sdk_guard as sg  # noqa: E402

P = json.loads(sys.argv[1])
policy = sg.Policy.from_dict({
    "version": 1,
    "host": {"trusted": [], "data": P["data"]},
    "extensions": {"acme": {"package": "acme", "path": P["plugins"],
                            "imports": {"allow": ["ctypes", "ctypes.*"]},
                            "fs": {"read": ["{data}/acme"]}, "native": True}},
    "lockdown": {"fs": {"read": ["{data}", P["plugins"]]}, "seccomp": "errno"},
})
guard = sg.install(policy)
acme = guard.import_extension("acme")
report = sg.lockdown(policy, require=["landlock", "seccomp"])
out = {"status": report.status}
out["ext_inside"] = acme.read(os.path.join(P["data"], "acme", "in.txt"))
try:
    acme.read(P["secret"])
    out["ext_secret"] = "read"
except sg.PolicyViolation as e:
    out["ext_secret"] = ["PolicyViolation", e.capability, e.rule]
fd, err = acme.libc_open(P["secret"])
out["ext_libc_open"] = errno.errorcode.get(err, err) if fd < 0 else "opened"
try:
    open(P["secret"]).close()
    out["host_secret"] = "read"
except PermissionError as e:
    out["host_secret"] = errno.errorcode[e.errno]
try:
    subprocess.run(["/bin/true"])
    out["host_exec"] = "ran"
except PermissionError as e:
    out["host_exec"] = errno.errorcode[e.errno]
print(json.dumps(out))
