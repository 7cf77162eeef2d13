"""The C bindings on hostile arguments: a TypeError/ValueError naming the argument,
never a SystemError, a crash or a hang.

Nothing here installs a hook or a filter (the Landlock ruleset built below is only
created, never applied), so the calls run in-process except the hang check, which
runs in a child with a timeout so a regression fails instead of stalling the suite.
"""
from __future__ import annotations

import itertools
import pathlib
import struct
import subprocess
import sys

import pytest

from _support.child import child_env
from sdk_guard import _guard

PROG = _guard.seccomp_build("errno")["program"]
LL = _guard.landlock_constants()


@pytest.mark.parametrize("labels", [["x"], [1], [[0, "a"]], [None], [b"ab"]])
def test_seccomp_disasm_refuses_non_tuple_labels_with_type_error(labels: list[object]) -> None:
    with pytest.raises(TypeError, match=r"labels\[0\] must be a tuple"):
        _guard.seccomp_disasm(PROG, labels)


@pytest.mark.parametrize("paths,ports,what", [
    (["x"], [], r"paths\[0\]"), ([1], [], r"paths\[0\]"), ([["/tmp", 1]], [], r"paths\[0\]"),
    ([], ["x"], r"ports\[0\]"), ([], [[80, 1]], r"ports\[0\]"), ([], [None], r"ports\[0\]"),
])
def test_landlock_build_refuses_non_tuple_items_with_type_error(
        paths: list[object], ports: list[object], what: str) -> None:
    if _guard.landlock_probe()["abi"] < 4:
        pytest.skip("Landlock ABI >= 4 is needed to create a ruleset with a port rule "
                    f"(this kernel: {_guard.landlock_probe()['abi']})")
    with pytest.raises(TypeError, match=what):
        _guard.landlock_build(4, (LL["FS_READ_FILE"], LL["NET_CONNECT_TCP"], 0), paths, ports)


def test_seccomp_arch_must_be_a_string() -> None:
    with pytest.raises(TypeError, match="arch must be str or None"):
        _guard.seccomp_build("errno", 5)


def test_seccomp_const_allow_ends_on_a_wrapping_jump() -> None:
    # ld [nr]; ja -1 (k wraps pc back to itself); ret ALLOW.  Before the fix this
    # looped forever holding the GIL, so it runs in a child with a timeout.
    code = (
        "import struct, sys\n"
        f"sys.path[:0] = {sys.path[:3]!r}\n"
        "from sdk_guard import _guard\n"
        "ins = lambda code, k, jt=0, jf=0: struct.pack('=HBBI', code, jt, jf, k)\n"
        "for k in (0xffffffff, 0xfffffffe, 0x80000000, 1):\n"
        "    prog = ins(0x20, 0) + ins(0x05, k) + ins(0x06, 0x7fff0000)\n"
        "    assert _guard.seccomp_const_allow(prog, 0xc000003e, 0) is False, k\n"
        "print('ok')\n")
    proc = subprocess.run([sys.executable, "-c", code], env=child_env(), capture_output=True,
                          text=True, timeout=30, check=False)
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr


def _ins(code: int, k: int, jt: int = 0, jf: int = 0) -> bytes:
    return struct.pack("=HBBI", code, jt, jf, k)


def test_every_binding_raises_only_type_or_value_errors_on_odd_arguments() -> None:
    odd: list[object] = [None, 0, -1, 2 ** 70, 1.5, "x", "", "a\0b", "\ud800", b"", b"x" * 8,
                         PROG, [], ["x"], [1], [("x",)], [(1, "a")], [("a", 1)], [[1, "a"]],
                         (1, 2, 3), ("a", "b", "c"), {}, object(), pathlib.Path("/tmp"),
                         [("/tmp", 1)], [(80, 2 ** 70)], _ins(0x05, 0xFFFFFFFF) * 2]
    skip = {"seccomp_install", "landlock_restrict", "seccomp_trap_install", "set_no_new_privs"}
    names = [n for n in dir(_guard)
             if n.startswith(("seccomp_", "landlock_", "parse_", "path_", "module_", "net_"))
             and n not in skip]
    assert "seccomp_disasm" in names and "landlock_build" in names and "parse_ip" in names
    calls = 0
    for name in names:
        fn = getattr(_guard, name)
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
