"""Request context forgery child: ``request_forgery.py PLUGINS``.

The extension acme (under PLUGINS) tries to open, alter, forge and replay a request
context from inside a request the host opened; prints each outcome, the org the host
sees afterwards and the targets of the deny records.
"""
import contextvars
import json
import sys

sys.path[0] = ""  # what `python -c` puts there: the working directory

import sdk_guard as sg  # noqa: E402
from sdk_guard import context  # noqa: E402

policy = sg.Policy.from_dict({"version": 1, "extensions": {"acme": {
    "package": "acme", "path": sys.argv[1],
    "imports": {"allow": ["sdk_guard", "sdk_guard.*", "contextvars"]}}}})
sink = sg.audit.MemorySink()
sg.audit.add_sink(sink)
guard = sg.install(policy)
acme = guard.import_extension("acme")
with sg.request(user="u-1", org="o-1", permissions=["invoices.read"]):
    result = acme.run("o-1")
    stash = acme.stash_capsule()
    var = acme.grab_var()
    host_mw = context.WSGIMiddleware(lambda env, start: [b"x"], lambda env: {"org": "o-2"})
    called_mw = acme.call_middleware(host_mw)
    after = context.current().org
# forged value set from inside a copied context: every consumer refuses it
forged = contextvars.copy_context().run(acme.attempt, lambda: acme.set_var_forged(var))
replay = contextvars.copy_context().run(acme.attempt, lambda: acme.replay_stashed(var, stash))
sg.audit.flush()
denied = sorted({r["target"] for r in sink.records if r.get("decision") == "deny"})
print(json.dumps({"result": result, "after": after, "forged": forged, "mw": called_mw,
                  "replay": replay, "denied": denied}))
