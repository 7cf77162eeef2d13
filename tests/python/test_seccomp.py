"""seccomp layer: the program, its installation, and what a locked-down child can do.

Every test that installs a filter runs in a fresh child interpreter (tests/_support/child.py).
"""
from __future__ import annotations

import json
import platform
import signal
import sys
import textwrap

import pytest

from _support.child import run_child, run_child_json
from sdk_guard import _guard, seccomp
from sdk_guard.errors import GuardError

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux") or platform.machine() != "x86_64",
    reason="the live tests drive x86_64 syscall numbers and machine code")

PRELUDE = """
import ctypes, json, os, sys
from sdk_guard import seccomp, _guard
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
def sc(nr, *args):
    ctypes.set_errno(0)
    r = libc.syscall(ctypes.c_long(nr), *[ctypes.c_ulong(a) for a in args])
    return r, ctypes.get_errno()
def lock(mode="errno"):
    plan = seccomp.prepare(mode)
    assert plan.status == "full", plan.report
    plan.apply()
    return plan
"""


def child(code: str, **kw):
    return run_child_json(PRELUDE + textwrap.dedent(code), **kw)


# ---- the program, without installing it ----------------------------------------------

def test_program_decides_deny_list_in_simulation():
    prog = _guard.SeccompProgram("errno")
    for name, nr, kind, _ in prog.denied:
        r = prog.simulate(nr)
        want = {"deny": "ERRNO(1)", "enosys": "ERRNO(38)", "ns_flags": "ALLOW",
                "personality": "ALLOW", "ioctl_tiocsti": "ALLOW",
                "socket_mptcp": "ALLOW"}[kind]  # args all 0: PER_LINUX
        assert r["action"] == want, (name, r)
    assert prog.simulate(56, [0x10000000])["action"] == "ERRNO(1)"
    assert prog.simulate(135, [0xffffffff])["action"] == "ALLOW"
    assert prog.simulate(16, [0, 0x5412])["action"] == "ERRNO(1)"
    assert prog.simulate(16, [0, (1 << 32) | 0x5412])["action"] == "ERRNO(1)"
    assert prog.simulate(16, [0, 0x5413])["action"] == "ALLOW"
    assert prog.simulate(41, [2, 1, 262])["action"] == "ERRNO(1)"
    assert prog.simulate(41, [2, 1, 6])["action"] == "ALLOW"
    assert prog.simulate(0, arch=0x40000003)["action"] == "KILL_PROCESS"
    assert prog.simulate(0x40000000)["action"] == "KILL_PROCESS"
    assert prog.simulate(-1)["action"] == "ALLOW"


def test_hot_syscalls_are_cacheable_and_short():
    prog = _guard.SeccompProgram("errno")
    for name in ("read", "write", "futex", "epoll_wait", "mmap", "getppid"):
        nr = _guard.seccomp_syscall_nr(name)
        assert prog.const_allow(nr), name
        assert prog.simulate(nr)["executed"] <= 12


def test_every_mode_builds_and_never_kills_a_thread():
    for mode in ("errno", "trap", "log", "kill"):
        asm = _guard.SeccompProgram(mode).disasm()
        assert not any("KILL_THREAD" in line for line in asm), mode
    assert _guard.SeccompProgram("kill").deny_action == 0x80000000


def test_prepare_report_is_json_and_applies_nothing():
    plan = seccomp.prepare("errno")
    json.dumps(plan.report)
    assert plan.status == "full"
    assert "execve" in plan.report["denied"] and plan.report["arch"] == "x86_64"
    assert plan.report["instructions"] > 0 and "tsync" in plan.report["flags"]
    assert _guard.seccomp_probe()["mode"] == 0
    with pytest.raises(GuardError):
        seccomp.prepare("sometimes")
    off = seccomp.prepare("off")
    assert off.status == "none"
    with pytest.raises(GuardError):
        off.apply()


