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

from _support.child import run_child_json
from sdk_guard import _guard  # a broken extension fails the whole module, loudly

ABI = int(_guard.landlock_probe()["abi"])

PRELUDE = """
import errno, json, os, sys
import sdk_guard as sg
from sdk_guard import audit
P = json.loads(sys.argv[1])

def attempt(fn, *a, **k):
    try:
        r = fn(*a, **k)
        if hasattr(r, "close"):
            r.close()
        return "ok"
    except OSError as e:
        return errno.errorcode.get(e.errno, str(e.errno))

def done(**out):
    print(json.dumps(out))
"""


def need_abi(n: int, what: str) -> None:
    if ABI < n:
        reason = f"{what} needs Landlock ABI >= {n}; this kernel has ABI {ABI}"
        print(reason)
        pytest.skip(reason)


def child(code: str, params: dict[str, Any], **kw: Any) -> Any:
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


SPEC = """
spec = {"fs": {"read": [P["ro"]], "write": [P["rw"], P["rw2"]]}, "seccomp": "off"}
"""


def require_landlock() -> None:
    need_abi(1, "Landlock")


# ---- files ---------------------------------------------------------------------------

def test_extension_cannot_open_outside_fs_read_with_builtin_open(tree: dict[str, str]) -> None:
    require_landlock()
    out = child(SPEC + """
r = sg.lockdown(spec=spec)
done(status=r.status,
     read_ro=attempt(open, P["ro"] + "/f.txt"),
     read_rw=attempt(open, P["rw"] + "/f.txt"),
     read_out=attempt(open, P["out"] + "/f.txt"),
     write_ro=attempt(open, P["ro"] + "/f.txt", "a"),
     write_rw=attempt(open, P["rw"] + "/f.txt", "a"),
     write_out=attempt(open, P["out"] + "/f.txt", "a"),
     read_etc=attempt(open, "/etc/hostname"))
""", tree)
    assert out == {"status": "full", "read_ro": "ok", "read_rw": "ok", "read_out": "EACCES",
                   "write_ro": "EACCES", "write_rw": "ok", "write_out": "EACCES",
                   "read_etc": "EACCES"}


def test_os_open_with_dir_fd_cannot_escape_the_rules(tree: dict[str, str]) -> None:
    require_landlock()
    out = child(SPEC + """
r = sg.lockdown(spec=spec)
d = os.open(P["rw"], os.O_RDONLY | os.O_DIRECTORY)
res = {
    "inside": attempt(os.open, "f.txt", os.O_RDONLY, dir_fd=d),
    "dotdot": attempt(os.open, "../out/f.txt", os.O_RDONLY, dir_fd=d),
    "dotdot_create": attempt(os.open, "../out/new", os.O_WRONLY | os.O_CREAT, 0o600, dir_fd=d),
    "open_out_dir": attempt(os.open, P["out"], os.O_RDONLY | os.O_DIRECTORY),
}
# O_PATH is not an access, so Landlock lets it through; what it leads to is still checked.
p = os.open(P["out"], os.O_PATH)
res["via_o_path"] = attempt(os.open, "f.txt", os.O_RDONLY, dir_fd=p)
res["via_proc_fd"] = attempt(open, f"/proc/self/fd/{p}/f.txt")
done(**res)
""", tree)
    assert out == {"inside": "ok", "dotdot": "EACCES", "dotdot_create": "EACCES",
                   "open_out_dir": "EACCES", "via_o_path": "EACCES", "via_proc_fd": "EACCES"}


def test_ctypes_calling_libc_open_directly_is_denied_by_the_kernel(tree: dict[str, str]) -> None:
    require_landlock()
    out = child(SPEC + """
import ctypes
libc = ctypes.CDLL(None, use_errno=True)
libc.open.argtypes = [ctypes.c_char_p, ctypes.c_int, ctypes.c_int]
def c_open(path, flags):
    fd = libc.open(path.encode(), flags, 0o600)
    if fd < 0:
        return errno.errorcode[ctypes.get_errno()]
    os.close(fd)
    return "ok"
r = sg.lockdown(spec=spec)
done(read_ro=c_open(P["ro"] + "/f.txt", os.O_RDONLY),
     read_out=c_open(P["out"] + "/f.txt", os.O_RDONLY),
     write_out=c_open(P["out"] + "/f.txt", os.O_WRONLY),
     create_out=c_open(P["out"] + "/new", os.O_WRONLY | os.O_CREAT),
     create_rw=c_open(P["rw"] + "/new", os.O_WRONLY | os.O_CREAT),
     shadow=c_open("/etc/shadow", os.O_RDONLY))
""", tree)
    assert out == {"read_ro": "ok", "read_out": "EACCES", "write_out": "EACCES",
                   "create_out": "EACCES", "create_rw": "ok", "shadow": "EACCES"}


