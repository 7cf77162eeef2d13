"""Approval child: ``approval_once.py PLUGINS DATA``.

acme may read DATA only with an approval; the approver answers yes to the first request
and no to the second.  acme reads DATA/report.txt twice; prints the outcomes, what the
approver was asked and the approval records (pending, approved, refused).
"""
import json
import sys

sys.path[0] = ""  # what `python -c` puts there: the working directory

import sdk_guard as sg  # noqa: E402

plugins, data = sys.argv[1], sys.argv[2]
policy = sg.Policy.from_dict({"version": 1, "extensions": {"acme": {
    "package": "acme", "path": plugins, "fs.read": [data],
    "approve": ["fs.read"]}}})
sink = sg.audit.MemorySink()
sg.audit.add_sink(sink)
guard = sg.install(policy)
answers = []
def approver(req):
    answers.append([req.principal, req.capability, req.target])
    return len(answers) == 1
sg.approvals.configure(sg.approvals.Approvals(approver=approver,
                                              approver_name="ops"), guard=guard)
acme = guard.import_extension("acme")
res = []
for _ in range(2):
    try:
        res.append(acme.read(data + "/report.txt"))
    except sg.PolicyViolation as e:
        res.append(e.capability)
sg.audit.flush()
recs = [[r["layer"], r["capability"], r["decision"], r.get("approver")]
        for r in sink.records if r["decision"] in ("pending", "approved", "refused")]
print(json.dumps({"res": res, "answers": answers, "recs": recs}))
