"""The C bindings on hostile arguments: a TypeError/ValueError naming the argument,
never a SystemError, a crash or a hang.

Nothing here installs a hook or a filter (the Landlock rulesets built below are only
created, never applied), so the calls run in-process.  A wrapping jump in a seccomp
program (the const_allow hang) is tests/c/test_sasm.c's: a program from Python is
always the one SeccompProgram assembles.
"""
from __future__ import annotations

import itertools
import pathlib
import struct

import pytest

from sdk_guard import _guard

PROG = _guard.SeccompProgram("errno")
LL = _guard.landlock_constants()


@pytest.mark.parametrize("paths,ports,what", [
    (["x"], [], r"paths\[0\]"), ([1], [], r"paths\[0\]"), ([["/tmp", 1]], [], r"paths\[0\]"),
    ([], ["x"], r"ports\[0\]"), ([], [[80, 1]], r"ports\[0\]"), ([], [None], r"ports\[0\]"),
])
def test_ruleset_refuses_non_tuple_items_with_type_error(
        paths: list[object], ports: list[object], what: str) -> None:
    if _guard.landlock_probe()["abi"] < 4:
        pytest.skip("Landlock ABI >= 4 is needed to create a ruleset with a port rule "
                    f"(this kernel: {_guard.landlock_probe()['abi']})")
    with pytest.raises(TypeError, match=what):
        _guard.Ruleset(4, (LL["FS_READ_FILE"], LL["NET_CONNECT_TCP"], 0), paths, ports)


def test_seccomp_arch_must_be_a_string() -> None:
    with pytest.raises(TypeError, match="arch must be str or None"):
        _guard.SeccompProgram("errno", 5)


@pytest.mark.parametrize("rule", [5, "x", [2, 6, 32, b"\0" * 16, 1, 2], None])
def test_egress_bpf_build_refuses_a_rule_that_is_not_a_tuple(rule: object) -> None:
    kind = _guard.egress_bpf_constants()["KIND_ADDR4"]
    with pytest.raises(TypeError, match=r"rule 0 must be a tuple"):
        _guard.egress_bpf_build(kind, [rule], 9)


def _ins(code: int, k: int, jt: int = 0, jf: int = 0) -> bytes:
    return struct.pack("=HBBI", code, jt, jf, k)


def test_every_binding_raises_only_type_or_value_errors_on_odd_arguments() -> None:
    odd: list[object] = [None, 0, -1, 2 ** 70, 1.5, "x", "", "a\0b", "\ud800", b"", b"x" * 8,
                         PROG.program, [], ["x"], [1], [("x",)], [(1, "a")], [("a", 1)], [[1, "a"]],
                         (1, 2, 3), ("a", "b", "c"), {}, object(), pathlib.Path("/tmp"),
                         [("/tmp", 1)], [(80, 2 ** 70)], _ins(0x05, 0xFFFFFFFF) * 2]
    skip = {"seccomp_trap_install", "set_no_new_privs"}
    names = [n for n in dir(_guard)
             if n.startswith(("seccomp_", "landlock_", "parse_", "path_", "module_", "net_"))
             and n not in skip]
    assert "seccomp_syscall_nr" in names and "landlock_compat" in names and "parse_ip" in names
    # The types and the methods that read a program (install() would apply it).
    fns = [getattr(_guard, n) for n in names] + [
        _guard.Ruleset, _guard.SeccompProgram, PROG.disasm, PROG.simulate, PROG.const_allow]
    calls = 0
    for fn in fns:
        for nargs in range(4):
            combos = itertools.product(odd, repeat=nargs) if nargs < 2 else None
            sample = list(combos) if combos is not None else [
                tuple(odd[(i * 7 + j * 13) % len(odd)] for j in range(nargs))
                for i in range(len(odd) * 6)]
            for args in sample:
                calls += 1
                try:
                    fn(*args)
                except (TypeError, ValueError, OverflowError, OSError):
                    pass
    assert calls > 1000


def test_audit_plain_copy_reads_no_method_of_a_foreign_value() -> None:
    from sdk_guard.audit import _record

    ran: list[str] = []

    class S(str):
        def __str__(self) -> str:
            ran.append("str")
            return "x"

        def __iter__(self):  # type: ignore[no-untyped-def]
            ran.append("iter")
            return iter(())

    class D(dict):  # type: ignore[type-arg]
        def items(self):  # type: ignore[no-untyped-def]
            ran.append("items")
            return []

    class Meta(type):
        @property
        def __name__(cls) -> str:  # type: ignore[override]
            ran.append("meta")
            return "m"

    class Odd(metaclass=Meta):
        def __repr__(self) -> str:
            ran.append("repr")
            return "odd"

    value = {"s": S("v"), "d": D(a=1), "o": Odd(), "l": [S("w"), (1, 2.5, None, True)],
             "deep": deep(40)}
    copied = _record.plain_copy(value)
    assert ran == []
    assert copied["s"] == "v" and type(copied["s"]) is str
    assert copied["d"] == {"a": 1} and copied["o"] == "<Odd>"   # D read as a dict, not via items()
    assert copied["l"] == ["w", [1, 2.5, None, True]]
    # The writer's encoder shows a non-JSON value by its type name, never by its code.
    assert _record._dumps({"target": Odd(), "n": [Odd()]}) == '{"target":"<Odd>","n":["<Odd>"]}'
    assert ran == []


def deep(n: int) -> list[object]:
    v: list[object] = []
    for _ in range(n):
        v = [v]
    return v