def test_c_library_opening_files_itself_is_confined(tree: dict[str, str]) -> None:
    # sqlite3 opens its database with its own open(2) calls inside C, no Python I/O.
    require_landlock()
    out = child(SPEC + """
import sqlite3
r = sg.lockdown(spec=spec)
def db(path):
    try:
        c = sqlite3.connect(path)
        c.execute("create table if not exists t (x)")
        c.execute("insert into t values (1)")
        c.commit()
        c.close()
        return "ok"
    except sqlite3.OperationalError as e:
        return "denied: " + str(e)
done(inside=db(P["rw"] + "/a.db"), outside=db(P["out"] + "/a.db"),
     outside_exists=os.path.exists(P["out"] + "/a.db"))
""", tree)
    assert out["inside"] == "ok"
    assert out["outside"].startswith("denied")
    assert out["outside_exists"] is False


def test_rename_and_link_across_directories_follow_refer_rules(tree: dict[str, str]) -> None:
    require_landlock()
    for name in ("a", "b", "c"):
        Path(tree["rw"], name).write_text(name)
    out = child(SPEC + """
r = sg.lockdown(spec=spec)
rw, rw2, ro, o = P["rw"], P["rw2"], P["ro"], P["out"]
done(same_dir=attempt(os.rename, rw + "/a", rw + "/a2"),
     rw_to_rw2=attempt(os.rename, rw + "/b", rw2 + "/b"),
     rw_to_out=attempt(os.rename, rw + "/c", o + "/c"),
     ro_to_rw=attempt(os.rename, ro + "/f.txt", rw + "/from_ro"),
     link_ro_to_rw=attempt(os.link, ro + "/f.txt", rw + "/hard"),
     link_out_to_rw=attempt(os.link, o + "/f.txt", rw + "/hard2"),
     link_rw_to_out=attempt(os.link, rw + "/f.txt", o + "/hard3"),
     refer_dropped=[d["right"] for d in r.as_dict()["landlock"]["dropped"]])
""", tree)
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
    out = child(SPEC + """
r = sg.lockdown(spec=spec)
def ftrunc(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        os.ftruncate(fd, 0)
    finally:
        os.close(fd)
done(trunc_rw=attempt(os.truncate, P["rw"] + "/f.txt", 1),
     trunc_ro=attempt(os.truncate, P["ro"] + "/f.txt", 0),
     trunc_out=attempt(os.truncate, P["out"] + "/f.txt", 0),
     o_trunc_ro=attempt(os.open, P["ro"] + "/f.txt", os.O_RDONLY | os.O_TRUNC),
     ftrunc_readonly_fd_rw=attempt(ftrunc, P["rw"] + "/f.txt"),
     ro_size=os.stat(P["ro"] + "/f.txt").st_size)
""", tree)
    assert out == {"trunc_rw": "ok", "trunc_ro": "EACCES", "trunc_out": "EACCES",
                   "o_trunc_ro": "EACCES", "ftrunc_readonly_fd_rw": "EINVAL", "ro_size": 2}


def test_directory_listing_is_denied_outside_the_rules(tree: dict[str, str]) -> None:
    require_landlock()
    out = child(SPEC + """
r = sg.lockdown(spec=spec)
done(list_ro=sorted(os.listdir(P["ro"])),
     list_out=attempt(os.listdir, P["out"]),
     scandir_out=attempt(lambda: list(os.scandir(P["out"]))),
     list_base=attempt(os.listdir, P["base"]),
     list_root=attempt(os.listdir, "/"),
     stat_out=attempt(os.stat, P["out"] + "/f.txt"))
""", tree)
    # stat(2) is not a Landlock access right (kernel documentation lists it as such).
    assert out == {"list_ro": ["f.txt", "link_out"], "list_out": "EACCES",
                   "scandir_out": "EACCES", "list_base": "EACCES", "list_root": "EACCES",
                   "stat_out": "ok"}


