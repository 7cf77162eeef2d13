"""The demo's application-boundary part: two organizations in one database, one
denied cross-org attempt and one approval, both in the application audit trail."""
from __future__ import annotations

import json
from pathlib import Path

from test_demo import run_demo


def test_demo_shows_two_orgs_a_denied_cross_org_write_and_an_approval() -> None:
    proc = run_demo()
    out = proc.stdout
    assert proc.returncode == 0, out + proc.stderr
    assert "allowed  u-alice@o-acme: invoices.list -> [('Initech', 120)]" in out
    assert "allowed  u-bob@o-globex: invoices.list -> [('Umbrella', 75)]" in out
    assert "DENIED   u-bob@o-globex: evil_ext plants a note in o-acme" in out
    assert "DENIED   u-carol@o-acme: invoices.list (no invoices.read)" in out
    line = next(ln for ln in out.splitlines() if ln.startswith("application audit trail: "))
    records = [json.loads(ln) for ln in Path(line.split(": ", 1)[1]).read_text().splitlines()]
    cross = [r for r in records if r["capability"] == "storage" and r["decision"] == "deny"]
    assert [(r["principal"], r["user"], r["org"]) for r in cross] == \
        [("evil_ext", "u-bob", "o-globex")]
    approval = [r for r in records if r["capability"] == "approval"]
    assert [r["decision"] for r in approval] == ["pending", "approved"]
    assert approval[1]["approver"] == "demo-operator"
    assert approval[1]["span"]["action"] and approval[1]["span"]["action"] == \
        approval[0]["span"]["action"]
    assert {r["org"] for r in records if r["layer"] == "app"} == {"o-acme", "o-globex"}