def test_flags_the_kernel_refuses_are_listed_with_a_reason(monkeypatch):
    real = _guard.seccomp_probe()
    assert seccomp.prepare("errno").report["flags_dropped"] == [
        {"flag": f, "why": f"this kernel does not accept SECCOMP_FILTER_FLAG_{f.upper()}",
         "effect": seccomp._FLAG_DROP_EFFECT[f]}
        for f in ("tsync", "log", "spec_allow") if not real["flags"][f]]
    fake = dict(real, flags=dict(real["flags"], log=False, spec_allow=False))
    monkeypatch.setattr(_guard, "seccomp_probe", lambda: fake)
    report = seccomp.prepare("errno").report
    assert "log" not in report["flags"] and "spec_allow" not in report["flags"]
    dropped = {d["flag"]: d for d in report["flags_dropped"]}
    assert set(dropped) >= {"log", "spec_allow"}
    assert all(d["why"] and d["effect"] for d in dropped.values())


def test_explain_lines_show_labels_and_names():
    text = "\n".join(seccomp.explain_lines("errno"))
    for needle in ("arch_ok:", "high_nr:", "ns_flags:", "personality:", "ret KILL_PROCESS",
                   "execve", "userfaultfd", "ERRNO(EPERM)"):
        assert needle in text


# ---- live, in children ---------------------------------------------------------------

def test_each_denied_syscall_returns_its_errno():
    out = child("""
        built = _guard.SeccompProgram("errno")
        lock()
        res = {}
        for name, nr, kind, _ in built.denied:
            if kind == "ns_flags":
                args = [0x10000000]          # CLONE_NEWUSER
            elif kind == "personality":
                args = [0x0400000]           # READ_IMPLIES_EXEC
            elif kind == "ioctl_tiocsti":
                args = [0, 0x5412, 0]        # TIOCSTI
            elif kind == "socket_mptcp":
                args = [2, 1, 262]           # AF_INET, SOCK_STREAM, IPPROTO_MPTCP
            else:
                args = [0] * 6 if name not in ("reboot",) else [0xfee1dead, 0, 0]
            res[name] = sc(nr, *args)
        print(json.dumps({k: list(v) for k, v in res.items()}))
    """)
    for name, _, kind, _ in _guard.SeccompProgram("errno").denied:
        want = 38 if kind == "enosys" else 1
        assert out[name] == [-1, want], name


def test_exec_and_spawn_raise_permission_error():
    out = child("""
        import subprocess
        lock()
        res = {}
        for label, fn in (
            ("execv", lambda: os.execv("/bin/true", ["true"])),
            ("subprocess", lambda: subprocess.run(["/bin/true"])),
            ("posix_spawn", lambda: os.posix_spawn("/bin/true", ["true"], dict(os.environ))),
        ):
            try:
                fn()
                res[label] = "ran"
            except PermissionError as e:
                res[label] = "PermissionError"
            except OSError as e:
                res[label] = f"OSError {e.errno}"
        print(json.dumps(res))
    """)
    assert out == {"execv": "PermissionError", "subprocess": "PermissionError",
                   "posix_spawn": "PermissionError"}


def test_namespaces_cannot_be_created():
    out = child("""
        lock()
        res = {}
        if hasattr(os, "unshare"):          # Python >= 3.12
            try:
                os.unshare(os.CLONE_NEWUSER)
                res["unshare"] = "ok"
            except PermissionError:
                res["unshare"] = "EPERM"
        else:
            ctypes.set_errno(0)
            rc = libc.unshare(0x10000000)
            res["unshare"] = "EPERM" if rc == -1 and ctypes.get_errno() == 1 else f"{rc}"
        # raw clone(CLONE_NEWUSER|SIGCHLD): must fail before creating anything
        r, e = sc(56, 0x10000000 | 17, 0, 0, 0, 0)
        if r == 0:
            os._exit(0)
        res["clone"] = [r, e]
        res["clone_newnet"] = list(sc(56, 0x40000000 | 17, 0, 0, 0, 0))
        print(json.dumps(res))
    """)
    assert out == {"unshare": "EPERM", "clone": [-1, 1], "clone_newnet": [-1, 1]}


