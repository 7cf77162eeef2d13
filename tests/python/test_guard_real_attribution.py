"""Attribution as real hosts and libraries need it: threads inherit the extension that
started them, host threads stay host threads (also those started before install()),
environment changes are process.env, the SDK serves an extension with host authority
even under acting_as(), a refused submodule suggests `pkg.*`, and a private host
module's files are unreadable to an extension by every route."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from _support import guard_tree as gk

# ---- threads ------------------------------------------------------------------------

THREADS = r'''
import concurrent.futures, threading, functools, extlib
SECRET = os.path.join(OUTSIDE, "secret.txt")
IN = os.path.join(DATA, "in.txt")

import acme.pools, beta.pools
attempt("ext_pool_map", acme.pools.pool_map)
attempt("ext_pool_read_inside", acme.pools.pool_read, IN)
attempt("ext_pool_read_outside", acme.pools.pool_read, SECRET)

# A thread acme starts with a library target runs as acme: its read is acme's.
LT = threading.Thread(target=extlib.read_text, args=(SECRET,))
attempt("ext_thread_lib_target", acme.call, LT.start)
LT.join()
attempt("beta_pool_map", beta.pools.pool_map)
'''


# Extension code that uses a library thread pool (the pool's workers are started by
# the library, from inside the extension's call).
POOLS = """
import concurrent.futures
import extlib

def pool_map():
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        return list(pool.map(abs, [-1, -2, -3]))

