"""Landlock lockdown: what a locked-down process can and cannot do, by every route tried.

A Landlock domain can never be removed, so every test runs in a fresh child
interpreter (tests/_support/child.py).  A test is skipped only when the running kernel lacks
the Landlock feature it needs, and the reason is printed.  ``sdk_guard._guard``
failing to import is a failure, never a skip.
"""
from __future__ import annotations

import json
import os
import socket
from pathlib import Path
from typing import Any

import pytest

from _support.child import program, run_child_json, run_program_json
from sdk_guard import _guard  # a broken extension fails the whole module, loudly

ABI = int(_guard.landlock_probe()["abi"])

# The one child still built from code starts with the text every landlock_* program
# imports.
PRELUDE = (Path(program("lockdown_prelude")).read_text()
           + "import os\nimport sys\nimport sdk_guard as sg\nfrom sdk_guard import audit\n")


def need_abi(n: int, what: str) -> None:
    if ABI < n:
        reason = f"{what} needs Landlock ABI >= {n}; this kernel has ABI {ABI}"
        print(reason)
        pytest.skip(reason)


def child(name: str, params: dict[str, Any], **kw: Any) -> Any:
    """Run the Landlock child program NAME with PARAMS (its P) as JSON."""
    return run_program_json(name, json.dumps(params), **kw)


def child_code(code: str, params: dict[str, Any], **kw: Any) -> Any:
    """Run CODE after the prelude as `python -c`, with PARAMS as JSON."""
    return run_child_json(PRELUDE + code, args=[json.dumps(params)], **kw)


@pytest.fixture
def tree(tmp_path: Path) -> dict[str, str]:
    """ro/ (fs.read), rw/ and rw2/ (fs.write), out/ (no rule), each with a file."""
    for d in ("ro", "rw", "rw2", "out"):
        (tmp_path / d).mkdir()
        (tmp_path / d / "f.txt").write_text(d)
    (tmp_path / "out" / "sub").mkdir()
    (tmp_path / "ro" / "link_out").symlink_to(tmp_path / "out" / "f.txt")
    return {d: str(tmp_path / d) for d in ("ro", "rw", "rw2", "out")} | {"base": str(tmp_path)}


def require_landlock() -> None:
    need_abi(1, "Landlock")


# ---- files ---------------------------------------------------------------------------

def test_extension_cannot_open_outside_fs_read_with_builtin_open(tree: dict[str, str]) -> None:
    require_landlock()
    out = child("landlock_extension_cannot_open_outside", tree)
    assert out == {"status": "full", "read_ro": "ok", "read_rw": "ok", "read_out": "EACCES",
                   "write_ro": "EACCES", "write_rw": "ok", "write_out": "EACCES",
                   "read_etc": "EACCES"}


def test_os_open_with_dir_fd_cannot_escape_the_rules(tree: dict[str, str]) -> None:
    require_landlock()
    out = child("landlock_os_open_with_dir", tree)
    assert out == {"inside": "ok", "dotdot": "EACCES", "dotdot_create": "EACCES",
                   "open_out_dir": "EACCES", "via_o_path": "EACCES", "via_proc_fd": "EACCES"}


def test_ctypes_calling_libc_open_directly_is_denied_by_the_kernel(tree: dict[str, str]) -> None:
    require_landlock()
    out = child("landlock_ctypes_calling_libc_open", tree)
    assert out == {"read_ro": "ok", "read_out": "EACCES", "write_out": "EACCES",
                   "create_out": "EACCES", "create_rw": "ok", "shadow": "EACCES"}


def test_c_library_opening_files_itself_is_confined(tree: dict[str, str]) -> None:
    # sqlite3 opens its database with its own open(2) calls inside C, no Python I/O.
    require_landlock()
    out = child("landlock_c_library_opening_files", tree)
    assert out["inside"] == "ok"
    assert out["outside"].startswith("denied")
    assert out["outside_exists"] is False


def test_rename_and_link_across_directories_follow_refer_rules(tree: dict[str, str]) -> None:
    require_landlock()
    for name in ("a", "b", "c"):
        Path(tree["rw"], name).write_text(name)
    out = child("landlock_rename_and_link_across", tree)
    if ABI < 2:
        # ABI 1 cannot grant REFER: every reparenting is EXDEV, even between rw dirs.
        assert out["rw_to_rw2"] == "EXDEV"
        assert out["refer_dropped"] == ["fs.refer"]
    else:
        assert out["rw_to_rw2"] == "ok"
    assert out["same_dir"] == "ok"
    assert out["rw_to_out"] == "EACCES"       # no make_reg in out/
    assert out["ro_to_rw"] == "EACCES"        # no remove_file in ro/ (EACCES beats EXDEV)
    assert out["link_ro_to_rw"] == "EXDEV"    # the file would gain write rights
    assert out["link_out_to_rw"] == "EXDEV"
    assert out["link_rw_to_out"] == "EACCES"


