"""Ruleset and SeccompProgram: the heap types of the Landlock and seccomp bindings.

A Ruleset is a Landlock ruleset with its rules added and owns its fd; a SeccompProgram is
the assembled lockdown program with the methods that read or install it; both types live
in the module's state. Building a ruleset or a program applies
nothing, so those checks run in-process; restrict() and install() run in children.
"""
from __future__ import annotations

import errno
import gc
import os
from pathlib import Path

import pytest

from _support.child import run_child_json
from sdk_guard import _guard

LL = _guard.landlock_constants()
ABI = _guard.landlock_probe()["abi"]
needs_landlock = pytest.mark.skipif(ABI < 1, reason="this kernel has no Landlock (probe ABI 0)")

Py_TPFLAGS_IMMUTABLETYPE = 1 << 8
Py_TPFLAGS_HEAPTYPE = 1 << 9


def _fd_target(fd: int) -> str | None:
    try:
        return os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        return None


@pytest.mark.parametrize("tp", [_guard.Ruleset, _guard.SeccompProgram])
def test_binding_types_are_immutable_heap_types_held_by_the_module(tp: type) -> None:
    assert tp.__flags__ & Py_TPFLAGS_HEAPTYPE
    assert tp.__flags__ & Py_TPFLAGS_IMMUTABLETYPE
    assert tp.__module__ == "sdk_guard._guard"
    with pytest.raises(TypeError):
        tp.extra = 1  # type: ignore[attr-defined]
    # The module's state holds the type: its traverse reports it to the collector.
    assert tp in gc.get_referents(_guard)


