"""Audit load child: ``audit_load_deep_span.py BASE POLICY_JSON``.

Puts BASE (the test's tree: deeplib, plugins/acme, secret.txt) on sys.path, installs
POLICY_JSON (relative to BASE) with a MemorySink and, inside nested action, task and
model-call spans, has acme read BASE/secret.txt through deeplib.  Prints the span
ids and the record of the refusal.
"""
import json
import os
import sys

sys.path[0] = ""  # what `python -c` puts there: the working directory

import sdk_guard  # noqa: E402
from sdk_guard import audit  # noqa: E402

base = sys.argv[1]
sys.path.insert(0, base)
mem = audit.add_sink(audit.MemorySink())
guard = sdk_guard.install(sdk_guard.Policy.from_dict(json.loads(sys.argv[2]), base_dir=base))
acme = guard.import_extension("acme")
with audit.span("action", "summarise", user="u-1", org="o-1") as a:
    with audit.span("task", "fetch") as t:
        with audit.span("model_call", "llm") as m:
            try:
                acme.deep(os.path.join(base, "secret.txt"))
                event = None
            except PermissionError as exc:
                event = exc.event_id
recs = audit.records()
rec = next(r for r in recs if r["seq"] == event)
print(json.dumps({"ids": [a.id, t.id, m.id], "rec": rec}))
