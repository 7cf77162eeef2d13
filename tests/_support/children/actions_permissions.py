"""Actions child: ``actions_permissions.py PLUGINS POLICY_JSON``.

Installs POLICY (``{plugins}`` is PLUGINS) with a MemorySink, imports acme and calls its
declared actions, page and tool outside any request and under requests with different
permissions.  Prints the outcomes, the action registry, the app-layer denials and the
action spans.
"""
import asyncio
import json
import sys

sys.path[0] = ""  # what `python -c` puts there: the working directory

import sdk_guard as sg  # noqa: E402

policy = sg.Policy.from_dict(json.loads(sys.argv[2]),
                             variables={"plugins": sys.argv[1]})
sink = sg.audit.MemorySink()
sg.audit.add_sink(sink)
guard = sg.install(policy)
acme = guard.import_extension("acme")

def attempt(fn, *a):
    try:
        return ["ok", fn(*a)]
    except sg.PolicyViolation as e:
        return ["violation", e.capability, e.target, str(e), e.event_id]

res = {}
res["no_request"] = attempt(acme.export, 1)
with sg.request(user="u-1", org="o-1", permissions=["invoices.read"]):
    res["declared_only"] = attempt(acme.export, 1)     # policy added invoices.export
    res["page"] = attempt(acme.listing)
    res["tool"] = asyncio.run(acme.summarize())
with sg.request(user="u-2", org="o-1",
                permissions=["invoices.read", "invoices.export"]):
    res["both"] = attempt(acme.export, 2)
with sg.request(user="u-3", org="o-1", permissions=["invoices.*"]):
    res["prefix"] = attempt(acme.export, 3)
    # policy 'requires = []' does not remove what the code declares; approval
    # added by the policy applies (and there is no approvals service here)
    res["purge"] = attempt(acme.purge)
sg.audit.flush()
denials = [r for r in sink.records if r["layer"] == "app" and r["decision"] == "deny"]
spans = [r for r in sink.records if r["capability"] == "audit.span"]
print(json.dumps({"res": res, "registry": sg.actions.registry(),
                  "denials": denials, "spans": spans}))
