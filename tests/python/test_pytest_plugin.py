"""The pytest plugin (sdk_guard.pytest_plugin), exercised the way a host's own test suite
uses it: each test here writes a small project with pytester and runs pytest on it in a
subprocess, with the plugin loaded by ``-p sdk_guard.pytest_plugin`` (the entry-point
registration is checked in test_ecosystem_venv.py)."""
from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest

from _support.child import PYTHON_DIR

pytest_plugins = ["pytester"]

POLICY = """
version = 1

[host]
trusted = ["hostpkg"]

[extensions.acme]
package = "acme"
path = "plugins"
imports.allow = ["os", "json"]
fs.read = ["{data}"]

[lockdown]
fs.read = ["{data}/public"]
seccomp = "off"
"""

ACME = '''
import os

def read(path):
    with open(path) as f:
        return f.read()

def read_quietly(path):
    try:
        return read(path)
    except PermissionError as exc:
        return "refused: " + type(exc).__name__

def add(a, b):
    return a + b
'''


@pytest.fixture
def project(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch,
            tmp_path_factory: pytest.TempPathFactory) -> pytest.Pytester:
    # Outside the project: the project directory is on the child's sys.path, which a
    # lockdown keeps readable for imports.
    data = tmp_path_factory.mktemp("acme-data")
    monkeypatch.setenv("ACME_DATA", str(data))
    (data / "public").mkdir(parents=True)
    (data / "public" / "hello.txt").write_text("hello")
    (data / "private.txt").write_text("private")
    (pytester.path / "outside.txt").write_text("outside")
    (pytester.path / "policy.toml").write_text(textwrap.dedent(POLICY))
    (pytester.path / "plugins" / "acme").mkdir(parents=True)
    (pytester.path / "plugins" / "acme" / "__init__.py").write_text(textwrap.dedent(ACME))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(
        [str(PYTHON_DIR)] + ([os.environ["PYTHONPATH"]] if os.environ.get("PYTHONPATH") else [])))
    return pytester


def _run(project: pytest.Pytester, body: str) -> pytest.RunResult:
    project.makepyfile(test_policy_intent=textwrap.dedent(body))
    return project.runpytest_subprocess("-p", "sdk_guard.pytest_plugin", "-p",
                                        "no:cacheprovider", "-W", "error", "-v")


# One pytest session runs every fixture case (each case is its own child interpreter);
# the outer test then checks each inner test's outcome and the failure messages.
FIXTURE_CASES = '''
import os
import pytest
import sdk_guard
from sdk_guard.pytest_plugin import GuardRunError

DATA = os.environ["ACME_DATA"]
VARS = {"data": DATA}


def test_denied(sdk_guard_run):
    out = os.path.abspath("outside.txt")
    r = sdk_guard_run("policy.toml", extension="acme", call="acme.read", args=(out,),
                      variables=VARS)
    rec = r.assert_denied(capability="fs.read", target=out)
    assert rec["principal"] == "acme" and rec["rule"] == "extensions.acme.fs.read"
    assert r.error["type"] == "PolicyViolation"
    assert r.denials and all(d["decision"] == "deny" for d in r.denials)
    assert sdk_guard.current_guard() is None      # the parent never installed the guard


def test_allowed(sdk_guard_run):
    path = os.path.join(DATA, "public", "hello.txt")
    r = sdk_guard_run("policy.toml", extension="acme", call="acme.read", args=(path,),
                      variables=VARS)
    r.assert_ok()
    assert r.returned == "hello"
    r.assert_allowed(capability="fs.read", target=path)


def test_glob_targets_and_kwargs(sdk_guard_run):
    r = sdk_guard_run("policy.toml", extension="acme", call="acme:add",
                      kwargs={"a": 2, "b": 3}, variables=VARS)
    assert r.returned == 5
    r2 = sdk_guard_run("policy.toml", extension="acme", call="acme.read_quietly",
                       args=("/etc/passwd",), variables=VARS)
    assert r2.returned == "refused: PolicyViolation"
    r2.assert_denied(capability="fs.read", target="/etc/pass*")


def test_monitor(sdk_guard_run):
    out = os.path.abspath("outside.txt")
    r = sdk_guard_run("policy.toml", extension="acme", call="acme.read", args=(out,),
                      mode="monitor", variables=VARS)
    assert r.mode == "monitor"
    assert r.returned == "outside"                                # allowed through...
    rec = r.assert_denied(capability="fs.read", target=out)      # ...but recorded
    assert rec["decision"] == "would_deny"


def test_lockdown(sdk_guard_run):
    # the guard allows {data}/private.txt; [lockdown] fs.read grants only {data}/public,
    # so Landlock refuses the open
    r = sdk_guard_run("policy.toml", extension="acme", call="acme.read",
                      args=(os.path.join(DATA, "private.txt"),), lockdown=True, variables=VARS)
    assert r.lockdown_report["landlock"]["status"] in ("full", "partial")
    err = r.assert_denied(layer="kernel")
    assert err["errno_name"] == "EACCES"
    r.assert_allowed(capability="fs.read")          # the guard itself said yes
    ok = sdk_guard_run("policy.toml", extension="acme", call="acme.read",
                       args=(os.path.join(DATA, "public", "hello.txt"),), lockdown=True,
                       variables=VARS)
    assert ok.returned == "hello"


def test_bad_policy(sdk_guard_run):
    r = sdk_guard_run("bad.toml", extension="acme", call="acme.add", args=(1, 2))
    assert r.stage == "policy" and r.error["type"] == "PolicyError"
    assert "extensions.acme.fs.reed" in r.error["message"]
    with pytest.raises(GuardRunError):
        r.assert_denied(capability="fs.read")


def test_expects_a_denial_that_does_not_happen(sdk_guard_run):
    path = os.path.join(DATA, "public", "hello.txt")
    r = sdk_guard_run("policy.toml", extension="acme", call="acme.read", args=(path,),
                      variables=VARS)
    r.assert_denied(capability="fs.read", target=path)


def test_expects_allowed_but_denied(sdk_guard_run):
    r = sdk_guard_run("policy.toml", extension="acme", call="acme.read",
                      args=("/etc/passwd",), variables=VARS)
    r.assert_allowed(capability="fs.read")
'''