def test_creating_files_dirs_and_fifos_only_inside_fs_write(tree: dict[str, str]) -> None:
    require_landlock()
    out = child(SPEC + """
r = sg.lockdown(spec=spec)
done(create_rw=attempt(open, P["rw"] + "/new", "x"),
     create_ro=attempt(open, P["ro"] + "/new", "x"),
     create_out=attempt(open, P["out"] + "/new", "x"),
     mkdir_rw=attempt(os.mkdir, P["rw"] + "/d"),
     mkdir_ro=attempt(os.mkdir, P["ro"] + "/d"),
     fifo_rw=attempt(os.mkfifo, P["rw"] + "/fifo"),
     fifo_out=attempt(os.mkfifo, P["out"] + "/fifo"),
     unlink_ro=attempt(os.unlink, P["ro"] + "/f.txt"),
     rmdir_out=attempt(os.rmdir, P["out"] + "/sub"),
     mknod_chr_rw=attempt(os.mknod, P["rw"] + "/null", 0o600 | 0o020000, os.makedev(1, 3)))
""", tree)
    assert out == {"create_rw": "ok", "create_ro": "EACCES", "create_out": "EACCES",
                   "mkdir_rw": "ok", "mkdir_ro": "EACCES", "fifo_rw": "ok", "fifo_out": "EACCES",
                   "unlink_ro": "EACCES", "rmdir_out": "EACCES", "mknod_chr_rw": "EACCES"}


def test_symlinks_pointing_outside_do_not_escape(tree: dict[str, str]) -> None:
    require_landlock()
    out = child(SPEC + """
r = sg.lockdown(spec=spec)
made = attempt(os.symlink, P["out"] + "/f.txt", P["rw"] + "/new_link")
done(made=made,
     follow_new=attempt(open, P["rw"] + "/new_link"),
     follow_old=attempt(open, P["ro"] + "/link_out"),
     write_through=attempt(open, P["rw"] + "/new_link", "a"),
     symlink_in_ro=attempt(os.symlink, "/", P["ro"] + "/l2"),
     readlink=os.readlink(P["ro"] + "/link_out") == P["out"] + "/f.txt")
""", tree)
    assert out == {"made": "ok", "follow_new": "EACCES", "follow_old": "EACCES",
                   "write_through": "EACCES", "symlink_in_ro": "EACCES", "readlink": True}


def test_locked_down_process_cannot_execute_programs(tree: dict[str, str]) -> None:
    require_landlock()
    out = child(SPEC + """
import subprocess
r = sg.lockdown(spec=spec)
done(python=attempt(subprocess.run, [sys.executable, "-c", "pass"]),
     sh=attempt(subprocess.run, ["/bin/sh", "-c", "true"]))
""", tree)
    assert out == {"python": "EACCES", "sh": "EACCES"}


