"""Host-only gates child: ``host_only_gates.py PLUGINS``.

Installs a guard for acme (under PLUGINS, allowed to import sdk_guard) with a
MemorySink, lets acme call every _guard.HOST_ONLY entry point and look behind each
wrapper.  Prints HOST_ONLY, acme's outcomes, what it found behind the wrappers and
the targets of the introspection denials.
"""
import json
import sys

sys.path[0] = ""  # what `python -c` puts there: the working directory

import sdk_guard as sg  # noqa: E402
from sdk_guard import _guard  # noqa: E402

policy = sg.Policy.from_dict({"version": 1, "extensions": {"acme": {
    "package": "acme", "path": sys.argv[1],
    "imports": {"allow": ["sdk_guard", "sdk_guard.*"]}}}})
sink = sg.audit.MemorySink()
sg.audit.add_sink(sink)
guard = sg.install(policy)
acme = guard.import_extension("acme")
result = acme.run()
selves = acme.reach_originals()
sg.audit.flush()
denied = [r["target"] for r in sink.records
          if r.get("decision") == "deny" and r.get("capability") == "introspection"]
print(json.dumps({"host_only": list(_guard.HOST_ONLY), "result": result,
                  "selves": selves, "denied": denied}))
