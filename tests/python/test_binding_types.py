"""Ruleset and SeccompProgram: the heap types of the Landlock and seccomp bindings.

They are landlock_build / seccomp_build and the functions that read a program, as objects:
the same C code builds them (their results must equal the functions'), a Ruleset owns its
fd, and both types live in the module's state. Building a ruleset or a program applies
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
def test_ruleset_reports_what_landlock_build_reports(tmp_path: Path) -> None:
    handled = (LL["FS_READ_FILE"] | LL["FS_READ_DIR"], LL["NET_CONNECT_TCP"] if ABI >= 4 else 0, 0)
    paths = [(str(tmp_path), LL["FS_READ_FILE"]), (str(tmp_path / "missing"), LL["FS_READ_FILE"])]
    ports = [(5432, LL["NET_CONNECT_TCP"])] if ABI >= 4 else []
    fd, path_results, port_results = _guard.landlock_build(ABI, handled, paths, ports)
    os.close(fd)
    with _guard.Ruleset(ABI, handled, paths, ports) as rs:
        assert list(rs.path_results) == path_results
        assert list(rs.port_results) == port_results
        assert rs.path_results[1][0] == errno.ENOENT


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
def test_seccomp_program_is_what_seccomp_build_returns(mode: str) -> None:
    built = _guard.seccomp_build(mode)  # type: ignore[arg-type]
    prog = _guard.SeccompProgram(mode)  # type: ignore[arg-type]
    assert prog.program == built["program"]
    assert list(prog.labels) == built["labels"]
    assert list(prog.denied) == built["denied"]
    assert (prog.arch, prog.audit_arch, prog.deny_action, prog.instructions) == (
        built["arch"], built["audit_arch"], built["deny_action"], built["instructions"])
    assert prog.disasm() == _guard.seccomp_disasm(built["program"], built["labels"])
    for name, nr, _, _ in built["denied"]:
        assert prog.simulate(nr) == _guard.seccomp_simulate(built["program"], nr,
                                                            built["audit_arch"]), name
        assert prog.const_allow(nr) is _guard.seccomp_const_allow(
            built["program"], built["audit_arch"], nr), name
    # Another architecture's number is killed, as the function says.
    assert prog.simulate(0, arch=0x40000003)["action"] == "KILL_PROCESS"
    assert prog.simulate(0, arch=0x40000003) == _guard.seccomp_simulate(
        built["program"], 0, 0x40000003)


def test_seccomp_program_for_another_architecture() -> None:
    prog = _guard.SeccompProgram("errno", "aarch64")
    assert prog.arch == "aarch64"
    assert prog.program == _guard.seccomp_build("errno", "aarch64")["program"]
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