def test_preopened_descriptors_keep_access_and_are_reported(tree: dict[str, str]) -> None:
    require_landlock()
    out = child(SPEC + """
w = open(P["out"] + "/f.txt", "a")
d = os.open(P["out"], os.O_RDONLY | os.O_DIRECTORY)
r = sg.lockdown(spec=spec)
w.write("still"); w.flush()
warn = {x["target"]: x["access"] for x in r.as_dict()["landlock"]["warnings"] if "target" in x}
done(warned_write=warn.get(P["out"] + "/f.txt"), warned_dir=warn.get(P["out"]),
     listdir_fd=sorted(os.listdir(d)),
     open_under_fd=attempt(os.open, "f.txt", os.O_RDONLY, dir_fd=d))
""", tree)
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
    out = child("""
import socket
la, lb = socket.socket(), socket.socket()
la.bind(("127.0.0.1", 0)); la.listen(); lb.bind(("127.0.0.1", 0)); lb.listen()
pa, pb = la.getsockname()[1], lb.getsockname()[1]
r = sg.lockdown(spec={"net": {"connect_tcp": [pa], "bind_tcp": [P["bind_ok"]]},
                      "seccomp": "off"})
def connect(port, family=socket.AF_INET, host="127.0.0.1"):
    with socket.socket(family) as s:
        s.settimeout(5)
        s.connect((host, port))
def bind(port):
    with socket.socket() as s:
        s.bind(("127.0.0.1", port))
def udp(port):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.sendto(b"x", ("127.0.0.1", port))
done(connect_allowed=attempt(connect, pa), connect_denied=attempt(connect, pb),
     bind_allowed=attempt(bind, P["bind_ok"]), bind_denied=attempt(bind, P["bind_no"]),
     udp_unrestricted=attempt(udp, pb),
     rules=sorted((x["port"], x["access"][0]) for x in r.as_dict()["landlock"]["rules"]
                  if x["type"] == "port"), pa=pa,
     mptcp_warned=any(w.get("target") == "net.mptcp" for w in r.landlock["warnings"]))
""", {"bind_ok": bind_ok, "bind_no": bind_no})
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
    out = child("""
import socket
try:
    l = socket.socket(socket.AF_INET6); l.bind(("::1", 0)); l.listen()
except OSError as e:
    done(skip=str(e)); raise SystemExit
port = l.getsockname()[1]
sg.lockdown(spec={"seccomp": "off"})
def connect():
    with socket.socket(socket.AF_INET6) as s:
        s.settimeout(5); s.connect(("::1", port))
done(connect=attempt(connect))
""", {})
    if "skip" in out:
        print("IPv6 loopback unavailable:", out["skip"])
        pytest.skip(f"IPv6 loopback unavailable: {out['skip']}")
    assert out == {"connect": "EACCES"}


def test_abstract_unix_socket_outside_the_domain_is_unreachable() -> None:
    need_abi(6, "LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET")
    out = child("""
import socket
outer = socket.socket(socket.AF_UNIX); outer.bind(b"\\0sdk_guard_test_outer_%d" % os.getpid()); outer.listen()
r = sg.lockdown(spec={"scope": ["abstract_unix_socket"], "seccomp": "off"})
inner = socket.socket(socket.AF_UNIX); inner.bind(b"\\0sdk_guard_test_inner_%d" % os.getpid()); inner.listen()
def connect(name):
    with socket.socket(socket.AF_UNIX) as s:
        s.connect(name)
done(outer=attempt(connect, outer.getsockname()), inner=attempt(connect, inner.getsockname()),
     scopes=r.as_dict()["landlock"]["scopes"])
""", {})
    assert out == {"outer": "EPERM", "inner": "ok", "scopes": ["abstract_unix_socket"]}


def test_signals_to_processes_outside_the_domain_are_denied() -> None:
    need_abi(6, "LANDLOCK_SCOPE_SIGNAL")
    out = child("""
import signal, subprocess, time
# Exits when this child does (stdin EOF), so nothing outlives the test.
outside = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"],
                           stdin=subprocess.PIPE)
r = sg.lockdown(spec={"scope": ["signal"], "seccomp": "off"})
res = {"to_outside": attempt(os.kill, outside.pid, signal.SIGTERM),
       "to_parent": attempt(os.kill, os.getppid(), 0),
       "to_self": attempt(os.kill, os.getpid(), 0)}
pid = os.fork()
if pid == 0:
    time.sleep(30); os._exit(0)
res["to_own_child"] = attempt(os.kill, pid, signal.SIGKILL)
os.waitpid(pid, 0)
res["outside_alive"] = outside.poll() is None
done(**res)
""", {})
    assert out == {"to_outside": "EPERM", "to_parent": "EPERM", "to_self": "ok",
                   "to_own_child": "ok", "outside_alive": True}


# ---- threads -----------------------------------------------------------------------