def test_tiocsti_cannot_type_into_the_controlling_terminal():
    """TIOCSTI would queue input the parent shell runs once this process ends: a way
    around the exec ban.  Other terminal ioctls keep working."""
    out = child("""
        import fcntl, termios
        try:
            os.setsid()
        except PermissionError:
            pass                            # already a session leader
        master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSCTTY, 0)
        def push():
            try:
                fcntl.ioctl(slave, termios.TIOCSTI, b"x")
                return "typed"
            except OSError as e:
                return e.errno
        before = push()
        lock()
        after = push()
        size = len(fcntl.ioctl(slave, termios.TIOCGWINSZ, b"\\0" * 8))
        print(json.dumps({"before": before, "after": after, "size": size}))
    """)
    assert out["after"] == 1 and out["size"] == 8, out


def test_mptcp_sockets_cannot_get_around_landlock_tcp_rules():
    """Landlock's TCP rules do not cover IPPROTO_MPTCP: without the filter's rule, a
    locked-down process connects to any port that way."""
    out = child("""
        import socket
        import sdk_guard as sg
        srv = socket.socket()
        srv.bind(("127.0.0.1", 0)); srv.listen(5)
        port = srv.getsockname()[1]
        try:
            socket.socket(socket.AF_INET, socket.SOCK_STREAM, 262).close()
            mptcp = True
        except OSError:
            mptcp = False                   # MPTCP disabled here: nothing to get around
        sg.lockdown(spec={"seccomp": "errno"})
        res = {"mptcp": mptcp}
        for name, proto in (("tcp", 0), ("mptcp_v4", 262)):
            try:
                s = socket.socket(socket.AF_INET, socket.SOCK_STREAM, proto)
                s.connect(("127.0.0.1", port))
                res[name] = "connected"
            except OSError as e:
                res[name] = e.errno
        print(json.dumps(res))
    """)
    if not out["mptcp"]:
        pytest.skip("this kernel refuses IPPROTO_MPTCP sockets anyway")
    assert out["mptcp_v4"] == 1, out       # EPERM from the filter
    if _guard.landlock_probe()["abi"] >= 4:
        assert out["tcp"] == 13, out       # EACCES from Landlock


def test_threads_fork_and_multiprocessing_still_work():
    out = child("""
        import threading, multiprocessing
        lock()
        box = []
        t = threading.Thread(target=lambda: box.append(os.getpid()))
        t.start(); t.join()
        pid = os.fork()
        if pid == 0:
            os._exit(7)
        _, status = os.waitpid(pid, 0)
        ctx = multiprocessing.get_context("fork")
        with ctx.Pool(2) as pool:
            squares = pool.map(abs, [-1, -2, -3])
        print(json.dumps({"thread": box == [os.getpid()], "fork": os.waitstatus_to_exitcode(status),
                          "mp": squares}))
    """)
    assert out == {"thread": True, "fork": 7, "mp": [1, 2, 3]}


def test_filter_is_on_every_thread():
    out = child("""
        import threading, time
        stop = threading.Event()
        threads = [threading.Thread(target=stop.wait) for _ in range(3)]
        for t in threads: t.start()
        lock()
        late = threading.Thread(target=stop.wait); late.start()
        modes = {}
        for tid in os.listdir("/proc/self/task"):
            with open(f"/proc/self/task/{tid}/status") as f:
                modes[tid] = [l.split()[1] for l in f if l.startswith("Seccomp:")][0]
        stop.set()
        for t in threads + [late]: t.join()
        print(json.dumps(modes))
    """)
    assert len(out) >= 5 and set(out.values()) == {"2"}


# Machine code stubs: `mov eax, NR; int 0x80; ret` (i386 ABI) and
# `mov eax, NR; syscall; ret` (x32 when NR has bit 30).
STUB = """
import mmap
def stub(code):
    m = mmap.mmap(-1, 4096, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
    m.write(code)
    addr = ctypes.addressof(ctypes.c_char.from_buffer(m))
    return m, ctypes.CFUNCTYPE(ctypes.c_long)(addr)
"""


