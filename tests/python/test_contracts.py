"""Contracts that cross from Python to C have one source each: the install spec's keys
(runtime.c's tables, typed as TypedDicts in _guard.pyi) and the names and limits C
defines (seccomp modes and kinds, audit ring limits, Landlock rights with their ABI)."""
from __future__ import annotations

import ast
from typing import Any

import pytest

from _support.child import ROOT
from sdk_guard import Policy, PolicyError, _guard, audit, seccomp

STUB = ast.parse((ROOT / "python" / "sdk_guard" / "_guard.pyi").read_text())


def _typed_dict_keys(name: str) -> list[str]:
    for node in STUB.body:
        if isinstance(node, ast.ClassDef) and node.name == name:
            return [s.target.id for s in node.body
                    if isinstance(s, ast.AnnAssign) and isinstance(s.target, ast.Name)]
    raise AssertionError(f"no TypedDict {name} in _guard.pyi")


def _literal_values(name: str) -> tuple[Any, ...]:
    for node in STUB.body:
        if (isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name)
                and node.targets[0].id == name):
            sub = node.value
            assert isinstance(sub, ast.Subscript)
            elts = sub.slice.elts if isinstance(sub.slice, ast.Tuple) else [sub.slice]
            return tuple(ast.literal_eval(e) for e in elts)
    raise AssertionError(f"no Literal alias {name} in _guard.pyi")


def _policy() -> Policy:
    return Policy.from_dict({"version": 1, "host": {"trusted": ["hostapp"]},
                             "extensions": {"acme": {"package": "acme"}}})


def test_the_keys_install_reads_are_the_typed_dict_keys() -> None:
    assert _typed_dict_keys("GuardSpec") == list(_guard.SPEC_KEYS)
    assert _typed_dict_keys("ExtensionSpec") == list(_guard.EXTENSION_SPEC_KEYS)


def test_to_spec_gives_every_key_install_reads() -> None:
    spec = _policy().to_spec()
    # install() adds what the import system may read, the host's private files and the
    # threads running at install.
    assert set(spec) | {"import_roots", "private_paths", "host_threads"} == set(_guard.SPEC_KEYS)
    [ext] = spec["extensions"]
    assert set(ext) == set(_guard.EXTENSION_SPEC_KEYS)


def test_literal_types_are_the_names_c_defines() -> None:
    assert _literal_values("SeccompMode") == _guard.SECCOMP_MODES
    assert _literal_values("SeccompKind") == _guard.SECCOMP_KINDS
    assert _literal_values("LandlockScope") == tuple(n for n, _, _ in _guard.LANDLOCK_SCOPES)


def test_seccomp_modes_and_kinds_come_from_c() -> None:
    assert seccomp.MODES == (*_guard.SECCOMP_MODES, "off")
    kinds = {kind for _name, _nr, kind, _why in _guard.SeccompProgram("errno").denied}
    assert kinds <= set(_guard.SECCOMP_KINDS)
    assert "deny" in kinds and "enosys" in kinds
    # Every kind explain can meet has its note.
    assert set(seccomp._KIND_NOTES) == set(_guard.SECCOMP_KINDS)


def test_unknown_seccomp_mode_is_refused_naming_the_modes() -> None:
    with pytest.raises(ValueError, match="errno, trap, log, kill"):
        seccomp.explain_lines("allow")


@pytest.mark.parametrize("table", ["LANDLOCK_FS_RIGHTS", "LANDLOCK_NET_RIGHTS",
                                   "LANDLOCK_SCOPES"])
def test_landlock_since_abi_is_where_the_downgrade_starts_keeping_the_right(
        table: str) -> None:
    # landlock.c's fall-through drops what an ABI lacks; since_abi must agree with it.
    column = {"LANDLOCK_FS_RIGHTS": 0, "LANDLOCK_NET_RIGHTS": 1, "LANDLOCK_SCOPES": 2}[table]
    for name, bit, since in getattr(_guard, table):
        fs, net, scoped = (bit if column == c else 0 for c in range(3))
        kept = _guard.landlock_compat(since, fs, net, scoped, 0)
        assert kept["handled"][column] & bit, f"{name} not handled at ABI {since}"
        if since > 1:
            older = _guard.landlock_compat(since - 1, fs, net, scoped, 0)
            assert older["dropped"][column] & bit, f"{name} kept at ABI {since - 1}"


def test_audit_limits_come_from_c() -> None:
    cap_max = _guard.AUDIT_RING_MAX_CAPACITY
    wait_max = _guard.AUDIT_OVERFLOW_WAIT_MAX
    assert audit.parse_config({"ring_capacity": cap_max})["ring_capacity"] == cap_max
    with pytest.raises(PolicyError, match=f"from 1 to {cap_max}"):
        audit.parse_config({"ring_capacity": cap_max + 1})
    assert audit.parse_config({"overflow_wait": wait_max})["overflow_wait"] == wait_max
    with pytest.raises(PolicyError, match="the default, 1.0"):
        audit.parse_config({"overflow_wait": wait_max + 1})
    assert _guard.AUDIT_OVERFLOW_WAIT_DEFAULT == 1.0
    assert 1 <= _guard.AUDIT_RING_DEFAULT_CAPACITY <= cap_max