def test_lockdown_refuses_with_a_live_thread_and_applies_nothing(tree: dict[str, str]) -> None:
    require_landlock()
    if ABI >= 8:
        pytest.skip("this kernel has TSYNC (ABI >= 8): live threads are confined, not refused")
    out = child(SPEC + """
import threading
stop = threading.Event()
t = threading.Thread(target=stop.wait, name="plugin-worker"); t.start()
try:
    sg.lockdown(spec=spec)
    res = {"raised": False}
except sg.GuardError as e:
    res = {"raised": True, "msg": str(e)}
stop.set(); t.join()
res["nnp"] = sg._guard.get_no_new_privs()
res["read_out"] = attempt(open, P["out"] + "/f.txt")
# Nothing was applied, so a later lockdown (now single-threaded) succeeds.
res["retry"] = sg.lockdown(spec=spec).status
res["read_out_after"] = attempt(open, P["out"] + "/f.txt")
done(**res)
""", tree)
    assert out["raised"] is True
    assert "plugin-worker" in out["msg"] and "thread_local" in out["msg"]
    assert out["nnp"] is False and out["read_out"] == "ok"
    assert out["retry"] == "full" and out["read_out_after"] == "EACCES"


def test_thread_local_mode_confines_only_the_calling_thread(tree: dict[str, str]) -> None:
    require_landlock()
    if ABI >= 8:
        pytest.skip("this kernel has TSYNC (ABI >= 8): thread_local never applies")
    out = child(SPEC + """
import threading, queue
jobs, results = queue.Queue(), queue.Queue()
def worker():
    while (job := jobs.get()) is not None:
        results.put(attempt(open, job))
t = threading.Thread(target=worker); t.start()
spec["threads"] = "thread_local"
r = sg.lockdown(spec=spec)
jobs.put(P["out"] + "/f.txt"); old_thread = results.get(); jobs.put(None); t.join()
box = []
n = threading.Thread(target=lambda: box.append(attempt(open, P["out"] + "/f.txt"))); n.start(); n.join()
th = r.as_dict()["landlock"]["threads"]
done(status=r.status, mode=th["mode"], unconfined=len(th["unconfined"]), old_thread=old_thread,
     main=attempt(open, P["out"] + "/f.txt"), new_thread=box[0])
""", tree)
    assert out == {"status": "partial", "mode": "thread_local", "unconfined": 1,
                   "old_thread": "ok", "main": "EACCES", "new_thread": "EACCES"}


def test_tsync_confines_threads_that_already_exist(tree: dict[str, str]) -> None:
    need_abi(8, "LANDLOCK_RESTRICT_SELF_TSYNC")
    out = child(SPEC + """
import threading, queue
jobs, results = queue.Queue(), queue.Queue()
def worker():
    while (job := jobs.get()) is not None:
        results.put(attempt(open, job))
t = threading.Thread(target=worker); t.start()
r = sg.lockdown(spec=spec)
jobs.put(P["out"] + "/f.txt"); res = results.get(); jobs.put(None); t.join()
done(status=r.status, mode=r.as_dict()["landlock"]["threads"]["mode"], old_thread=res)
""", tree)
    assert out == {"status": "full", "mode": "tsync", "old_thread": "EACCES"}


def test_audit_writer_thread_does_not_block_lockdown(tree: dict[str, str]) -> None:
    require_landlock()
    out = child(SPEC + """
import threading
sink = audit.add_sink(audit.MemorySink())
before = threading.active_count()
r = sg.lockdown(spec=spec)
recs = [x for x in audit.records() if x["layer"] == "landlock"]
done(before=before, status=r.status, mode=r.as_dict()["landlock"]["threads"]["mode"],
     records=len(recs), decision=recs[0]["decision"], capability=recs[0]["capability"],
     report_status=recs[0]["report"]["status"])
""", tree)
    assert out == {"before": 2, "status": "full", "mode": "single", "records": 1,
                   "decision": "allow", "capability": "lockdown", "report_status": "full"}


# ---- the locked-down interpreter keeps working -----------------------------------------