@pytest.mark.parametrize("label,code", [
    ("int80_getpid", "b'\\xb8\\x14\\x00\\x00\\x00\\xcd\\x80\\xc3'"),           # i386 getpid = 20
    ("x32_getpid", "b'\\xb8\\x27\\x00\\x00\\x40\\x0f\\x05\\xc3'"),             # 0x40000027
])
def test_foreign_abi_kills_with_sigsys(label, code):
    proc = run_child(PRELUDE + STUB + f"""
lock()
m, fn = stub({code})
print("survived", fn(), flush=True)
""")
    assert proc.returncode == -signal.SIGSYS, (proc.returncode, proc.stdout, proc.stderr)
    assert "survived" not in proc.stdout


def test_foreign_abi_runs_without_filter():
    # The stubs themselves work: without the filter int 0x80 getpid returns a pid.
    proc = run_child(PRELUDE + STUB + """
m, fn = stub(b'\\xb8\\x14\\x00\\x00\\x00\\xcd\\x80\\xc3')
print(json.dumps(fn() == os.getpid()))
""")
    assert proc.returncode == 0 and proc.stdout.strip().endswith("true"), proc.stderr


def test_trap_mode_records_one_audit_event_per_denial():
    out = child("""
        recs = []
        _guard.set_audit_dispatcher(recs.append)
        lock("trap")
        res = [sc(101, 0, 0, 0, 0), sc(272, 0x10000000), sc(105, 0), sc(101, 0, 0, 0, 0)]
        try:
            os.execv("/bin/true", ["true"])
        except PermissionError:
            res.append("execv EPERM")
        n = seccomp.drain()
        got = recs + _guard.take_undelivered()
        got = [r for r in got if r.get("layer") == "seccomp"]
        print(json.dumps({"res": res, "n": n, "caps": [r["capability"] for r in got],
                          "decisions": sorted({r["decision"] for r in got}),
                          "active": _guard.seccomp_trap_active()}))
    """)
    assert out["res"] == [[-1, 1], [-1, 1], [-1, 1], [-1, 1], "execv EPERM"]
    assert out["n"] == 5
    assert out["caps"] == ["ptrace", "unshare", "setuid", "ptrace", "execve"]
    assert out["decisions"] == ["deny"] and out["active"] is True


def test_replacing_the_trap_handler_is_recorded_not_silent():
    """In-process code can replace the SIGSYS handler (signal.signal, or sigaction via
    ctypes): denied calls still never run, but are no longer recorded.  That loss of
    the trail must itself show up in the trail."""
    out = child("""
        import signal
        from sdk_guard import audit
        mem = audit.add_sink(audit.MemorySink())
        lock("trap")
        sc(105, 0)
        audit.flush()
        signal.signal(signal.SIGSYS, lambda *a: None)
        r = sc(105, 0)
        audit.flush()
        audit.flush()
        recs = [x for x in mem.records if x["layer"] == "seccomp"]
        print(json.dumps({"caps": [x["capability"] for x in recs],
                          "after": list(r)}))
    """)
    assert out["caps"] == ["setuid", "seccomp.trap_handler"]
    assert out["after"][0] != 0      # never ran: setuid(0) would have returned 0


def test_trap_denials_queued_at_fork_are_reported_by_the_parent_only():
    out = child("""
        lock("trap")
        sc(101, 0, 0, 0, 0)
        sc(105, 0)
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(r)
            os.write(w, str(seccomp.drain()).encode())
            os._exit(0)
        os.close(w)
        os.waitpid(pid, 0)
        in_child = int(os.read(r, 100))
        print(json.dumps({"child": in_child, "parent": seccomp.drain()}))
    """)
    assert out == {"child": 0, "parent": 2}


def test_kill_mode_kills_the_process_not_a_thread():
    proc = run_child(PRELUDE + """
import threading
lock("kill")
t = threading.Thread(target=lambda: sc(101, 0, 0, 0, 0))
t.start(); t.join()
print("survived", flush=True)
""")
    assert proc.returncode == -signal.SIGSYS and "survived" not in proc.stdout


def test_second_apply_is_refused():
    out = child("""
        from sdk_guard.errors import GuardError
        lock()
        try:
            seccomp.prepare("errno").apply()
            print(json.dumps("applied twice"))
        except GuardError as e:
            print(json.dumps("refused"))
    """)
    assert out == "refused"