@pytest.fixture
def fixture_session(project: pytest.Pytester) -> pytest.RunResult:
    (project.path / "bad.toml").write_text("version = 1\n[extensions.acme]\npackage = 'acme'\n"
                                           "fs.reed = []\n")
    return _run(project, FIXTURE_CASES)


def _outcome(res: pytest.RunResult, name: str) -> str:
    for line in res.stdout.lines:
        if f"::{name} " in line:
            for word in ("PASSED", "FAILED", "ERROR", "SKIPPED"):
                if word in line:
                    return word
    raise AssertionError(f"no outcome for {name}:\n{res.stdout.str()}")


def test_plugin_asserts_denied_allowed_monitor_lockdown_and_explains_failures(
        fixture_session: pytest.RunResult) -> None:
    res = fixture_session
    for name in ("test_denied", "test_allowed", "test_glob_targets_and_kwargs", "test_monitor",
                 "test_lockdown", "test_bad_policy"):
        assert _outcome(res, name) == "PASSED", res.stdout.str()
    res.assert_outcomes(passed=6, failed=2)
    # A failing assertion names the expectation and shows the run's records.
    assert _outcome(res, "test_expects_a_denial_that_does_not_happen") == "FAILED"
    assert _outcome(res, "test_expects_allowed_but_denied") == "FAILED"
    out = res.stdout.str()
    assert "expected a deny or refused of fs.read on" in out
    assert "the call returned 'hello'" in out
    assert "expected fs.read to be allowed, but the call raised a policy error" in out
    assert ("deny       fs.read        /etc/passwd  (principal acme, rule "
            "extensions.acme.fs.read)") in out


def test_marker_runs_the_whole_test_under_the_policy(project: pytest.Pytester) -> None:
    data = Path(os.environ["ACME_DATA"])
    res = _run(project, f'''
        import os
        import pytest
        import sdk_guard

        @pytest.mark.sdk_guard_policy("policy.toml", variables={{"data": {str(data)!r}}})
        def test_guarded_body():
            guard = sdk_guard.current_guard()
            assert guard is not None and guard.extensions == ["acme"]
            acme = guard.import_extension("acme")
            assert acme.read({str(data / "public" / "hello.txt")!r}) == "hello"
            with pytest.raises(sdk_guard.PolicyViolation):
                acme.read("/etc/passwd")

        @pytest.mark.sdk_guard_policy("policy.toml", variables={{"data": {str(data)!r}}})
        def test_guarded_failure_is_reported():
            acme = sdk_guard.current_guard().import_extension("acme")
            acme.read("/etc/passwd")

        def test_unmarked_test_runs_unguarded():
            assert sdk_guard.current_guard() is None
    ''')
    res.assert_outcomes(passed=2, failed=1)
    assert _outcome(res, "test_guarded_failure_is_reported") == "FAILED"
    out = res.stdout.str()
    assert "under policy" in out and "PolicyViolation" in out