def test_locked_down_python_runs_stdlib_workloads_and_writes_its_audit_log(
        tree: dict[str, str]) -> None:
    require_landlock()
    out = child(SPEC + """
log = P["rw"] + "/audit.jsonl"
audit.add_sink(audit.JsonlSink(log))
r = sg.lockdown(spec=spec)
import json, re, decimal, fractions, statistics, csv, io, datetime, zoneinfo, hashlib, base64
import collections, itertools, textwrap, string, difflib, uuid, random, struct, zlib, gzip
decimal.getcontext().prec = 30
work = {
    "json": json.loads(json.dumps({"a": [1, 2.5, None, "é"]})) == {"a": [1, 2.5, None, "é"]},
    "re": re.findall(r"(\\w+)@(\\w+)", "a@b c@d") == [("a", "b"), ("c", "d")],
    "decimal": str(decimal.Decimal(1) / decimal.Decimal(7))[:10] == "0.14285714",
    "fractions": fractions.Fraction(1, 3) * 3 == 1,
    "statistics": statistics.median([3, 1, 2]) == 2,
    "csv": next(csv.reader(io.StringIO("a,b\\n"))) == ["a", "b"],
    "zoneinfo": datetime.datetime(
        2026, 1, 1, tzinfo=zoneinfo.ZoneInfo("Europe/Paris")).utcoffset().seconds == 3600,
    "hash": hashlib.sha256(b"x").hexdigest()[:4] == "2d71",
    "gzip": gzip.decompress(gzip.compress(b"abc")) == b"abc",
    "uuid": len(str(uuid.uuid4())) == 36,
    "strptime": datetime.datetime.strptime("2026-11-28", "%Y-%m-%d").day == 28,
    "encode_idna": "bücher.example".encode("idna") == b"xn--bcher-kva.example",
}
audit.flush()
with open(log) as f:
    lines = [json.loads(l) for l in f if l.strip()]
done(status=r.status, work=work,
     logged=[(l["layer"], l["capability"], l["decision"]) for l in lines])
""", tree)
    assert out["status"] == "full"
    assert all(out["work"].values()), out["work"]
    assert ["landlock", "lockdown", "allow"] in out["logged"]


# ---- the report and the contract -------------------------------------------------------

def test_report_says_exactly_what_was_enforced(tree: dict[str, str]) -> None:
    require_landlock()
    out = child(SPEC + """
spec["fs"]["read"] += [P["out"] + "/f.txt", P["base"] + "/missing", "rel"]
os.makedirs(P["base"] + "/cwd/rel"); os.chdir(P["base"] + "/cwd")
r = sg.lockdown(spec=spec)
d = r.as_dict()
json.dumps(d)
done(d=d)
""", tree)
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
    out = child("""
r = sg.lockdown(spec={"fs": {"read": [P["base"] + "/alias"]}, "seccomp": "off"})
rules = [x for x in r.landlock["rules"] if x["source"] == "lockdown.fs.read[0]"]
done(rules=rules, read_out=attempt(open, P["out"] + "/f.txt"))
""", tree)
    assert out["read_out"] == "ok"
    [rule] = out["rules"]
    assert rule["path"] == tree["base"] + "/alias" and rule["resolved"] == tree["out"]


def test_second_lockdown_raises_guard_error() -> None:
    require_landlock()
    out = child("""
r = sg.lockdown(spec={"seccomp": "off"})
try:
    sg.lockdown(spec={"seccomp": "off"})
    done(raised=False)
except sg.GuardError as e:
    done(raised=True, msg=str(e))
""", {})
    assert out["raised"] is True and "already ran" in out["msg"]


def test_require_landlock_refuses_a_missing_path_before_applying(tree: dict[str, str]) -> None:
    require_landlock()
    out = child(SPEC + """
spec["fs"]["read"].append(P["base"] + "/missing")
sink = audit.add_sink(audit.MemorySink())
try:
    sg.lockdown(spec=spec, require=["landlock"])
    res = {"raised": False}
except sg.GuardError as e:
    res = {"raised": True, "msg": str(e)}
res["nnp"] = sg._guard.get_no_new_privs()
res["read_out"] = attempt(open, P["out"] + "/f.txt")
res["decisions"] = [x["decision"] for x in audit.records() if x["layer"] == "landlock"]
done(**res)
""", tree)
    assert out["raised"] is True
    assert "lockdown.fs.read[1]" in out["msg"] and "nothing was applied" in out["msg"]
    assert out["nnp"] is False and out["read_out"] == "ok"
    assert out["decisions"] == ["deny"]


