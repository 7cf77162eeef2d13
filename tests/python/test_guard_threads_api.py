"""Process Guard: threads, install/API misuse, acting_as, the approver, monitor mode and
a finder that was removed or reordered."""
from __future__ import annotations

from typing import Any

import pytest

from _support import guard_tree as gk

THREADS = r'''
import threading, functools
def start(target, *args):
    return threading.Thread(target=target, args=args)
OUT = []
t = start(acme.work, OUT)
attempt("ext_thread_own_code", acme.call, t.start)
t.join()
R["ext_thread_ran"] = OUT[:]
attempt("ext_thread_partial", acme.call, start(functools.partial(acme.work, OUT)).start)
for name, target, args in (("ext_thread_os_system", os.system, ("/bin/true",)),
                           ("ext_thread_print", print, ("x",)),
                           ("ext_thread_host_fn", lambda: None, ())):
    T = start(target, *args)
    attempt(name, acme.call, T.start)
    if T.ident is not None:
        T.join()
attempt("beta_thread_own_code", beta.call, start(beta.work).start)
HT = start(len, "host")
attempt("host_thread_lib_target", HT.start)
HT.join()
'''


@pytest.fixture(scope="module")
def threads(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    base = tmp_path_factory.mktemp("threads")
    pol = gk.policy(base, beta={"threads": False})
    return gk.run(base, THREADS, pol=pol)


def test_extension_may_start_a_thread_running_its_own_code(threads: dict[str, Any]) -> None:
    gk.assert_allowed(threads, "ext_thread_own_code")
    assert threads["ext_thread_ran"] == ["ran"]
    gk.assert_allowed(threads, "ext_thread_partial")


@pytest.mark.parametrize("name", ["ext_thread_os_system", "ext_thread_print",
                                  "ext_thread_host_fn"])
def test_extension_thread_with_foreign_target_starts_and_runs_as_the_extension(
        threads: dict[str, Any], name: str) -> None:
    # threads = true: the thread starts whatever its target, and runs as acme.
    gk.assert_allowed(threads, name)


def test_what_a_foreign_thread_target_does_is_charged_to_the_extension(
        threads: dict[str, Any]) -> None:
    # os.system as the target of acme's thread: no Python frame at all in that
    # thread, and the spawn is still acme's, and denied.
    spawns = [a for a in threads["_audit"] if a["capability"] == "process.spawn"]
    assert spawns and all(a["principal"] == "acme" and a["decision"] == "deny"
                          for a in spawns), threads["_audit"]


def test_threads_false_denies_every_thread(threads: dict[str, Any]) -> None:
    out = gk.assert_denied(threads, "beta_thread_own_code", "threads", principal="beta")
    assert "set extensions.beta.threads = true" in out["msg"]


def test_host_threads_are_not_mediated(threads: dict[str, Any]) -> None:
    gk.assert_allowed(threads, "host_thread_lib_target")


UNATTRIBUTED = r'''
import threading, extlib, atexit
RES = []
def record():
    try:
        extlib.listdir(OUTSIDE)
        RES.append("allowed")
    except sg.PolicyViolation as exc:
        RES.append([exc.principal, exc.capability, exc.rule])
# the thread's target is library code: neither host nor extension frames run in it
th = threading.Thread(target=extlib.call, args=(record,))
th.start(); th.join()
# a thread running a C function as its target (no Python frame at all)
th = threading.Thread(target=os.listdir, args=(OUTSIDE,))
th.start(); th.join()
R["thread_lib_target"] = RES
'''


def test_threads_the_host_starts_run_as_the_host_whatever_their_target(tmp_path: Any) -> None:
    # record() is host code; the second thread's target is a C function (no Python
    # frame at all): a thread the host started is a host thread either way.  What
    # stays unattributed (an atexit callback in the main thread) is the escape
    # corpus's test_atexit_callback_running_os_system_is_denied.
    r = gk.run(tmp_path, UNATTRIBUTED)
    assert r["thread_lib_target"] == ["allowed"]
    assert [a for a in r["_audit"] if a["decision"] == "deny"] == [], r["_audit"]


API = r'''
import importlib, threading
attempt("install_twice", sg.install, sg.Policy.from_dict(POLICY))
attempt("install_non_policy", sg.install, POLICY)
attempt("acting_as_unknown", lambda: sg.acting_as("nobody").__enter__())
attempt("import_extension_unknown", guard.import_extension, "nobody")
attempt("current_guard", lambda: sg.current_guard() is guard)
SECRET = os.path.join(OUTSIDE, "secret.txt")
def host_read():
    with open(SECRET) as f:
        return f.read()
attempt("host_read", host_read)
def as_acme():
    with sg.acting_as("acme"):
        return host_read()
attempt("acting_as_restricts_host", as_acme)
attempt("acting_as_allows_inside", lambda: sg.acting_as("acme").__enter__() and None)
# the extension may not change the guard
attempt("ext_set_approver", acme.call, guard.set_approver, lambda *a: True)
attempt("ext_set_approver_c", acme.call, sg._guard.set_approver, lambda *a: True)
attempt("ext_acting_as_c", acme.call, sg._guard.acting_as_enter, "beta")
attempt("ext_prepare_module", acme.call, sg._guard.prepare_module, {}, "acme", None)
attempt("ext_acting_as", lambda: acme.call(sg.acting_as("beta").__enter__))
# the finder: removed or reordered, it comes back first on the next import
finder = guard._finder
acme.call(sys.meta_path.remove, finder)
R["finder_removed"] = finder not in sys.meta_path
# an import statement (the C import path raises the "import" event the hook uses)
attempt("late_import_after_removal", __import__, "acme.late")
R["finder_first_after_import"] = sys.meta_path[0] is finder
sys.meta_path.reverse()
attempt("late2_import_after_reorder", __import__, "acme.late2")
R["finder_first_after_reorder"] = sys.meta_path[0] is finder
attempt("late_owner", lambda: sg._guard.code_owner(sys.modules["acme.late3"].f.__code__)
        if importlib.import_module("acme.late3") else None)
'''

API_FILES = {
    "plugins/acme/late.py": "open(%r)\n",
    "plugins/acme/late2.py": "open(%r)\n",
    "plugins/acme/late3.py": "def f():\n    pass\n",
}


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    base = tmp_path_factory.mktemp("api")
    secret = str(base / "outside" / "secret.txt")
    files = {k: v % secret if "%r" in v else v for k, v in API_FILES.items()}
    pol = gk.policy(base, beta={})
    return gk.run(base, API, pol=pol, files=files)


def test_install_twice_raises_guard_error(api: dict[str, Any]) -> None:
    out = api["install_twice"]
    assert out["type"] == "GuardError" and "once" in out["msg"], out


def test_install_of_a_non_policy_raises_type_error(api: dict[str, Any]) -> None:
    out = api["install_non_policy"]
    assert out["type"] == "TypeError" and "Policy" in out["msg"], out


def test_acting_as_unknown_extension_raises_value_error(api: dict[str, Any]) -> None:
    out = api["acting_as_unknown"]
    assert out["type"] == "ValueError" and "nobody" in out["msg"], out
    assert api["import_extension_unknown"]["type"] == "GuardError"
    assert gk.assert_allowed(api, "current_guard") is True


def test_acting_as_restricts_host_code(api: dict[str, Any]) -> None:
    assert gk.assert_allowed(api, "host_read") == "secret\n"
    gk.assert_denied(api, "acting_as_restricts_host", "fs.read", principal="acme")


@pytest.mark.parametrize("name", ["ext_set_approver", "ext_set_approver_c", "ext_acting_as_c",
                                  "ext_prepare_module", "ext_acting_as"])
def test_extension_cannot_change_the_guard(api: dict[str, Any], name: str) -> None:
    out = gk.assert_denied(api, name, "introspection")
    assert "only host code may change the guard" in out["msg"]


def test_removed_finder_comes_back_first_and_denials_still_happen(api: dict[str, Any]) -> None:
    assert api["finder_removed"] is True
    gk.assert_denied(api, "late_import_after_removal", "fs.read")
    assert api["finder_first_after_import"] is True


def test_reordered_finder_comes_back_first(api: dict[str, Any]) -> None:
    gk.assert_denied(api, "late2_import_after_reorder", "fs.read")
    assert api["finder_first_after_reorder"] is True
    assert gk.assert_allowed(api, "late_owner") == "acme"


APPROVE = r'''
IN = os.path.join(DATA, "in.txt")
OTHER = os.path.join(DATA, "other.txt")
open(OTHER, "w").close()
SECRET = os.path.join(OUTSIDE, "secret.txt")
read = lambda p: acme.call(open, p).close()
attempt("no_approver", read, IN)
ASKED = []
def approver(principal, capability, target):
    ASKED.append([principal, capability, target])
    return target.endswith("in.txt")
guard.set_approver(approver)
attempt("approved", read, IN)
attempt("refused", read, OTHER)
attempt("outside_policy", read, SECRET)
R["asked"] = ASKED
def boom(*a):
    raise LookupError("approver failed")
guard.set_approver(boom)
attempt("approver_raises", read, IN)
attempt("set_approver_not_callable", guard.set_approver, 42)
'''


@pytest.fixture(scope="module")
def approve(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    base = tmp_path_factory.mktemp("approve")
    return gk.run(base, APPROVE, pol=gk.policy(base, approve=["fs.read"]))


def test_approve_without_an_approver_is_refused(approve: dict[str, Any]) -> None:
    out = gk.assert_denied(approve, "no_approver", "fs.read", decision="refused",
                           rule="extensions.acme.approve")
    assert "extensions.acme.approve" in out["msg"] and "not set" in out["msg"]


def test_approver_yes_is_audited_as_approved(approve: dict[str, Any]) -> None:
    gk.assert_allowed(approve, "approved")
    rec = [a for a in approve["_audit"] if a["decision"] == "approved"]
    assert len(rec) == 1 and rec[0]["target"].endswith("in.txt"), approve["_audit"]
    assert rec[0]["rule"] == "extensions.acme.approve", rec
    assert rec[0]["principal"] == "acme" and rec[0]["capability"] == "fs.read"


def test_approver_no_is_refused(approve: dict[str, Any]) -> None:
    gk.assert_denied(approve, "refused", "fs.read", decision="refused",
                     rule="extensions.acme.approve")


def test_approver_is_asked_only_after_the_policy_allows(approve: dict[str, Any]) -> None:
    gk.assert_denied(approve, "outside_policy", "fs.read", decision="deny")
    asked = approve["asked"]
    assert [a[2].rsplit("/", 1)[1] for a in asked] == ["in.txt", "other.txt"], asked
    assert all(a[:2] == ["acme", "fs.read"] for a in asked)


def test_approver_exception_propagates_and_denies(approve: dict[str, Any]) -> None:
    out = approve["approver_raises"]
    assert out["ok"] is False and out["type"] == "LookupError", out
    assert approve["set_approver_not_callable"]["type"] == "TypeError"


MONITOR = r'''
SECRET = os.path.join(OUTSIDE, "secret.txt")
attempt("monitor_read", lambda: acme.call(open, SECRET).read())
attempt("monitor_import", acme.call, __import__("importlib").import_module, "csv")
'''


def test_monitor_mode_allows_and_records_would_deny(tmp_path: Any) -> None:
    pol = gk.policy(tmp_path)
    pol["guard"] = {"mode": "monitor"}
    r = gk.run(tmp_path, MONITOR, pol=pol)
    assert gk.assert_allowed(r, "monitor_read") == "secret\n"
    gk.assert_allowed(r, "monitor_import")
    recs = {a["capability"]: a for a in r["_audit"]}
    assert recs["fs.read"]["decision"] == "would_deny"
    assert recs["fs.read"]["target"] == str(tmp_path / "outside" / "secret.txt")
    assert recs["import"]["decision"] == "would_deny"
    assert all(a["decision"] == "would_deny" for a in r["_audit"]), r["_audit"]


UNRAISABLE = r'''
import _thread, threading
if "acme" not in globals():           # the run without the guard imports it plainly
    sys.path.insert(0, os.path.join(BASE, "plugins"))
    import acme
seen = []
done = threading.Event()
def hook(u):
    seen.append((u.object is acme.boom, u.object is None, type(u.exc_value).__name__,
                 (u.err_msg or "").replace(repr(acme.boom), "<target>")))
    done.set()
sys.unraisablehook = hook
attempt("ext_raw_thread", acme.call, _thread.start_new_thread, acme.boom, ())
done.wait(10)
R["seen"] = [list(s) for s in seen]
'''


def test_a_thread_target_that_raises_is_reported_against_the_target(tmp_path: Any) -> None:
    """The guard's entry point runs first in every checked thread; an exception the
    target raises still reaches sys.unraisablehook exactly as _thread reports it
    without the guard (the target as its object, or None on 3.13+, and its message)."""
    files = {"plugins/acme/__init__.py": gk.ACME + "\ndef boom():\n    raise ValueError('boom')\n"}
    guarded = gk.run(tmp_path / "guarded", UNRAISABLE, files=files)
    plain = gk.run(tmp_path / "plain", UNRAISABLE, files=files, install=False)
    assert guarded["ext_raw_thread"]["ok"] is True, guarded["ext_raw_thread"]
    assert len(plain["seen"]) == 1 and plain["seen"][0][2] == "ValueError", plain
    assert guarded["seen"] == plain["seen"], (guarded["seen"], plain["seen"])
