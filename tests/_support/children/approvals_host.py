"""Approvals host child: ``approvals_host.py MODE [STORE TIMEOUT]``.

Declares the action payouts.send (needs payouts.write and approval) with a
MemorySink, configures approvals by MODE and calls the action under a request:

- ``callback``: a callback approver "risk-bot" approving only an amount of 10; sends
  10 and 999 as u-1/o-1.  Prints both outcomes, what the approver saw and the trail.
- ``queue``: the operator queue in the SQLite file STORE, waiting TIMEOUT seconds;
  sends 5 as u-1/o-2.  Prints the outcome and the trail.
- ``none``: no approvals service; sends 1 as u-1/o-1.  Prints the outcome and the trail.

The trail is every approval record with its decision, approver, approval id, action
span (and that span's name), user and org.
"""
import json
import sys

sys.path[0] = ""  # what `python -c` puts there: the working directory

import sdk_guard as sg  # noqa: E402

sink = sg.audit.MemorySink()
sg.audit.add_sink(sink)

@sg.action("payouts.send", requires=["payouts.write"], approval=True)
def send(amount):
    return f"sent {amount}"

def attempt(fn, *a):
    try:
        return ["ok", fn(*a)]
    except sg.PolicyViolation as e:
        return ["violation", e.capability, str(e)]

def trail():
    sg.audit.flush()
    spans = {r["span_id"]: r for r in sink.records if r["capability"] == "audit.span"}
    appr = [r for r in sink.records if r["capability"] == "approval"]
    return [{"decision": r["decision"], "approver": r.get("approver"),
             "id": r.get("approval_id"), "action_span": r["span"]["action"],
             "span_name": spans.get(r["span"]["action"], {}).get("span_name"),
             "user": r["user"], "org": r["org"]} for r in appr]


mode = sys.argv[1]
if mode == "callback":
    seen = []

    def approver(req):
        seen.append([req.user, req.org, req.target, req.details["args"]])
        return (req.details["args"] == ["10"], "limit is 10")

    sg.approvals.configure(sg.approvals.Approvals(approver=approver, approver_name="risk-bot"))
    with sg.request(user="u-1", org="o-1", permissions=["payouts.write"]):
        ok = attempt(send, 10)
        no = attempt(send, 999)
    print(json.dumps({"ok": ok, "no": no, "seen": seen, "trail": trail()}))
elif mode == "queue":
    sg.approvals.configure(sg.approvals.Approvals(store=sys.argv[2], timeout=float(sys.argv[3]),
                                                  poll=0.05))
    with sg.request(user="u-1", org="o-2", permissions=["payouts.write"]):
        res = attempt(send, 5)
    print(json.dumps({"res": res, "trail": trail()}))
elif mode == "none":
    with sg.request(user="u-1", org="o-1", permissions=["payouts.write"]):
        res = attempt(send, 1)
    print(json.dumps({"res": res, "trail": trail()}))
else:
    raise SystemExit(f"unknown mode {mode!r}: callback, queue or none")
