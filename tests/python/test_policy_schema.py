"""The policy file's JSON Schema (python/sdk_guard/schema/policy.json) against the loader.

The schema is for editors and `check`: it must accept every policy the repository has
and Policy accepts, refuse every structurally malformed policy the tests hold, and name
exactly the sections and keys policy.py knows (so a section added to one and not the
other fails here).  What only the loader can check is listed, by test id, in SEMANTIC.
"""
from __future__ import annotations

import importlib
import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from test_policy import DATA, MALFORMED, TOML, base

import sdk_guard.audit._config as audit_mod
import sdk_guard.policy as policy_mod
from _support.child import ROOT, child_env
from sdk_guard import Policy, PolicyError, _lockdown_spec
from sdk_guard._schema import policy_schema, schema_errors

SCHEMA = policy_schema()

# Malformed policies a schema cannot refuse (the loader does, naming the key): overlaps
# between sections, address and port arithmetic, keywords, templates that are not set.
SEMANTIC = {
    "host-public-private-overlap", "package-keyword", "package-overlap-sub",
    "package-overlap-same", "package-under-trusted", "package-under-private",
    "allow-private-module", "data-unset", "unknown-template", "cidr-prefix-too-long",
    "cidr-host-bits", "cidr-garbage", "port-zero", "port-70000", "port-range-reversed",
    "octal-ambiguous-address", "connect-unspecified", "bind-bad-port", "resolve-not-name",
    "approve-not-granted",
}

# Bad policy files other tests in this repository use.
BAD_FILES = [
    "version = 1\n[extensions.acme]\npackage = 'acme'\nfs.reed = []\n",
    "version = 1\n[extensions.acme]\npackage = 'acme'\nnet.conect = []\n",
    "version = 1\n[extensions.acme]\npackage = 'acme'\nfs.raed = []\n",
    "version = 3\n",
    "version = 2\n",
]


def _repo_policies() -> list[Path]:
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True,
                             check=True).stdout.split()
    out = []
    for rel in tracked:
        if rel.endswith(".toml") and rel != "pyproject.toml" or (
                rel.endswith(".json") and "/schema/" not in rel):
            p = ROOT / rel
            text = p.read_text(encoding="utf-8")
            doc = tomllib.loads(text) if rel.endswith(".toml") else json.loads(text)
            if isinstance(doc, dict) and "version" in doc and (
                    "extensions" in doc or "guard" in doc or "host" in doc):
                out.append(p)
    return out


def test_schema_is_a_valid_draft_2020_12_schema() -> None:
    jsonschema.Draft202012Validator.check_schema(SCHEMA)


def test_schema_sections_are_exactly_the_loaders_sections() -> None:
    missing = set(policy_mod._TOP_KEYS) - set(SCHEMA["properties"])
    assert not missing, (f"policy.py accepts [{', '.join(sorted(missing))}] but "
                         "schema/policy.json does not: add one 'properties' entry "
                         '({"$ref": "#/$defs/NAME"}) and one $defs block per section')
    assert set(SCHEMA["properties"]) == set(policy_mod._TOP_KEYS), \
        "schema/policy.json has sections policy.py refuses"
    assert SCHEMA["additionalProperties"] is False
    defs = SCHEMA["$defs"]
    assert set(defs["guard"]["properties"]) == set(policy_mod._GUARD_KEYS)
    assert set(defs["host"]["properties"]) == set(policy_mod._HOST_KEYS)
    ext = defs["extension"]["properties"]
    assert set(ext) == set(policy_mod._EXT_KEYS) | set(policy_mod._EXT_GROUPS)
    for group in policy_mod._EXT_GROUPS:
        subs = {k.split(".", 1)[1] for k in policy_mod._EXT_KEYS if k.startswith(group + ".")}
        assert set(ext[group]["properties"]) == subs, group
    lock = defs["lockdown"]["properties"]
    assert set(lock) == set(_lockdown_spec._KEYS) | {"fs", "net"}
    assert set(defs["audit"]["properties"]) == {"sinks", "ring_capacity", "overflow_wait",
                                                "spans"}
    assert set(defs["media"]["properties"]) == set(
        importlib.import_module("sdk_guard.media.config")._KEYS)
    assert set(defs["egress"]["properties"]) == set(
        importlib.import_module("sdk_guard.egress._spec")._KEYS)
    sinks = {v["properties"]["type"]["const"]: set(v["properties"])
             for v in defs["audit_sink"]["oneOf"]}
    assert sinks == {k: set(v) for k, v in audit_mod._SINK_KEYS.items()}
    assert ext["approve"]["items"]["enum"] == list(policy_mod.CAPABILITIES)
    presets = re.search(r"@\(([a-z|]+)\)", ext["imports.allow"]["items"]["pattern"])
    assert presets is not None
    assert {"@" + p for p in presets.group(1).split("|")} == set(policy_mod.PRESETS)


def test_every_policy_in_the_repository_passes_schema_and_loader() -> None:
    found = _repo_policies()
    assert any(p.name == "policy.toml" and p.parent.name == "examples" for p in found)
    for path in found:
        text = path.read_text(encoding="utf-8")
        doc = tomllib.loads(text) if path.suffix == ".toml" else json.loads(text)
        assert schema_errors(doc) == [], path
        Policy.from_file(path, variables={"data": DATA})
    for doc in (base(), tomllib.loads(TOML)):
        assert schema_errors(doc) == []
        Policy.from_dict(doc, variables={"data": DATA})


