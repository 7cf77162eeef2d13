"""The two layers together: after lockdown() the Process Guard keeps mediating, and the
kernel holds the boundary for routes the Python layer cannot see."""
from __future__ import annotations

import json
from pathlib import Path

from _support.child import run_child_json, write_tree

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
    out = run_child_json(
        """
        import errno, json, os, subprocess, sys
        import sdk_guard as sg
        P = json.loads(sys.argv[1])
        policy = sg.Policy.from_dict({
            "version": 1,
            "host": {"trusted": [], "data": P["data"]},
            "extensions": {"acme": {"package": "acme", "path": P["plugins"],
                                    "imports": {"allow": ["ctypes", "ctypes.*"]},
                                    "fs": {"read": ["{data}/acme"]}, "native": True}},
            "lockdown": {"fs": {"read": ["{data}", P["plugins"]]}, "seccomp": "errno"},
        })
        guard = sg.install(policy)
        acme = guard.import_extension("acme")
        report = sg.lockdown(policy, require=["landlock", "seccomp"])
        out = {"status": report.status}
        out["ext_inside"] = acme.read(os.path.join(P["data"], "acme", "in.txt"))
        try:
            acme.read(P["secret"])
            out["ext_secret"] = "read"
        except sg.PolicyViolation as e:
            out["ext_secret"] = ["PolicyViolation", e.capability, e.rule]
        fd, err = acme.libc_open(P["secret"])
        out["ext_libc_open"] = errno.errorcode.get(err, err) if fd < 0 else "opened"
        try:
            open(P["secret"]).close()
            out["host_secret"] = "read"
        except PermissionError as e:
            out["host_secret"] = errno.errorcode[e.errno]
        try:
            subprocess.run(["/bin/true"])
            out["host_exec"] = "ran"
        except PermissionError as e:
            out["host_exec"] = errno.errorcode[e.errno]
        print(json.dumps(out))
        """, args=[json.dumps(params)])
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