def pool_read(path):
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(extlib.read_text, path).result()
"""


@pytest.fixture(scope="module")
def threads(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    base = tmp_path_factory.mktemp("inherit")
    pol = gk.policy(base, beta={"threads": False})
    for ext in ("acme", "beta"):
        pol["extensions"][ext]["imports.allow"] += ["concurrent", "concurrent.*"]
    return gk.run(base, THREADS, pol=pol,
                  files={"plugins/acme/pools.py": POOLS, "plugins/beta/pools.py": POOLS})


def test_thread_pool_started_by_an_extension_runs_as_that_extension(
        threads: dict[str, Any]) -> None:
    assert gk.assert_allowed(threads, "ext_pool_map") == [1, 2, 3]
    assert gk.assert_allowed(threads, "ext_pool_read_inside") == "inside\n"
    # What the library target does in the pool's thread is charged to acme.
    gk.assert_denied(threads, "ext_pool_read_outside", "fs.read")


def test_thread_with_a_library_target_started_by_an_extension_is_allowed_and_charged(
        threads: dict[str, Any]) -> None:
    gk.assert_allowed(threads, "ext_thread_lib_target")
    denials = [a for a in threads["_audit"] if a["capability"] == "fs.read"
               and a["target"].endswith("secret.txt")]
    assert denials and all(a["principal"] == "acme" for a in denials), threads["_audit"]
    assert not [a for a in threads["_audit"] if a["principal"] is None], threads["_audit"]


def test_extension_without_threads_cannot_start_a_library_pool(threads: dict[str, Any]) -> None:
    gk.assert_denied(threads, "beta_pool_map", "threads", principal="beta")


HOST_SERVER = r'''
import http.server, threading, urllib.request
SECRET = os.path.join(OUTSIDE, "secret.txt")
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = open(SECRET, "rb").read()          # host work in a library-target thread
        self.send_response(200); self.send_header("Content-Length", str(len(body)))
        self.end_headers(); self.wfile.write(body)
    def log_message(self, *a):
        pass
SRV = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
threading.Thread(target=SRV.serve_forever, daemon=True).start()   # before install()
guard = sg.install(sg.Policy.from_dict(POLICY))
acme = guard.import_extension("acme")
url = "http://127.0.0.1:%d/" % SRV.server_address[1]
attempt("host_request", lambda: urllib.request.urlopen(url, timeout=10).read().decode())
SRV.shutdown()
'''


def test_host_threading_http_server_started_before_install_runs_as_the_host(
        tmp_path: Path) -> None:
    r = gk.run(tmp_path, HOST_SERVER, install=False)
    assert gk.assert_allowed(r, "host_request") == "secret\n"
    assert [a for a in r["_audit"] if a["decision"] == "deny"] == [], r["_audit"]


# ---- process.env ----------------------------------------------------------------------

ENV = r'''
import extlib
attempt("env_set", acme.call, os.environ.__setitem__, "SG_X", "1")
attempt("env_unset", acme.call, os.environ.pop, "HOME", None)
attempt("env_putenv", acme.call, os.putenv, "SG_Y", "1")
attempt("beta_env_set", beta.call, os.environ.__setitem__, "SG_Z", "1")
attempt("beta_spawn", beta.call, extlib.run, ["/bin/true"])
'''


def test_environment_changes_are_the_process_env_capability(tmp_path: Path) -> None:
    pol = gk.policy(tmp_path, beta={"process.env": True})
    r = gk.run(tmp_path, ENV, pol=pol)
    for name in ("env_set", "env_unset", "env_putenv"):
        out = gk.assert_denied(r, name, "process.env")
        assert "set extensions.acme.process.env = true" in out["msg"]
    gk.assert_allowed(r, "beta_env_set")
    # process.env grants no process.spawn.
    gk.assert_denied(r, "beta_spawn", "process.spawn", principal="beta")


# ---- the SDK under acting_as -----------------------------------------------------------

SDK = r'''
import hostapp_sdk, extlib
SECRET = os.path.join(OUTSIDE, "secret.txt")
# acme asks the host's SDK to read a file outside acme's fs.read: the SDK is host code
# running inside acme's call, with host authority, with or without acting_as.
attempt("sdk_plain", acme.call, hostapp_sdk.read_text, SECRET)
def under():
    with sg.acting_as("acme"):
        return acme.call(hostapp_sdk.read_text, SECRET)
attempt("sdk_under_acting_as", under)
# acting_as speaks when no extension frame is on the stack: host code running a
# library callback for acme is held to acme's policy (both must allow).
def host_for_acme():
    with sg.acting_as("acme"):
        return extlib.read_text(SECRET)
attempt("host_callback_for_acme", host_for_acme)
# acme's own read under acting_as is still acme's.
def own():
    with sg.acting_as("acme"):
        return acme.call(extlib.read_text, SECRET)
attempt("ext_under_acting_as", own)
'''


def test_sdk_called_by_an_extension_acts_with_host_authority_under_acting_as(
        tmp_path: Path) -> None:
    r = gk.run(tmp_path, SDK)
    assert gk.assert_allowed(r, "sdk_plain") == "secret\n"
    assert gk.assert_allowed(r, "sdk_under_acting_as") == "secret\n"
    gk.assert_denied(r, "host_callback_for_acme", "fs.read")
    gk.assert_denied(r, "ext_under_acting_as", "fs.read")


# ---- import messages ------------------------------------------------------------------

def test_refused_submodule_of_an_allowed_package_suggests_the_wildcard(tmp_path: Path) -> None:
    pol = gk.policy(tmp_path, **{"imports.allow": ["importlib", "xml"]})
    r = gk.run(tmp_path, 'attempt("sub", acme.call, __import__("importlib").import_module, '
                         '"xml.dom")\n', pol=pol)
    out = gk.assert_denied(r, "sub", "import", rule="extensions.acme.imports.allow")
    assert '"xml.*"' in out["msg"], out["msg"]


# ---- private host module files --------------------------------------------------------

PRIVATE = r'''
import hostapp_sdk, extlib
import acme.byfile as byfile
DB = os.path.join(BASE, "src", "hostapp", "db.py")
attempt("spec_from_file_location", byfile.by_spec, DB)
attempt("source_loader", byfile.by_source_loader, DB)
attempt("get_data", byfile.by_get_data, DB)
attempt("open", acme.call, extlib.read_text, DB)
attempt("host_reads", lambda: len(open(DB).read()) > 0)
attempt("sdk_query", acme.call, hostapp_sdk.query, "q")
'''


# Extension code running a private host module's file under another name.
BYFILE = """
import importlib.machinery
import importlib.util

