"""lockdown() that real workers survive: lock down first, then run ordinary code.

What is granted automatically (shared-library directories, DNS configuration, the
process's own /proc entry, CPU topology, a private temporary directory, the code of
application directories) and what stays denied, each shown in a fresh child
interpreter on the running kernel (a Landlock domain cannot be undone).
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from _support.child import ROOT, child_env, run_child, run_child_json
from sdk_guard import _guard  # a broken extension fails the whole module, loudly

ABI = int(_guard.landlock_probe()["abi"])

PRELUDE = """
import errno, json, os, sys
import sdk_guard as sg
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


def require_landlock() -> None:
    if ABI < 1:
        reason = f"Landlock is unavailable: {_guard.landlock_probe()['reason']}"
        print(reason)
        pytest.skip(reason)


def child(code: str, params: dict[str, Any], **kw: Any) -> Any:
    return run_child_json(PRELUDE + code, args=[json.dumps(params)], **kw)


def run_script(script: Path, params: dict[str, Any], cwd: Path,
               env: dict[str, str] | None = None) -> Any:
    """Runs SCRIPT as `python SCRIPT` (sys.path[0] is its directory), from CWD."""
    proc = subprocess.run([sys.executable, str(script), json.dumps(params)], cwd=cwd,
                          env=child_env(env), capture_output=True, text=True, timeout=120, check=False)
    if proc.returncode != 0:
        raise AssertionError(f"script exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


# ---- ordinary work after lockdown --------------------------------------------------------

def test_worker_that_locks_down_first_runs_ordinary_stdlib_code(tmp_path: Path) -> None:
    require_landlock()
    data = tmp_path / "data"
    data.mkdir()
    out = child("""
import socket, threading
lazy = ["ssl", "sqlite3", "ctypes", "uuid", "zoneinfo"]
before = {m: m in sys.modules for m in lazy}
srv = socket.socket(); srv.bind(("127.0.0.1", 0)); srv.listen()
port = srv.getsockname()[1]
r = sg.lockdown(spec={"fs": {"write": [P["data"]]}, "net": {"connect_tcp": [port]},
                      "seccomp": "errno"}, require=["landlock", "seccomp"])
res = {"status": r.status, "before": before}
import ssl
res["ssl"] = ssl.create_default_context().verify_mode == ssl.CERT_REQUIRED
import sqlite3
res["sqlite3"] = sqlite3.connect(":memory:").execute("select 6 * 7").fetchone()[0]
import ctypes
res["ctypes"] = ctypes.CDLL(None).getpid() == os.getpid()
import uuid
res["uuid"] = len(str(uuid.uuid4())) == 36
import zoneinfo, datetime
res["zoneinfo"] = datetime.datetime(2026, 7, 1, tzinfo=zoneinfo.ZoneInfo("Europe/Paris")).utcoffset().seconds
res["resolve"] = sorted({a[4][0] for a in socket.getaddrinfo("localhost", port, socket.AF_INET)})
with socket.create_connection(("localhost", port), timeout=5) as c:
    conn, _ = srv.accept(); c.sendall(b"hi"); res["connect_by_name"] = conn.recv(2).decode(); conn.close()
with open("/proc/self/status") as f:
    res["proc_status"] = any(l.startswith("Pid:\\t%d" % os.getpid()) for l in f)
with open("/sys/devices/system/cpu/online") as f:
    res["cpu_count"] = os.cpu_count() is not None and f.read().strip()[:1].isdigit()
import tempfile
with tempfile.TemporaryFile() as f:
    f.write(b"x"); f.seek(0); res["tempfile"] = f.read().decode()
d = tempfile.mkdtemp()
with open(os.path.join(d, "a"), "w") as f:
    f.write("a")
with tempfile.NamedTemporaryFile(dir=d) as f:
    res["named"] = os.path.dirname(f.name) == d
res["tmpdir"] = os.path.dirname(d) == os.environ["TMPDIR"] == r.landlock["tmp"]["path"]
box = []
ts = [threading.Thread(target=lambda i=i: box.append(i * i)) for i in range(4)]
[t.start() for t in ts]; [t.join() for t in ts]
res["threads"] = sorted(box)
with open(os.path.join(P["data"], "out.txt"), "w") as f:
    f.write("written")
res["sources"] = sorted({x["source"].split(":")[1].strip().split(" ")[0] for x in r.landlock["rules"]
                         if x["source"].startswith("runtime:")})
done(**res)
""", {"data": str(data)})
    assert out["status"] == "full"
    assert not any(out["before"].values()), out["before"]  # really imported after lockdown
    assert out["ssl"] is True and out["sqlite3"] == 42 and out["ctypes"] is True
    assert out["uuid"] is True and out["zoneinfo"] == 7200
    assert out["resolve"] == ["127.0.0.1"] and out["connect_by_name"] == "hi"
    assert out["proc_status"] is True and out["cpu_count"] is True
    assert out["tempfile"] == "x" and out["named"] is True and out["tmpdir"] is True
    assert out["threads"] == [0, 1, 4, 9]
    assert (data / "out.txt").read_text() == "written"
    # Every automatic grant names its reason.
    assert {"shared", "name", "this", "CPU", "dynamic"} <= set(out["sources"]), out["sources"]


def test_report_lists_each_runtime_grant_with_its_reason() -> None:
    require_landlock()
    out = child("""
r = sg.lockdown(spec={"net.connect_tcp": [443], "seccomp": "off"})
rules = [x for x in r.landlock["rules"] if x["type"] == "path"]
done(rules=rules, pid=os.getpid(), tmp=r.landlock["tmp"], runtime=r.landlock["runtime"])
""", {})
    by_path = {r.get("resolved", r["path"]): r for r in out["rules"]}
    libdirs = [r for r in out["rules"] if "extension modules link" in r["source"]]
    assert libdirs, out["rules"]
    for r in libdirs:
        # Only library directories: never /usr, /usr/lib itself is the widest allowed.
        real = r.get("resolved", r["path"])
        assert real.startswith(("/lib", "/usr/lib", "/usr/local/lib")) and real != "/usr", real
        assert r["access"] == ["fs.read_file", "fs.read_dir"]
    # _ssl links libssl: its directory is granted for that reason.
    assert "libssl.so" in " ".join(r["source"] for r in libdirs)
    proc = by_path[f"/proc/{out['pid']}"]
    assert proc["access"] == ["fs.read_file", "fs.read_dir"] and "own /proc" in proc["source"]
    assert "/etc/hosts" in by_path and "/etc/nsswitch.conf" in by_path
    assert by_path["/sys/devices/system/cpu"]["access"] == ["fs.read_file", "fs.read_dir"]
    tmp = by_path[out["tmp"]["path"]]
    assert "fs.write_file" in tmp["access"] and tmp["source"].startswith("lockdown.tmp")
    assert out["runtime"] == "auto"
    # Nothing automatic grants writing except the private temporary directory and /dev/null.
    writable = {p for p, r in by_path.items() if "fs.write_file" in r["access"]}
    assert writable == {out["tmp"]["path"], "/dev/null"}


def test_dns_files_are_granted_only_when_the_policy_allows_network() -> None:
    require_landlock()
    out = child("""
import socket
r = sg.lockdown(spec={"seccomp": "off"})
dns = [x["path"] for x in r.landlock["rules"] if "name resolution" in x["source"]]
try:
    socket.getaddrinfo("localhost", 80)
    resolved = "ok"
except socket.gaierror as e:
    resolved = "failed"
done(dns=dns, hosts=attempt(open, "/etc/hosts"), resolved=resolved)
""", {})
    assert out == {"dns": [], "hosts": "EACCES", "resolved": "failed"}


# ---- what stays denied -------------------------------------------------------------------

APP = """
import errno, json, os, sys
sys.path.insert(1, {pkgpath!r})
import sdk_guard as sg
P = json.loads(sys.argv[1])
def attempt(fn, *a, **k):
    try:
        r = fn(*a, **k)
        if hasattr(r, "close"):
            r.close()
        return "ok"
    except OSError as e:
        return errno.errorcode.get(e.errno, str(e.errno))
r = sg.lockdown(spec={{"seccomp": "errno"}}, require=["landlock"])
res = {{"status": r.status}}
import helper, mypkg.sub
res["helper"] = helper.VALUE
res["pkg"] = mypkg.sub.VALUE
res["pkg_data"] = attempt(open, os.path.join(os.path.dirname(mypkg.__file__), "data.json"))
res["secret_script_dir"] = attempt(open, os.path.join(os.path.dirname(__file__), ".env"))
res["secret_cwd"] = attempt(open, ".env")
res["secret_cwd_abs"] = attempt(open, os.path.join(os.getcwd(), "key.pem"))
res["shadow"] = attempt(open, "/etc/shadow")
res["list_root"] = attempt(os.listdir, "/")
res["list_slash_root"] = attempt(os.listdir, "/root")
res["proc_self"] = attempt(open, "/proc/self/status")
res["proc_other"] = attempt(open, "/proc/%d/status" % os.getppid())
res["proc_1"] = attempt(open, "/proc/1/environ")
res["proc_self_mem_write"] = attempt(open, "/proc/self/mem", "wb")
res["proc_self_root"] = attempt(open, "/proc/self/root/etc/shadow")
import threading
box = []
t = threading.Thread(target=lambda: box.append(attempt(open, "/proc/thread-self/status")))
t.start(); t.join()
res["proc_thread_self"] = box[0]
rfd, wfd = os.pipe()
pid = os.fork()
if pid == 0:
    os.write(wfd, attempt(open, "/proc/self/status").encode()); os._exit(0)
os.waitpid(pid, 0)
res["forked_child_proc_self"] = os.read(rfd, 64).decode()
res["warned"] = [w["why"] for w in r.landlock["warnings"] if w.get("target") == os.getcwd()]
print(json.dumps(res))
"""


def _app_tree(base: Path) -> tuple[Path, Path]:
    app, cwd = base / "app", base / "work"
    (app / "mypkg").mkdir(parents=True)
    cwd.mkdir()
    (app / "main.py").write_text(APP.format(pkgpath=str(ROOT / "python")))
    (app / "helper.py").write_text("VALUE = 'helper'\n")
    (app / "mypkg" / "__init__.py").write_text("")
    (app / "mypkg" / "sub.py").write_text("VALUE = 'sub'\n")
    (app / "mypkg" / "data.json").write_text("{}")
    (app / ".env").write_text("API_KEY=secret\n")
    (cwd / ".env").write_text("DB_PASSWORD=secret\n")
    (cwd / "key.pem").write_text("-----BEGIN PRIVATE KEY-----\n")
    return app, cwd


def test_secrets_beside_the_script_and_in_the_cwd_stay_unreadable(tmp_path: Path) -> None:
    require_landlock()
    app, cwd = _app_tree(tmp_path)
    out = run_script(app / "main.py", {}, cwd)
    assert out["status"] == "full"
    # What import needs from the script's directory is granted ...
    assert out["helper"] == "helper" and out["pkg"] == "sub" and out["pkg_data"] == "ok"
    # ... and nothing else there, nor in the current directory (not on sys.path).
    assert out["secret_script_dir"] == "EACCES"
    assert out["secret_cwd"] == "EACCES" and out["secret_cwd_abs"] == "EACCES"
    assert out["shadow"] == "EACCES" and out["list_root"] == "EACCES"
    assert out["list_slash_root"] == "EACCES"
    # /proc: the process's own entry read-only, nothing else.
    assert out["proc_self"] == "ok" and out["proc_thread_self"] == "ok"
    assert out["proc_other"] == "EACCES" and out["proc_1"] == "EACCES"
    assert out["proc_self_mem_write"] == "EACCES" and out["proc_self_root"] == "EACCES"
    # A forked child has another pid: its own /proc entry is not granted (documented).
    assert out["forked_child_proc_self"] == "EACCES"


def test_secret_in_the_cwd_of_a_dash_c_worker_stays_unreadable(tmp_path: Path) -> None:
    """With -c (and -m, the REPL) sys.path[0] is the current directory: its code is
    importable after lockdown, its other files are not."""
    require_landlock()
    _, cwd = _app_tree(tmp_path)
    (cwd / "localmod.py").write_text("VALUE = 'local'\n")
    out = child("""
r = sg.lockdown(spec={"seccomp": "off"})
import localmod
warn = [w["why"] for w in r.landlock["warnings"] if w.get("target") == os.getcwd()]
done(localmod=localmod.VALUE, env=attempt(open, ".env"), pem=attempt(open, "key.pem"),
     listing=sorted(os.listdir(".")), warn=warn)
""", {}, cwd=cwd)
    assert out["localmod"] == "local"
    assert out["env"] == "EACCES" and out["pem"] == "EACCES"
    # Listing is granted (the import system needs it): names, never contents.
    assert out["listing"] == [".env", "key.pem", "localmod.py"]
    assert out["warn"] and ".env" in out["warn"][0] and "key.pem" in out["warn"][0]


def test_runtime_minimal_grants_no_application_directory_and_says_what_to_add(
        tmp_path: Path) -> None:
    require_landlock()
    _, cwd = _app_tree(tmp_path)
    (cwd / "localmod.py").write_text("VALUE = 'local'\n")
    out = child("""
r = sg.lockdown(spec={"runtime": "minimal", "seccomp": "off"})
try:
    import localmod
    imp, notes = "ok", []
except (ImportError, OSError) as e:
    # ModuleNotFoundError when the directory could not be listed; PermissionError when
    # the import system had listed it before lockdown and then cannot read the file.
    imp, notes = "failed", getattr(e, "__notes__", [])
warn = [w["why"] for w in r.landlock["warnings"] if w.get("target") == os.getcwd()]
srcs = [x["source"] for x in r.landlock["rules"]]
done(imp=imp, notes=notes, warn=warn, proc=any("own /proc" in s for s in srcs),
     libs=any("extension modules link" in s for s in srcs), runtime=r.landlock["runtime"])
""", {}, cwd=cwd)
    assert out["imp"] == "failed"
    assert out["notes"] and str(cwd / "localmod.py") in out["notes"][0]
    assert "[lockdown] fs.read" in out["notes"][0] and 'runtime = "auto"' in out["notes"][0]
    assert out["warn"] and f'"{cwd}"' in out["warn"][0] and "fs.read" in out["warn"][0]
    assert out["proc"] is False and out["libs"] is True and out["runtime"] == "minimal"


def test_import_error_note_names_the_shared_library_that_was_not_granted() -> None:
    require_landlock()
    out = child("""
import sysconfig
# runtime = "none": only what the policy names.  The stdlib and sdk_guard are named,
# the shared-library directories are not.
import ctypes  # loaded before lockdown; libsqlite3 is not
from sdk_guard import landlock
r = sg.lockdown(spec={"runtime": "none", "tmp": "none", "seccomp": "off",
                      "fs": {"read": [sys.prefix, sys.base_prefix, os.path.dirname(sg.__path__[0])]}})
res = {"rules": sorted({x["source"].split(":")[0] for x in r.landlock["rules"]})}
try:
    import ssl
    res["ssl"] = "ok"
except ImportError as e:
    res["ssl"] = str(e); res["notes"] = getattr(e, "__notes__", [])
import ctypes
try:
    ctypes.CDLL("libsqlite3.so.0")
    res["ctypes_note"] = "loaded"
except OSError as e:
    res["ctypes_note"] = " ".join(landlock.explain(e).__notes__)
done(**res)
""", {})
    assert out["rules"] == ["lockdown.fs.read[0]", "lockdown.fs.read[1]", "lockdown.fs.read[2]"] \
        or out["rules"] == ["lockdown.fs.read[0]", "lockdown.fs.read[2]"]
    assert "cannot open shared object file" in out["ssl"]
    [note] = out["notes"]
    assert "libssl.so" in note and "not readable after lockdown()" in note
    assert "[lockdown] fs.read" in note and 'runtime = "minimal"' in note
    assert "/lib" in note  # the directory to add
    # ctypes loading a library by soname: explain() adds the same note to its OSError.
    assert "libsqlite3.so.0" in out["ctypes_note"] and "[lockdown] fs.read" in out["ctypes_note"]


def test_explain_adds_the_missing_grant_to_an_oserror(tmp_path: Path) -> None:
    require_landlock()
    (tmp_path / "secret.txt").write_text("s")
    out = child("""
sg.lockdown(spec={"seccomp": "off"})
from sdk_guard.landlock import explain
try:
    open(P["f"])
except PermissionError as e:
    done(notes=explain(e).__notes__)
""", {"f": str(tmp_path / "secret.txt")})
    [note] = out["notes"]
    assert str(tmp_path / "secret.txt") in note and f'add "{tmp_path}" to [lockdown] fs.read' in note


# ---- private temporary directory ----------------------------------------------------------

def _gone(path: str, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while os.path.exists(path):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def test_private_tmp_is_0700_writable_and_removed_at_exit() -> None:
    require_landlock()
    out = child("""
import stat, tempfile
outside = tempfile.gettempdir()
r = sg.lockdown(spec={"seccomp": "errno"})
t = r.landlock["tmp"]
with open(os.path.join(t["path"], "left-behind"), "w") as f:
    f.write("x")
done(tmp=t, mode=oct(stat.S_IMODE(os.stat(t["path"]).st_mode)), env=os.environ["TMPDIR"],
     tempdir=tempfile.gettempdir(), parent=os.path.dirname(t["path"]) == outside,
     outside_write=attempt(open, os.path.join(outside, "sdk_guard-escape-test"), "w"))
""", {})
    assert out["tmp"]["mode"] == "private" and out["mode"] == "0o700"
    assert out["env"] == out["tempdir"] == out["tmp"]["path"] and out["parent"] is True
    assert out["outside_write"] == "EACCES"
    assert "reaper" in out["tmp"]["cleanup"]
    assert _gone(out["tmp"]["path"])


def test_private_tmp_is_emptied_at_exit_under_an_installed_guard() -> None:
    """The atexit cleanup runs with no host frame on the stack: it must still count as
    the host's (sdk_guard's own code), not be refused as unattributed at exit."""
    require_landlock()
    proc = subprocess.run(
        [sys.executable, "-c", PRELUDE + """
p = sg.Policy.from_dict({"version": 1, "lockdown": {"seccomp": "off"}})
r = sg.lockdown(p)
sg.install(p)
path = r.landlock["tmp"]["path"]
open(os.path.join(path, "f"), "w").close()
print(path, flush=True)
""", "{}"], env=child_env(), capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr and "PolicyViolation" not in proc.stderr, proc.stderr
    assert _gone(proc.stdout.strip())


def test_private_tmp_is_removed_even_when_the_worker_is_killed() -> None:
    require_landlock()
    proc = subprocess.Popen(
        [sys.executable, "-c", PRELUDE + """
import time
r = sg.lockdown(spec={"seccomp": "off"})
open(os.path.join(r.landlock["tmp"]["path"], "f"), "w").close()
print(r.landlock["tmp"]["path"], flush=True)
time.sleep(60)
""", "{}"], env=child_env(), stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    path = proc.stdout.readline().strip()
    assert os.path.isdir(path) and os.listdir(path) == ["f"]
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    proc.stdout.close()
    assert _gone(path), f"{path} still exists after SIGKILL"


def test_tmp_none_grants_no_temporary_directory() -> None:
    require_landlock()
    out = child("""
import tempfile
before = os.environ.get("TMPDIR")
r = sg.lockdown(spec={"tmp": "none", "seccomp": "off"})
done(tmp=r.landlock["tmp"], same=os.environ.get("TMPDIR") == before,
     mk=attempt(tempfile.mkstemp))
""", {})
    # tempfile finds no usable directory: EACCES, or ENOENT ("No usable temporary directory").
    assert out["tmp"] == {"mode": "none"} and out["same"] is True
    assert out["mk"] in ("EACCES", "ENOENT")


def test_refused_lockdown_leaves_no_private_tmp_behind(tmp_path: Path) -> None:
    require_landlock()
    own_tmp = tmp_path / "tmp"
    own_tmp.mkdir()
    out = child("""
import glob, tempfile
before = set(glob.glob(os.path.join(tempfile.gettempdir(), "sdk_guard-*")))
try:
    sg.lockdown(spec={"fs.read": [P["missing"]], "seccomp": "off"}, require=["landlock"])
except sg.GuardError:
    pass
after = set(glob.glob(os.path.join(tempfile.gettempdir(), "sdk_guard-*")))
done(new=sorted(after - before), tmpdir=os.environ.get("TMPDIR"))
""", {"missing": str(tmp_path / "missing")}, env={"TMPDIR": str(own_tmp)})
    # TMPDIR is the test's own directory, so no other process's lockdown() shows here.
    assert out["new"] == [] and out["tmpdir"] == str(own_tmp)
    assert list(own_tmp.iterdir()) == []


# ---- native thread pools -------------------------------------------------------------------

NUMPY_LOCK = """
import time
if P["first"] == "numpy":
    import numpy as np
t0 = time.monotonic()
try:
    r = sg.lockdown(spec={"seccomp": "errno"})
    res = {"status": r.status, "threads": r.landlock["threads"]}
except sg.GuardError as e:
    res = {"refused": str(e)}
res["grace_ms"] = sg.landlock._last_grace_ms
res["seconds"] = round(time.monotonic() - t0, 3)
if "status" in res:
    import numpy as np
    a = np.arange(16.0).reshape(4, 4) + np.eye(4)
    res["numpy"] = float(np.linalg.det(a @ np.linalg.inv(a)))
done(**res)
"""


def _numpy() -> None:
    proc = run_child("import numpy")
    if proc.returncode != 0:
        reason = "numpy is not installed (scripts/install-deps installs it)"
        print(reason)
        pytest.skip(reason)


def test_openblas_threads_are_refused_at_once_with_the_fix() -> None:
    require_landlock()
    _numpy()
    if ABI >= 8:
        pytest.skip("this kernel has TSYNC (ABI >= 8): the pool's threads are confined")
    env = child_env({"OPENBLAS_NUM_THREADS": "2"})
    for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        env.pop(k, None)
    proc = subprocess.run([sys.executable, "-c", PRELUDE + NUMPY_LOCK,
                           json.dumps({"first": "numpy"})],
                          env=env, capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    print("lockdown with OpenBLAS threads took", out["seconds"], "s:", out.get("refused"))
    if "status" in out and out["threads"]["count"] == 1:
        pytest.skip("OpenBLAS started no thread on this machine: nothing to refuse")
    assert "refused" in out, out
    msg = out["refused"]
    assert "native thread(s) that Python did not start" in msg and "not a Python thread" in msg
    assert "OpenBLAS (" in msg and "openblas" in msg.split("OpenBLAS (", 1)[1].lower()
    assert "OPENBLAS_NUM_THREADS=1" in msg and "before importing numpy" in msg
    # Refused without the grace period an unknown thread gets (250 ms).
    assert out["grace_ms"] == 10


def test_openblas_single_threaded_or_numpy_after_lockdown_works() -> None:
    require_landlock()
    _numpy()
    one = run_child_json(PRELUDE + NUMPY_LOCK, args=[json.dumps({"first": "numpy"})],
                         env={"OPENBLAS_NUM_THREADS": "1"})
    assert one.get("status") == "full", one
    assert abs(one["numpy"] - 1.0) < 1e-9
    after = run_child_json(PRELUDE + NUMPY_LOCK, args=[json.dumps({"first": "lockdown"})],
                           env={"OPENBLAS_NUM_THREADS": "4"})
    assert after.get("status") == "full", after
    assert abs(after["numpy"] - 1.0) < 1e-9


# ---- spec and explain ---------------------------------------------------------------------

def test_runtime_and_tmp_keys_are_validated() -> None:
    out = child("""
from sdk_guard._lockdown_spec import parse_spec
from sdk_guard.errors import PolicyError
res = {}
for name, sec in {"runtime": {"runtime": "everything"}, "tmp": {"tmp": "shared"},
                  "tmp_type": {"tmp": True}}.items():
    try:
        parse_spec(sec); res[name] = None
    except PolicyError as e:
        res[name] = [e.key, str(e)]
d = parse_spec(None)
done(res=res, defaults=[d["runtime"], d["tmp"]])
""", {})
    assert out["res"]["runtime"][0] == "lockdown.runtime" and '"minimal"' in out["res"]["runtime"][1]
    assert out["res"]["tmp"][0] == "lockdown.tmp" and out["res"]["tmp_type"][0] == "lockdown.tmp"
    assert out["defaults"] == ["auto", "private"]


def test_explain_lockdown_prints_the_effective_ruleset_with_runtime_grants(
        tmp_path: Path) -> None:
    pol = tmp_path / "policy.toml"
    pol.write_text('version = 1\n[lockdown]\nfs.read = ["/srv/in"]\nnet.connect_tcp = [5432]\n')
    proc = run_child("import sys; from sdk_guard.__main__ import main; "
                     "sys.exit(main(['explain', '--lockdown', sys.argv[1]]))", args=[str(pol)])
    assert proc.returncode == 0, proc.stderr
    text = proc.stdout
    assert "/srv/in" in text and "lockdown.fs.read[0]" in text
    assert "shared libraries extension modules link" in text
    assert "/etc/resolv.conf" in text and "/sys/devices/system/cpu" in text
    assert "own /proc entry" in text and "private temporary directory" in text
    assert "nothing was applied" in text.lower() or "not applied" in text.lower()


def test_extension_path_of_the_policy_is_importable_after_lockdown_and_nothing_else(
        tmp_path: Path) -> None:
    """lockdown(policy) grants what import needs from each extension's `path`: the guard
    imports the extension after lockdown; a secret beside the package stays unreadable."""
    require_landlock()
    plugins = tmp_path / "plugins"
    (plugins / "acme").mkdir(parents=True)
    (plugins / "acme" / "__init__.py").write_text("def hello():\n    return 'hi'\n")
    (plugins / "plugins.env").write_text("TOKEN=secret\n")
    policy = {"version": 1, "host": {"trusted": ["__main__"]},
              "extensions": {"acme": {"package": "acme", "path": str(plugins),
                                      "fs": {"read": [], "write": []}}},
              "lockdown": {"seccomp": "errno"}}
    out = child("""
policy = sg.Policy.from_dict(P["policy"])
guard = sg.install(policy)
r = sg.lockdown(policy, require=["landlock"])
acme = guard.import_extension("acme")
srcs = [x["source"] for x in r.landlock["rules"] if x["path"].startswith(P["plugins"])]
done(hello=acme.hello(), secret=attempt(open, P["plugins"] + "/plugins.env"), srcs=srcs,
     acme_in_modules="acme" in sys.modules)
""", {"policy": policy, "plugins": str(plugins)})
    assert out["hello"] == "hi" and out["secret"] == "EACCES"
    assert any("extensions.acme.path" in s and "package acme" in s for s in out["srcs"]), out


def test_a_worker_started_in_the_root_directory_gets_no_listing_of_it() -> None:
    """With -c from /, sys.path[0] is /: granting what import needs there would mean
    listing the whole tree, so nothing is granted and the report says so."""
    require_landlock()
    out = child("""
r = sg.lockdown(spec={"seccomp": "off"})
done(list_root=attempt(os.listdir, "/"), list_etc=attempt(os.listdir, "/etc"),
     warned=[w["why"] for w in r.landlock["warnings"] if w.get("target") == "/"])
""", {}, cwd="/")
    assert out["list_root"] == "EACCES" and out["list_etc"] == "EACCES"
    assert out["warned"] and "filesystem root" in out["warned"][0]


@pytest.mark.parametrize("section", ["egress", "extension"])
def test_dns_files_follow_a_policy_that_names_hosts(section: str) -> None:
    """An [egress] section, or an extension allowed to connect to a name, is network
    the worker must resolve: DNS files are granted even without net.connect_tcp."""
    require_landlock()
    policy: dict[str, Any] = {"version": 1, "lockdown": {"seccomp": "off"}}
    if section == "egress":
        policy["egress"] = {"connect": ["127.0.0.1:5432"]}
    else:
        policy["extensions"] = {"acme": {"package": "acme",
                                         "net": {"connect": ["localhost:5432"]}}}
    out = child("""
r = sg.lockdown(sg.Policy.from_dict(P["policy"]))
done(dns=sorted(x["path"] for x in r.landlock["rules"] if "name resolution" in x["source"]),
     hosts=attempt(open, "/etc/hosts"))
""", {"policy": policy})
    assert "/etc/hosts" in out["dns"] and "/etc/nsswitch.conf" in out["dns"]
    assert out["hosts"] == "ok"