@pytest.mark.parametrize("mutate,ident", [(m[1], m[0]) for m in MALFORMED],
                         ids=[m[0] for m in MALFORMED])
def test_every_malformed_policy_of_the_tests_is_refused_by_schema_or_loader(
        mutate: Any, ident: str) -> None:
    d = base()
    mutate(d)
    errors = schema_errors(d)
    if ident in SEMANTIC:
        assert errors == [], f"{ident}: the schema now refuses it; drop it from SEMANTIC"
    else:
        assert errors, f"{ident}: the schema accepts a structurally malformed policy"
    variables = None if ident == "data-unset" else {"data": DATA}
    with pytest.raises(PolicyError):
        Policy.from_dict(d, variables=variables)


# The bad-section tables of other sections' tests: (test module, test function, section,
# the keys of cases only the loader can refuse: principals, address arithmetic, known
# content types, NaN).
SECTION_TABLES = [
    ("test_media_proxy", "test_bad_media_section_names_the_key", "media",
     {"media.types[0]", "media.types[1]", "media.allow_internal[0]", "media.read_timeout",
      "media.mint[0]"}),
    ("test_egress", "test_bad_egress_section_is_a_policy_error_naming_the_key", "egress",
     {"egress.connect_tcp[0]", "egress.dns[0]"}),
]


def _bad_sections(module: str, function: str) -> list[tuple[dict[str, Any], str]]:
    test = getattr(importlib.import_module(module), function)
    mark = next(m for m in test.pytestmark if m.name == "parametrize")
    cases: list[tuple[dict[str, Any], str]] = list(mark.args[1])
    return cases


@pytest.mark.parametrize("module,function,section,semantic", SECTION_TABLES,
                         ids=[s[2] for s in SECTION_TABLES])
def test_every_bad_section_of_the_tests_is_refused_by_schema_or_loader(
        module: str, function: str, section: str, semantic: set[str]) -> None:
    cases = _bad_sections(module, function)
    assert len(cases) >= 8
    for bad, key in cases:
        doc = {"version": 1, "extensions": {"acme": {"package": "acme"}}, section: bad}
        if key not in semantic:
            assert schema_errors(doc), f"the schema accepts bad [{section}] {bad} ({key})"
        with pytest.raises(PolicyError):
            Policy.from_dict(doc)


# The bad [actions] sections of test_actions.py (written inline there): all structural.
BAD_ACTIONS = [{"x.y": {"allow": ["a"]}}, {"x.y": {"requires": "a.b"}},
               {"x.y": {"requires": ["Bad Perm"]}}, {"x.y": {"approval": "yes"}},
               {"Bad Name": {}}]


@pytest.mark.parametrize("section", BAD_ACTIONS)
def test_bad_actions_sections_are_refused_by_schema_and_loader(section: dict[str, Any]) -> None:
    doc = {"version": 1, "actions": section}
    assert schema_errors(doc)
    with pytest.raises(PolicyError):
        Policy.from_dict(doc)
    good = {"version": 1, "actions": {"invoices.export": {"requires": ["invoices.read"],
                                                          "approval": True}}}
    assert schema_errors(good) == []
    Policy.from_dict(good)


@pytest.mark.parametrize("text", BAD_FILES)
def test_bad_policy_files_of_the_tests_are_refused_by_the_schema(text: str) -> None:
    assert schema_errors(tomllib.loads(text))


def test_schema_errors_name_the_dotted_key() -> None:
    d = base()
    d["extensions"]["acme"]["fs"]["read"] = ["relative/dir"]
    d["guard"]["mode"] = "strict"
    errs = schema_errors(d)
    assert any(e.startswith("extensions.acme.fs.read[0]: ") for e in errs), errs
    assert any(e.startswith("guard.mode: ") for e in errs), errs


def test_check_schema_prints_the_shipped_schema_and_check_uses_it(tmp_path: Path) -> None:
    out = subprocess.run([sys.executable, "-m", "sdk_guard", "check", "--schema"],
                         env=child_env(), capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == SCHEMA
    # A policy the loader accepts but the schema refuses is reported, not passed over:
    # the schema is made stricter here (a copy) to show check consults it.
    ok = subprocess.run([sys.executable, "-m", "sdk_guard", "check",
                         str(ROOT / "examples" / "policy.toml")], env=child_env(),
                        capture_output=True, text=True)
    assert ok.returncode == 0 and "schema" not in ok.stderr, ok.stderr
    code = ("import json, sys, sdk_guard._schema as s, sdk_guard.__main__ as m\n"
            "orig = s.policy_schema\n"
            "def strict():\n"
            "    d = orig(); d['$defs']['guard']['properties']['audit'] = {'enum': ['deny']}\n"
            "    return d\n"
            "s.policy_schema = strict\n"
            f"sys.exit(m.main(['check', {str(ROOT / 'examples' / 'policy.toml')!r}]))\n")
    bad = subprocess.run([sys.executable, "-c", code], env=child_env(), capture_output=True,
                         text=True)
    assert bad.returncode == 1
    assert "schema: guard.audit: 'all' is not one of ['deny']" in bad.stderr
