"""Declared access requirements: permission checks with audit records, the registry
(with owners), the `actions` CLI, and host policy that tightens but never loosens."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from _support.child import child_env, run_child_json, run_program_json, write_tree

EXT = {
    "acme/__init__.py": """
        import sdk_guard as sg

        @sg.action("invoices.export", requires=["invoices.read"])
        def export(n):
            return f"exported {n}"

        @sg.page("invoices.list", requires=["invoices.read"])
        def listing():
            return "page"

        @sg.tool("invoices.summarize")
        async def summarize():
            return "summary"

        @sg.action("invoices.purge", requires=["invoices.write", "invoices.admin"],
                   description="delete every invoice")
        def purge():
            return "purged"
        """,
}

POLICY = {"version": 1,
          "extensions": {"acme": {"package": "acme", "path": "{plugins}",
                                  "imports": {"allow": ["sdk_guard", "sdk_guard.*"]}}},
          "actions": {"invoices.export": {"requires": ["invoices.export"]},
                      "invoices.purge": {"requires": [], "approval": True}}}


def test_permissions_allow_deny_with_records_registry_owners_and_tightening(
        tmp_path: Path) -> None:
    write_tree(tmp_path / "plugins", EXT)
    out = run_program_json("actions_permissions", str(tmp_path / "plugins"), json.dumps(POLICY))
    res = out["res"]
    assert res["no_request"][:2] == ["violation", "request"]
    assert res["declared_only"][:3] == ["violation", "permission", "invoices.export"]
    assert "invoices.export" in res["declared_only"][3]
    assert res["page"] == ["ok", "page"] and res["tool"] == "summary"
    assert res["both"] == ["ok", "exported 2"] and res["prefix"] == ["ok", "exported 3"]
    assert res["purge"][:2] == ["violation", "approval"]
    # the denial's record is the one the exception names
    rec = {r["seq"]: r for r in out["denials"]}[res["declared_only"][4]]
    assert (rec["capability"], rec["target"], rec["principal"], rec["user"], rec["org"]) == \
        ("permission", "invoices.export", "acme", "u-1", "o-1")
    assert rec["rule"] == "actions.invoices.export.requires"
    # allowed calls ran inside action spans
    assert {s["span_name"] for s in out["spans"]} >= {"invoices.export", "invoices.list"}
    reg = {r["name"]: r for r in out["registry"]}
    assert reg["invoices.export"]["owner"] == "acme"
    assert reg["invoices.export"]["requires"] == ["invoices.read", "invoices.export"]
    assert reg["invoices.export"]["policy_requires"] == ["invoices.export"]
    assert reg["invoices.list"]["kind"] == "page" and reg["invoices.summarize"]["kind"] == "tool"
    assert reg["invoices.purge"]["requires"] == ["invoices.write", "invoices.admin"]
    assert reg["invoices.purge"]["approval"] is True
    assert reg["invoices.purge"]["declared_approval"] is False


def test_policy_actions_section_rejects_loosening_keys_and_bad_types() -> None:
    import sdk_guard as sg
    base = {"version": 1}
    for section, key in [
            ({"x.y": {"allow": ["a"]}}, "actions.x.y.allow"),
            ({"x.y": {"requires": "a.b"}}, "actions.x.y.requires"),
            ({"x.y": {"requires": ["Bad Perm"]}}, "actions.x.y.requires[0]"),
            ({"x.y": {"approval": "yes"}}, "actions.x.y.approval"),
            ({"Bad Name": {}}, "actions.Bad Name")]:
        with pytest.raises(sg.PolicyError) as ei:
            sg.Policy.from_dict({**base, "actions": section})
        assert ei.value.key == key
    p = sg.Policy.from_dict({**base, "actions": {"a.b": {"requires": ["c.d"]}}})
    assert p.data["actions"] == {"a.b": {"requires": ("c.d",), "approval": False}}


def test_action_names_are_unique_across_owners() -> None:
    out = run_child_json(
        """
        import json
        import sdk_guard as sg
        @sg.action("x.run")
        def a(): pass
        try:
            @sg.action("x.run")
            def b(): pass
            print(json.dumps("accepted"))
        except ValueError as e:
            print(json.dumps(str(e)))
        """)
    assert "already declared" in out


def test_actions_cli_lists_owner_and_effective_requirements(tmp_path: Path) -> None:
    write_tree(tmp_path / "plugins", EXT)
    pol = dict(POLICY)
    pol["extensions"] = {"acme": {**POLICY["extensions"]["acme"],   # type: ignore[index]
                                  "path": str(tmp_path / "plugins")}}
    (tmp_path / "policy.json").write_text(json.dumps(pol))
    proc = subprocess.run([sys.executable, "-m", "sdk_guard", "actions", "--policy",
                           str(tmp_path / "policy.json")], capture_output=True, text=True,
                          env=child_env(), timeout=60)
    assert proc.returncode == 0, proc.stderr
    line = [ln for ln in proc.stdout.splitlines() if ln.startswith("invoices.export")][0]
    assert "owner=acme" in line and "invoices.read + policy: invoices.export" in line
    purge = [ln for ln in proc.stdout.splitlines() if ln.startswith("invoices.purge")][0]
    assert "approval (policy)" in purge


def test_actions_cli_names_a_policy_file_it_cannot_read(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.toml"
    proc = subprocess.run([sys.executable, "-m", "sdk_guard", "actions", "--policy",
                           str(missing)], capture_output=True, text=True,
                          env=child_env(), timeout=60)
    assert proc.returncode == 2
    assert f"cannot read policy {missing}" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_check_keeps_the_actions_section_in_the_resolved_policy(tmp_path: Path) -> None:
    (tmp_path / "p.toml").write_text('version = 1\n[actions."invoices.export"]\n'
                                     'requires = ["invoices.export"]\napproval = true\n')
    once = subprocess.run([sys.executable, "-m", "sdk_guard", "check", str(tmp_path / "p.toml")],
                          capture_output=True, text=True, env=child_env(), timeout=60)
    assert once.returncode == 0, once.stderr
    (tmp_path / "again.toml").write_text(once.stdout)
    import sdk_guard as sg
    again = sg.Policy.from_toml(tmp_path / "again.toml")
    assert again.data["actions"] == {"invoices.export": {"requires": ("invoices.export",),
                                                         "approval": True}}