@pytest.mark.parametrize("mode", ["off", "log"])
def test_require_seccomp_refuses_when_seccomp_is_not_fully_enforced(mode: str) -> None:
    # "log" denies nothing (denied syscalls run and are only logged): not "full".
    out = child(f"""
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
    out = child("""
from sdk_guard import _guard, seccomp
class Refusing:
    # The plan's program, with an install() the kernel refuses.
    def install(self, flags):
        raise OSError(errno.EINVAL, "refused for the test")
plan_init = seccomp.SeccompPlan.__init__
def refusing_plan(self, mode):
    plan_init(self, mode)
    assert self._program is not None, self.report
    self._program = Refusing()
seccomp.SeccompPlan.__init__ = refusing_plan
try:
    sg.lockdown(spec={"seccomp": "errno"}, require=["seccomp"])
    raised = None
except sg.GuardError as e:
    raised = str(e)
lock = [r for r in _guard.take_undelivered() if r.get("capability") == "lockdown"]
done(raised=raised, decisions=[r["decision"] for r in lock], report=lock[-1]["report"],
     read_etc=attempt(open, "/etc/hostname"), nnp=_guard.get_no_new_privs())
""", {})
    assert out["raised"] and "failed while applying" in out["raised"]
    rep = out["report"]
    assert rep["status"] == "partial" and rep["landlock"]["status"] == "full"
    assert rep["seccomp"]["status"] == "none" and "install failed" in rep["seccomp"]["reason"]
    assert out["decisions"] == ["deny"]
    assert out["read_etc"] == "EACCES" and out["nnp"] is True


def test_require_landlock_passes_when_fully_enforced(tree: dict[str, str]) -> None:
    require_landlock()
    out = child(SPEC + """
r = sg.lockdown(spec=spec, require=["landlock"])
done(status=r.landlock["status"], read_out=attempt(open, P["out"] + "/f.txt"))
""", tree)
    assert out == {"status": "full", "read_out": "EACCES"}


def test_parse_spec_rejects_bad_input_with_dotted_keys() -> None:
    out = child("""
from sdk_guard._lockdown_spec import parse_spec
from sdk_guard.errors import PolicyError
ident = lambda v, k: v
cases = {
    "port0": {"net": {"connect_tcp": [0]}},
    "port_big": {"net.bind_tcp": [80, 65536]},
    "port_bool": {"net": {"connect_tcp": [True]}},
    "port_str": {"net.connect_tcp": ["443"]},
    "scope": {"scope": ["signal", "ptrace"]},
    "unknown": {"fs": {"exec": ["/"]}},
    "unknown_top": {"paths": []},
    "dup": {"fs": {"read": ["/a"]}, "fs.read": ["/b"]},
    "seccomp": {"seccomp": "deny"},
    "threads": {"threads": "all"},
    "require": {"require": ["landlock", "selinux"]},
    "not_list": {"fs.read": "/usr"},
    "empty_path": {"fs": {"write": [""]}},
    "template": {"fs.read": ["{data}/x"]},
}
res = {}
for name, sec in cases.items():
    try:
        parse_spec(sec) if name == "template" else parse_spec(sec, ident)
        res[name] = None
    except PolicyError as e:
        res[name] = e.key
ok = parse_spec({"fs": {"read": ["{prefix}"]}, "net.connect_tcp": [443], "scope": []})
again = parse_spec(ok, ident)
done(res=res, prefix_expanded=ok["fs.read"] == [sys.prefix], idempotent=again == ok,
     defaults=parse_spec(None)["threads"])
""", {})
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
    out = child("""
import argparse, io, contextlib
from sdk_guard._cli import probe as cli_probe
p = sg.probe()
parser = argparse.ArgumentParser(); sub = parser.add_subparsers(dest="cmd"); cli_probe.register(sub)
args = parser.parse_args(["probe", "--compact"])
buf = io.StringIO()
with contextlib.redirect_stdout(buf):
    rc = args.func(args)
cli = json.loads(buf.getvalue())
before = p["no_new_privs"]
if p["landlock"]["available"]:
    sg.lockdown(spec={"seccomp": "off"})
after = sg.probe()
done(p=p, rc=rc, cli_abi=cli["landlock"]["abi"], before=before, after_nnp=after["no_new_privs"],
     after_confined=after["landlock"]["confined_by_sdk_guard"])
""", {})
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
    out = child("""
import errno
e = sg._guard.landlock_explain
done(nosys=e("probe", errno.ENOSYS), notsup=e("probe", errno.EOPNOTSUPP),
     perm=e("restrict", errno.EPERM), big=e("restrict", errno.E2BIG))
""", {})
    assert "not built" in out["nosys"] and "disabled" in out["notsup"]
    assert "no_new_privs" in out["perm"] and "16" in out["big"]


def test_best_effort_downgrade_is_reported_for_older_abis() -> None:
    # The table is in tests/c/test_landlock_abi.c; this checks the Python view of it.
    out = child("""
from sdk_guard.landlock import _FS_ALL, _NET_ALL
res = {}
for abi in range(0, 9):
    c = sg._guard.landlock_compat(abi, _FS_ALL, _NET_ALL, 3, 8)
    res[abi] = [c["handled"], c["dropped"], c["refer_always_denied"]]
done(res=res)
""", {})
    res = {int(k): v for k, v in out["res"].items()}
    assert res[0][0] == [0, 0, 0, 0]
    assert res[1][2] is True and res[1][1][0] & (1 << 13)
    assert res[3][0][1] == 0 and res[4][0][1] == 3
    assert res[5][0][2] == 0 and res[6][0][2] == 3
    assert res[7][0][3] == 0 and res[8][0][3] == 8


def test_describe_landlock_lists_the_rules_a_spec_would_add() -> None:
    out = child("""
from sdk_guard.landlock import describe_landlock
lines = describe_landlock({"fs": {"read": ["/srv/in"], "write": ["/srv/out"]},
                           "net.connect_tcp": [443], "scope": ["signal"]}, lambda v, k: v)
done(lines=lines, nnp=sg._guard.get_no_new_privs())
""", {})
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
    out = child("""
from sdk_guard import landlock
from sdk_guard._lockdown_spec import parse_spec
plan = landlock.prepare(parse_spec({"fs": {"read": [P["ro"]]}, "tmp": "none"}))
res = {"status": plan.status, "report_status": plan.report["status"],
       "repr": repr(plan), "before": attempt(open, P["out"] + "/f.txt"),
       "nnp": sg._guard.get_no_new_privs()}
sg._guard.set_no_new_privs()
plan.apply()
res["after_status"] = plan.report["status"]
res["after_out"] = attempt(open, P["out"] + "/f.txt")
res["after_ro"] = attempt(open, P["ro"] + "/f.txt")
try:
    plan.apply()
except sg.GuardError as e:
    res["again"] = str(e)
done(**res)
""", tree)
    # full, or partial on a kernel whose ABI lacks a right; either way what applies.
    assert out["status"] in ("full", "partial") and out["report_status"] == "planned"
    assert out["repr"].startswith("<LandlockPlan abi=") and f"status={out['status']}" in out["repr"]
    assert out["before"] == "ok" and out["nnp"] is False
    assert out["after_status"] == out["status"]
    assert out["after_out"] == "EACCES" and out["after_ro"] == "ok"
    assert "already applied" in out["again"]


def test_lockdown_applies_landlock_and_seccomp_and_reports_both(tree: dict[str, str]) -> None:
    require_landlock()
    out = child("""
spec = {"fs": {"read": [P["ro"]], "write": [P["rw"]]}, "seccomp": "errno"}
sink = audit.add_sink(audit.MemorySink())
r = sg.lockdown(spec=spec, require=["landlock", "seccomp"])
d = r.as_dict()
done(status=r.status, landlock=d["landlock"]["status"], seccomp=d["seccomp"]["status"],
     read_out=attempt(open, P["out"] + "/f.txt"), write_rw=attempt(open, P["rw"] + "/x", "w"),
     records=[(x["capability"], x["decision"]) for x in audit.records() if x["layer"] == "landlock"])
""", tree)
    assert out == {"status": "full", "landlock": "full", "seccomp": "full",
                   "read_out": "EACCES", "write_rw": "ok",
                   "records": [["lockdown", "allow"]]}