def by_spec(path):
    spec = importlib.util.spec_from_file_location("notprivate", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.query("x")

def by_source_loader(path):
    return importlib.machinery.SourceFileLoader("alsonot", path).load_module().query("x")

def by_get_data(path):
    return importlib.machinery.SourceFileLoader("n", path).get_data(path)
"""


def test_private_host_module_files_are_unreadable_to_extensions_by_every_route(
        tmp_path: Path) -> None:
    # Even with fs.read covering the host's source tree.
    pol = gk.policy(tmp_path, **{"fs.read": [str(tmp_path / "data"), str(tmp_path / "src")],
                                 "imports.allow": gk.DEFAULT_IMPORTS + ["importlib.*"]})
    r = gk.run(tmp_path, PRIVATE, pol=pol, files={"plugins/acme/byfile.py": BYFILE})
    for name in ("spec_from_file_location", "source_loader", "get_data", "open"):
        out = r[name]
        assert out["ok"] is False and out["violation"], (name, out)
        assert out["capability"] == "fs.read" and out["target"].endswith("hostapp/db.py"), out
    assert gk.assert_allowed(r, "host_reads") is True
    assert gk.assert_allowed(r, "sdk_query") == "rows for q"


# ---- denials raised inside library code are recognisable -------------------------------

SWALLOWED = r'''
import extlib, subprocess
import acme.sw
SECRET = os.path.join(OUTSIDE, "secret.txt")
attempt("swallowed", acme.sw.swallow, SECRET)
attempt("direct", acme.call, open, SECRET)
TRAIL = os.path.join(BASE, "trail.jsonl")
audit.flush()
with open(TRAIL, "w") as f:
    for rec in MEM.records:
        f.write(json.dumps(rec) + "\n")
R["summary"] = json.loads(subprocess.run(
    [sys.executable, "-m", "sdk_guard", "audit", TRAIL, "--summary", "--json"],
    capture_output=True, text=True, check=True).stdout)
'''


SWALLOW = """
import extlib

def swallow(path):
    try:
        return extlib.read_text(path)
    except PermissionError as e:      # a library's caller swallowing the denial
        return str(e)
"""


def test_denial_inside_library_code_names_the_library_and_frame(tmp_path: Path) -> None:
    r = gk.run(tmp_path, SWALLOWED, files={"plugins/acme/sw.py": SWALLOW})
    msg = gk.assert_allowed(r, "swallowed")
    assert "raised inside library extlib" in msg and "extlib.py:" in msg, msg
    recs = [a for a in r["_audit"] if a["capability"] == "fs.read"]
    assert len(recs) == 2, recs
    lib, direct = recs
    assert lib["library"] == "extlib" and "extlib.py:" in lib["frame"], lib
    assert "in read_text" in lib["frame"], lib
    assert "library" not in direct, direct          # acme's own open(): no library
    out = gk.assert_denied(r, "direct", "fs.read")
    assert "raised inside library" not in out["msg"]
    assert r["summary"]["libraries"] == {"extlib": {"acme fs.read": 1}}, r["summary"]


# ---- the import fast path keeps each extension's verdict its own -----------------------

IMP = "def again():\n    import csv\n    return csv.__name__\n"


def test_cached_import_verdict_of_one_extension_never_serves_another(tmp_path: Path) -> None:
    # Both functions import the same interned "csv" str: acme's silent allow is
    # remembered for acme only.
    pol = gk.policy(tmp_path, beta={})
    pol["extensions"]["acme"]["imports.allow"] = gk.DEFAULT_IMPORTS + ["csv"]
    r = gk.run(tmp_path, r'''
import acme.imp, beta.imp
for i in range(3):
    attempt("acme_%d" % i, acme.imp.again)
    attempt("beta_%d" % i, beta.imp.again)
''', pol=pol, files={"plugins/acme/imp.py": IMP, "plugins/beta/imp.py": IMP})
    for i in range(3):
        assert gk.assert_allowed(r, f"acme_{i}") == "csv"
        gk.assert_denied(r, f"beta_{i}", "import", principal="beta",
                         rule="extensions.beta.imports.allow")
