"""The two layers together: after lockdown() the Process Guard keeps mediating, and the
kernel holds the boundary for routes the Python layer cannot see."""
from __future__ import annotations

import json
from pathlib import Path

from _support.child import run_child_json, run_program_json, write_tree
from sdk_guard import _guard

ABI = int(_guard.landlock_probe()["abi"])


def test_guard_keeps_working_after_lockdown_and_kernel_stops_what_it_cannot(tmp_path: Path) -> None:
    assert ABI >= 1, "this machine's kernel has Landlock; the test must not silently pass"
    data = tmp_path / "data"
    (data / "acme").mkdir(parents=True)
    (data / "acme" / "in.txt").write_text("inside")
    (tmp_path / "secret.txt").write_text("secret")
    write_tree(tmp_path / "plugins", {
        "acme/__init__.py": """
            import ctypes

            def read(path):
                with open(path) as f:
                    return f.read()

            def libc_open(path):
                # bypasses the audit hook: only the kernel can refuse this
                libc = ctypes.CDLL(None, use_errno=True)
                fd = libc.open(path.encode(), 0)
                return fd, ctypes.get_errno()
            """,
    })
    params = {"data": str(data), "plugins": str(tmp_path / "plugins"),
              "secret": str(tmp_path / "secret.txt")}
    out = run_program_json("lockdown_layers", json.dumps(params))
    assert out["status"] == "full"
    assert out["ext_inside"] == "inside"
    # The Python layer denies the extension with a policy error...
    assert out["ext_secret"] == ["PolicyViolation", "fs.read", "extensions.acme.fs.read"]
    # ...the kernel denies what the audit hook never sees (ctypes -> open(2))...
    assert out["ext_libc_open"] == "EACCES"
    # ...and host code too, since the whole process is confined.
    assert out["host_secret"] == "EACCES"
    assert out["host_exec"] == "EPERM"


def test_seccomp_trap_denials_reach_the_audit_sinks_without_an_explicit_drain() -> None:
    out = run_child_json(
        """
        import ctypes, errno, json
        import sdk_guard as sg
        sink = sg.audit.MemorySink()
        sg.audit.add_sink(sink)
        report = sg.lockdown(spec={"seccomp": "trap", "fs": {"read": ["/"], "write": ["/tmp"]}},
                             require=["seccomp"])
        libc = ctypes.CDLL(None, use_errno=True)
        rc = libc.syscall(sg._guard.seccomp_syscall_nr("ptrace"), 0, 0, 0, 0)
        err = ctypes.get_errno()
        sg.audit.flush()
        recs = [r for r in sink.records if r.get("layer") == "seccomp"]
        print(json.dumps({"rc": rc, "err": errno.errorcode.get(err), "caps": [r["capability"] for r in recs],
                          "decisions": [r["decision"] for r in recs]}))
        """)
    assert out["rc"] == -1 and out["err"] == "EPERM"
    assert out["caps"] == ["ptrace"]
    assert out["decisions"] == ["deny"]
