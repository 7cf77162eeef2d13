"""Entry points that change the guard or the audit trail refuse extension callers, even
when an extension can reach them (here it is simply allowed to import sdk_guard)."""
from __future__ import annotations

import json
from pathlib import Path

from harness import run_child_json, write_tree


def test_extension_cannot_steer_the_guard_or_the_audit_trail(tmp_path: Path) -> None:
    write_tree(tmp_path / "plugins", {
        "acme/__init__.py": """
            import sdk_guard
            from sdk_guard import _guard

            def attempt(name, fn, *args, **kw):
                try:
                    fn(*args, **kw)
                    return "done"
                except sdk_guard.PolicyViolation as e:
                    return e.capability

            def run():
                return {
                    "set_audit_dispatcher": attempt("d", _guard.set_audit_dispatcher, None),
                    "take_undelivered": attempt("t", _guard.take_undelivered),
                    "emit": attempt("e", _guard.emit, "guard", "fs.read", "allow"),
                    "audit_configure": attempt("c", _guard.audit_configure, capacity=8),
                    "set_approver": attempt("a", _guard.set_approver, lambda *a: True),
                    "acting_as": attempt("s", _guard.acting_as_enter, "acme"),
                    "prepare_module": attempt("p", _guard.prepare_module, {}, "acme", None),
                }
            """,
    })
    out = run_child_json(
        """
        import json, sys
        import sdk_guard as sg
        policy = sg.Policy.from_dict({"version": 1, "extensions": {"acme": {
            "package": "acme", "path": sys.argv[1],
            "imports": {"allow": ["sdk_guard", "sdk_guard.*"]}}}})
        sink = sg.audit.MemorySink()
        sg.audit.add_sink(sink)
        guard = sg.install(policy)
        result = guard.import_extension("acme").run()
        sg.audit.flush()
        denied = [r["target"] for r in sink.records if r.get("decision") == "deny"]
        print(json.dumps({"result": result, "denied": denied}))
        """, args=[str(tmp_path / "plugins")])
    assert out["result"] == {name: "introspection" for name in out["result"]}
    assert set(out["denied"]) == set(out["result"])