def test_truncate_is_denied_outside_fs_write(tree: dict[str, str]) -> None:
    need_abi(3, "LANDLOCK_ACCESS_FS_TRUNCATE")
    out = child("landlock_truncate_is_denied_outside", tree)
    assert out == {"trunc_rw": "ok", "trunc_ro": "EACCES", "trunc_out": "EACCES",
                   "o_trunc_ro": "EACCES", "ftrunc_readonly_fd_rw": "EINVAL", "ro_size": 2}


def test_directory_listing_is_denied_outside_the_rules(tree: dict[str, str]) -> None:
    require_landlock()
    out = child("landlock_directory_listing_is_denied", tree)
    # stat(2) is not a Landlock access right (kernel documentation lists it as such).
    assert out == {"list_ro": ["f.txt", "link_out"], "list_out": "EACCES",
                   "scandir_out": "EACCES", "list_base": "EACCES", "list_root": "EACCES",
                   "stat_out": "ok"}


def test_creating_files_dirs_and_fifos_only_inside_fs_write(tree: dict[str, str]) -> None:
    require_landlock()
    out = child("landlock_creating_files_dirs_and", tree)
    assert out == {"create_rw": "ok", "create_ro": "EACCES", "create_out": "EACCES",
                   "mkdir_rw": "ok", "mkdir_ro": "EACCES", "fifo_rw": "ok", "fifo_out": "EACCES",
                   "unlink_ro": "EACCES", "rmdir_out": "EACCES", "mknod_chr_rw": "EACCES"}


def test_symlinks_pointing_outside_do_not_escape(tree: dict[str, str]) -> None:
    require_landlock()
    out = child("landlock_symlinks_pointing_outside_do", tree)
    assert out == {"made": "ok", "follow_new": "EACCES", "follow_old": "EACCES",
                   "write_through": "EACCES", "symlink_in_ro": "EACCES", "readlink": True}


def test_locked_down_process_cannot_execute_programs(tree: dict[str, str]) -> None:
    require_landlock()
    out = child("landlock_locked_down_process_cannot", tree)
    assert out == {"python": "EACCES", "sh": "EACCES"}


def test_preopened_descriptors_keep_access_and_are_reported(tree: dict[str, str]) -> None:
    require_landlock()
    out = child("landlock_preopened_descriptors_keep_access", tree)
    assert out["warned_write"] == "write" and out["warned_dir"] == "directory"
    assert out["listdir_fd"] == ["f.txt", "sub"]
    # The descriptor lists, but each file opened under it is checked anew.
    assert out["open_under_fd"] == "EACCES"
    assert Path(tree["out"], "f.txt").read_text() == "outstill"


# ---- network and IPC ------------------------------------------------------------------

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_tcp_connect_and_bind_only_to_allowed_loopback_ports() -> None:
    need_abi(4, "TCP port rules")
    bind_ok, bind_no = _free_port(), _free_port()
    out = child("landlock_tcp_connect_and_bind", {"bind_ok": bind_ok, "bind_no": bind_no})
    # seccomp is off here, so nothing refuses Multipath TCP sockets: the report says so.
    try:
        mptcp_on = Path("/proc/sys/net/mptcp/enabled").read_text().strip() == "1"
    except OSError:
        mptcp_on = False
    assert out["mptcp_warned"] is mptcp_on
    assert out["connect_allowed"] == "ok"
    assert out["connect_denied"] == "EACCES"
    assert out["bind_allowed"] == "ok"
    assert out["bind_denied"] == "EACCES"
    assert out["udp_unrestricted"] == "ok"  # Landlock ABI <= 7 has TCP rules only
    assert out["rules"] == sorted([[out["pa"], "net.connect_tcp"], [bind_ok, "net.bind_tcp"]])


def test_tcp_connect_over_ipv6_loopback_is_denied_too() -> None:
    need_abi(4, "TCP port rules")
    if not socket.has_ipv6:
        pytest.skip("no IPv6 in this Python")
    out = child("landlock_tcp_connect_over_ipv6", {})
    if "skip" in out:
        print("IPv6 loopback unavailable:", out["skip"])
        pytest.skip(f"IPv6 loopback unavailable: {out['skip']}")
    assert out == {"connect": "EACCES"}