@needs_landlock
def test_ruleset_reports_each_rule_outcome(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("x")
    read = LL["FS_READ_FILE"] | LL["FS_READ_DIR"]
    handled = (read, LL["NET_CONNECT_TCP"] if ABI >= 4 else 0, 0)
    paths = [(str(tmp_path), read), (str(tmp_path / "missing"), read), (str(tmp_path / "f"), read)]
    ports = [(5432, LL["NET_CONNECT_TCP"])] if ABI >= 4 else []
    with _guard.Ruleset(ABI, handled, paths, ports) as rs:
        assert _fd_target(rs.fd) == "anon_inode:[landlock-ruleset]"
        assert rs.path_results[0] == (0, 1, read, str(tmp_path))
        assert rs.path_results[1][:2] == (errno.ENOENT, -1)
        # A file takes only the rights that apply to files: READ_DIR is dropped.
        assert rs.path_results[2] == (0, 0, LL["FS_READ_FILE"], str(tmp_path / "f"))
        assert rs.port_results == ((0,) if ABI >= 4 else ())


@needs_landlock
def test_ruleset_closes_its_fd_when_collected_closed_or_exited() -> None:
    handled = (LL["FS_READ_FILE"], 0, 0)
    rs = _guard.Ruleset(ABI, handled, [("/", LL["FS_READ_FILE"])], [])
    fd = rs.fd
    assert _fd_target(fd) == "anon_inode:[landlock-ruleset]"
    del rs
    gc.collect()
    assert _fd_target(fd) != "anon_inode:[landlock-ruleset]"

    rs = _guard.Ruleset(ABI, handled, [], [])
    fd = rs.fd
    rs.close()
    rs.close()  # again: nothing to do
    assert rs.fd == -1 and _fd_target(fd) is None
    with pytest.raises(ValueError, match="closed or detached"):
        rs.restrict()

    with _guard.Ruleset(ABI, handled, [], []) as rs:
        fd = rs.fd
    assert rs.fd == -1 and _fd_target(fd) is None


@needs_landlock
def test_ruleset_detach_hands_the_fd_to_the_caller() -> None:
    rs = _guard.Ruleset(ABI, (LL["FS_READ_FILE"], 0, 0), [], [])
    fd = rs.detach()
    assert rs.fd == -1
    del rs
    gc.collect()
    assert _fd_target(fd) == "anon_inode:[landlock-ruleset]"
    os.close(fd)
    rs = _guard.Ruleset(ABI, (LL["FS_READ_FILE"], 0, 0), [], [])
    os.close(rs.detach())
    with pytest.raises(ValueError, match="closed or detached"):
        rs.detach()


@needs_landlock
def test_ruleset_restrict_confines_the_process(tmp_path: Path) -> None:
    allowed = tmp_path / "allowed"
    allowed.mkdir()
    (allowed / "f").write_text("yes")
    (tmp_path / "other").write_text("no")
    out = run_child_json(f"""
        import json, sys
        from sdk_guard import _guard
        LL = _guard.landlock_constants()
        abi = _guard.landlock_probe()["abi"]
        read = LL["FS_READ_FILE"]
        res = {{}}
        with _guard.Ruleset(abi, (read, 0, 0), [({str(allowed)!r}, read)], []) as rs:
            rs.restrict(0)
        for name in ("allowed/f", "other"):
            try:
                open({str(tmp_path)!r} + "/" + name).read()
                res[name] = "read"
            except PermissionError:
                res[name] = "denied"
        print(json.dumps(res))
    """)
    assert out == {"allowed/f": "read", "other": "denied"}


@pytest.mark.parametrize("mode", list(_guard.SECCOMP_MODES))
def test_seccomp_program_carries_its_program_labels_and_arch(mode: str) -> None:
    prog = _guard.SeccompProgram(mode)  # type: ignore[arg-type]
    deny_action = {"errno": 0x00050001, "trap": 0x00030000, "log": 0x7ffc0000,
                   "kill": 0x80000000}[mode]
    assert (prog.arch, prog.audit_arch, prog.deny_action) == ("x86_64", 0xc000003e, deny_action)
    assert len(prog.program) == 8 * prog.instructions  # struct sock_filter
    asm = prog.disasm()
    assert len(asm) == prog.instructions
    labels = dict((name, pos) for pos, name in prog.labels)
    assert {"arch_ok", "high_nr"} <= set(labels) and not any(n.startswith(".") for n in labels)
    # disasm names the jump targets by label.
    assert any("arch_ok" in line for line in asm[:labels["arch_ok"]])
    for name, nr, kind, _ in prog.denied:
        r = prog.simulate(nr)
        if kind == "deny":   # enosys is ERRNO(ENOSYS) in every mode
            assert r["ret"] & 0xffff0000 == deny_action & 0xffff0000, (name, r)
        assert prog.const_allow(nr) is False, name
    assert prog.const_allow(_guard.seccomp_syscall_nr("read") or 0) is True
    # Another architecture's number is killed.
    assert prog.simulate(0, arch=0x40000003)["action"] == "KILL_PROCESS"


def test_seccomp_program_for_another_architecture() -> None:
    prog = _guard.SeccompProgram("errno", "aarch64")
    assert prog.arch == "aarch64"
    assert prog.audit_arch == 0xc00000b7 and prog.program != _guard.SeccompProgram("errno").program
    assert prog.simulate(0)["action"] != "KILL_PROCESS"   # aarch64's own numbers pass the check
    with pytest.raises(ValueError, match="unknown seccomp architecture"):
        _guard.SeccompProgram("errno", "vax")
    with pytest.raises(ValueError, match="seccomp mode must be"):
        _guard.SeccompProgram("bogus")  # type: ignore[arg-type]


def test_seccomp_program_install_denies_in_the_process() -> None:
    out = run_child_json("""
        import ctypes, json, os
        from sdk_guard import _guard
        prog = _guard.SeccompProgram("errno")
        nr = dict((n, nr) for n, nr, _, _ in prog.denied)["unshare"]
        prog.install(0)
        libc = ctypes.CDLL(None, use_errno=True)
        rc = libc.syscall(nr, 0x10000000)
        print(json.dumps([rc, ctypes.get_errno()]))
    """)
    assert out == [-1, errno.EPERM]


@pytest.mark.parametrize("tp", [_guard.Ruleset, _guard.SeccompProgram])
def test_binding_types_refuse_odd_arguments_with_type_or_value_errors(tp: type) -> None:
    odd: list[object] = [None, 0, -1, 2 ** 70, "x", "a\0b", b"", [], ["x"], [("x",)], (1, 2, 3),
                         {}, object(), [("/tmp", 2 ** 70)], [(80, 2 ** 70)]]
    calls = 0
    for a in odd:
        for b in odd:
            for args in ((a,), (a, b), (1, (1, 0, 0), a, b), ("errno", a)):
                calls += 1
                try:
                    obj = tp(*args)
                except (TypeError, ValueError, OverflowError, OSError):
                    continue
                if isinstance(obj, _guard.Ruleset):
                    obj.close()
    assert calls > 500