def test_abstract_unix_socket_outside_the_domain_is_unreachable() -> None:
    need_abi(6, "LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET")
    out = child("landlock_abstract_unix_socket_outside", {})
    assert out == {"outer": "EPERM", "inner": "ok", "scopes": ["abstract_unix_socket"]}


def test_signals_to_processes_outside_the_domain_are_denied() -> None:
    need_abi(6, "LANDLOCK_SCOPE_SIGNAL")
    out = child("landlock_signals_to_processes_outside", {})
    assert out == {"to_outside": "EPERM", "to_parent": "EPERM", "to_self": "ok",
                   "to_own_child": "ok", "outside_alive": True}


# ---- threads -----------------------------------------------------------------------

def test_lockdown_refuses_with_a_live_thread_and_applies_nothing(tree: dict[str, str]) -> None:
    require_landlock()
    if ABI >= 8:
        pytest.skip("this kernel has TSYNC (ABI >= 8): live threads are confined, not refused")
    out = child("landlock_lockdown_refuses_with_a", tree)
    assert out["raised"] is True
    assert "plugin-worker" in out["msg"] and "thread_local" in out["msg"]
    assert out["nnp"] is False and out["read_out"] == "ok"
    assert out["retry"] == "full" and out["read_out_after"] == "EACCES"


def test_thread_local_mode_confines_only_the_calling_thread(tree: dict[str, str]) -> None:
    require_landlock()
    if ABI >= 8:
        pytest.skip("this kernel has TSYNC (ABI >= 8): thread_local never applies")
    out = child("landlock_thread_local_mode_confines", tree)
    assert out == {"status": "partial", "mode": "thread_local", "unconfined": 1,
                   "old_thread": "ok", "main": "EACCES", "new_thread": "EACCES"}


def test_tsync_confines_threads_that_already_exist(tree: dict[str, str]) -> None:
    need_abi(8, "LANDLOCK_RESTRICT_SELF_TSYNC")
    out = child("landlock_tsync_confines_threads_that", tree)
    assert out == {"status": "full", "mode": "tsync", "old_thread": "EACCES"}


def test_audit_writer_thread_does_not_block_lockdown(tree: dict[str, str]) -> None:
    require_landlock()
    out = child("landlock_audit_writer_thread_does", tree)
    assert out == {"before": 2, "status": "full", "mode": "single", "records": 1,
                   "decision": "allow", "capability": "lockdown", "report_status": "full"}


# ---- the locked-down interpreter keeps working -----------------------------------------

def test_locked_down_python_runs_stdlib_workloads_and_writes_its_audit_log(
        tree: dict[str, str]) -> None:
    require_landlock()
    out = child("landlock_locked_down_python_runs", tree)
    assert out["status"] == "full"
    assert all(out["work"].values()), out["work"]
    assert ["landlock", "lockdown", "allow"] in out["logged"]


# ---- the report and the contract -------------------------------------------------------

def test_report_says_exactly_what_was_enforced(tree: dict[str, str]) -> None:
    require_landlock()
    out = child("landlock_report_says_exactly_what", tree)
    d = out["d"]
    ll = d["landlock"]
    assert d["status"] == "full" and d["no_new_privs"] is True
    assert ll["abi"] == ABI and ll["status"] == "full" and ll["threads"]["mode"] == "single"
    assert d["seccomp"]["status"] == "off"
    handled = {r["right"]: r["handled"] for r in ll["rights"]}
    assert handled["fs.read_file"] and handled["fs.write_file"]
    if ABI >= 4:
        assert handled["net.connect_tcp"] and handled["net.bind_tcp"]
    if ABI >= 6:
        assert handled["scope.signal"] and ll["scopes"] == ["abstract_unix_socket", "signal"]
    if ABI >= 6:
        assert ll["dropped"] == []
    rules = {r["path"]: r for r in ll["rules"] if r["type"] == "path"}
    assert rules[tree["ro"]]["access"] == ["fs.read_file", "fs.read_dir"]
    assert rules[tree["ro"]]["source"] == "lockdown.fs.read[0]"
    assert "fs.write_file" in rules[tree["rw"]]["access"]
    assert "fs.make_char" not in rules[tree["rw"]]["access"]
    assert not any("fs.execute" in r["access"] or "fs.ioctl_dev" in r["access"]
                   for r in ll["rules"] if r["type"] == "path")
    # A non-directory gets file rights only.
    assert rules[tree["out"] + "/f.txt"]["kind"] == "file"
    assert rules[tree["out"] + "/f.txt"]["access"] == ["fs.read_file"]
    # A relative path resolves against the cwd at lockdown.
    assert rules[tree["base"] + "/cwd/rel"]["source"] == "lockdown.fs.read[3]"
    skipped = {s.get("path"): s for s in ll["skipped"]}
    assert skipped[tree["base"] + "/missing"]["errno"] == 2
    assert skipped[tree["base"] + "/missing"]["source"] == "lockdown.fs.read[2]"
    # The interpreter's own paths, each with its reason.
    sources = {r["source"] for r in ll["rules"]}
    assert "runtime: interpreter sys.prefix" in sources
    assert "runtime: null device" in sources


def test_report_names_where_a_symlinked_policy_path_really_grants(tree: dict[str, str]) -> None:
    """Landlock follows a symlink in a rule's path: the grant lands on the target, and
    the report must say so, not only the name the policy used."""
    require_landlock()
    os.symlink(tree["out"], tree["base"] + "/alias")
    out = child("landlock_report_names_where_a", tree)
    assert out["read_out"] == "ok"
    [rule] = out["rules"]
    assert rule["path"] == tree["base"] + "/alias" and rule["resolved"] == tree["out"]


def test_second_lockdown_raises_guard_error() -> None:
    require_landlock()
    out = child("landlock_second_lockdown_raises_guard", {})
    assert out["raised"] is True and "already ran" in out["msg"]


def test_require_landlock_refuses_a_missing_path_before_applying(tree: dict[str, str]) -> None:
    require_landlock()
    out = child("landlock_require_landlock_refuses_a", tree)
    assert out["raised"] is True
    assert "lockdown.fs.read[1]" in out["msg"] and "nothing was applied" in out["msg"]
    assert out["nnp"] is False and out["read_out"] == "ok"
    assert out["decisions"] == ["deny"]


@pytest.mark.parametrize("mode", ["off", "log"])
def test_require_seccomp_refuses_when_seccomp_is_not_fully_enforced(mode: str) -> None:
    # "log" denies nothing (denied syscalls run and are only logged): not "full".
    out = child_code(f"""
try:
    sg.lockdown(spec={{"seccomp": {mode!r}}}, require=["seccomp"])
    done(raised=False)
except sg.GuardError as e:
    done(raised=True, msg=str(e), nnp=sg._guard.get_no_new_privs())
""", {})
    assert out["raised"] is True and "seccomp" in out["msg"] and out["nnp"] is False


def test_seccomp_failing_after_landlock_is_reported_and_raises_under_require() -> None:
    """The one step that can fail after something is applied: the filter install.
    Landlock stays (it cannot be undone), the report and its audit record say
    seccomp is none and why, and require=["seccomp"] raises naming that state."""
    require_landlock()
    out = child("landlock_seccomp_failing_after_landlock", {})
    assert out["raised"] and "failed while applying" in out["raised"]
    rep = out["report"]
    assert rep["status"] == "partial" and rep["landlock"]["status"] == "full"
    assert rep["seccomp"]["status"] == "none" and "install failed" in rep["seccomp"]["reason"]
    assert out["decisions"] == ["deny"]
    assert out["read_etc"] == "EACCES" and out["nnp"] is True


def test_require_landlock_passes_when_fully_enforced(tree: dict[str, str]) -> None:
    require_landlock()
    out = child("landlock_require_landlock_passes_when", tree)
    assert out == {"status": "full", "read_out": "EACCES"}


def test_parse_spec_rejects_bad_input_with_dotted_keys() -> None:
    out = child("landlock_parse_spec_rejects_bad", {})
    assert out["res"] == {
        "port0": "lockdown.net.connect_tcp[0]", "port_big": "lockdown.net.bind_tcp[1]",
        "port_bool": "lockdown.net.connect_tcp[0]", "port_str": "lockdown.net.connect_tcp[0]",
        "scope": "lockdown.scope[1]", "unknown": "lockdown.fs.exec",
        "unknown_top": "lockdown.paths", "dup": "lockdown.fs.read", "seccomp": "lockdown.seccomp",
        "threads": "lockdown.threads", "require": "lockdown.require[1]",
        "not_list": "lockdown.fs.read", "empty_path": "lockdown.fs.write[0]",
        "template": "lockdown.fs.read[0]"}
    assert out["prefix_expanded"] and out["idempotent"] and out["defaults"] == "refuse"


def test_probe_reports_landlock_seccomp_cgroup_and_egress() -> None:
    out = child("landlock_probe_reports_landlock_seccomp", {})
    p = out["p"]
    assert p["landlock"]["abi"] == ABI and out["cli_abi"] == ABI and out["rc"] == 0
    assert p["landlock"]["available"] == (ABI >= 1)
    if ABI < 1:
        assert p["landlock"]["reason"]
    assert set(p["seccomp"]) >= {"available", "mode", "actions_avail", "filters"}
    assert set(p["cgroup_v2"]) >= {"mount", "cgroup"}
    assert set(p["egress"]) >= {"can_apply", "capabilities", "backends", "reason"}
    assert out["before"] is False
    if ABI >= 1:
        assert out["after_nnp"] is True and out["after_confined"] is True


def test_landlock_errno_meanings_are_distinct() -> None:
    out = child("landlock_landlock_errno_meanings_are", {})
    assert "not built" in out["nosys"] and "disabled" in out["notsup"]
    assert "no_new_privs" in out["perm"] and "16" in out["big"]


def test_best_effort_downgrade_is_reported_for_older_abis() -> None:
    # The table is in tests/c/test_landlock_abi.c; this checks the Python view of it.
    out = child("landlock_best_effort_downgrade_is", {})
    res = {int(k): v for k, v in out["res"].items()}
    assert res[0][0] == [0, 0, 0, 0]
    assert res[1][2] is True and res[1][1][0] & (1 << 13)
    assert res[3][0][1] == 0 and res[4][0][1] == 3
    assert res[5][0][2] == 0 and res[6][0][2] == 3
    assert res[7][0][3] == 0 and res[8][0][3] == 8


def test_describe_landlock_lists_the_rules_a_spec_would_add() -> None:
    out = child("landlock_describe_landlock_lists_the", {})
    text = "\n".join(out["lines"])
    assert "/srv/in  (lockdown.fs.read[0])" in text
    assert "read+write /srv/out  (lockdown.fs.write[0])" in text
    assert "tcp port 443" in text and "bind       no TCP port" in text
    assert "scope      signal" in text
    assert out["nnp"] is False  # describing applies nothing


def test_lockdown_names_are_importable_where_docs_lockdown_md_says() -> None:
    # docs/lockdown.md "Where it lives": the function sg.lockdown is not shadowing a
    # module any more, because there is no module of that name.
    import importlib
    import inspect

    import sdk_guard as sg
    from sdk_guard import landlock, seccomp

    assert inspect.isfunction(sg.lockdown) and inspect.isfunction(sg.probe)
    assert sg.LockdownReport.__module__ == "sdk_guard._lockdown"
    with pytest.raises(ModuleNotFoundError):
        importlib.import_module("sdk_guard.lockdown")
    documented = {"prepare", "LandlockPlan", "explain", "describe_landlock", "describe_ruleset",
                  "errata_names", "FS_READ", "FS_WRITE", "PRELOAD"}
    assert set(landlock.__all__) == documented
    assert all(hasattr(landlock, name) for name in documented)
    # The two layers have one shape: prepare() -> a plan with status, report, apply().
    for plan in (landlock.LandlockPlan, seccomp.SeccompPlan):
        assert callable(plan.apply)
    assert landlock.errata_names(0b101) == ["tcp_socket_identification", "erratum_3"]
    assert landlock.errata_names(None) == []


def test_landlock_plan_enforces_nothing_until_applied_and_applies_once(
        tree: dict[str, str]) -> None:
    # The Landlock layer on its own, the shape of sdk_guard.seccomp: prepare() builds
    # and reports, apply() enforces.
    require_landlock()
    out = child("landlock_landlock_plan_enforces_nothing", tree)
    # full, or partial on a kernel whose ABI lacks a right; either way what applies.
    assert out["status"] in ("full", "partial") and out["report_status"] == "planned"
    assert out["repr"].startswith("<LandlockPlan abi=") and f"status={out['status']}" in out["repr"]
    assert out["before"] == "ok" and out["nnp"] is False
    assert out["after_status"] == out["status"]
    assert out["after_out"] == "EACCES" and out["after_ro"] == "ok"
    assert "already applied" in out["again"]


def test_lockdown_applies_landlock_and_seccomp_and_reports_both(tree: dict[str, str]) -> None:
    require_landlock()
    out = child("landlock_lockdown_applies_landlock_and", tree)
    assert out == {"status": "full", "landlock": "full", "seccomp": "full",
                   "read_out": "EACCES", "write_rw": "ok",
                   "records": [["lockdown", "allow"]]}
