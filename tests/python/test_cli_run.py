"""``python -m sdk_guard run``: the guard installed from a policy, then the program run as
python would run it (argv, __main__, sys.path[0], exit status, traceback)."""
from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from _support.child import child_env

POLICY = """
version = 1

[extensions.acme]
package = "acme"
imports.allow = ["os"]
"""

MAIN = """
import sys
import sdk_guard

guard = sdk_guard.current_guard()
print("name", __name__, "argv", sys.argv[1:], "guard", guard.extensions)
print("path0", sys.path[0])
acme = guard.import_extension("acme")
if "attack" in sys.argv:
    acme.secret()
if "caught" in sys.argv:
    try:
        acme.secret()
    except sdk_guard.PolicyViolation as exc:
        print("denied", exc.capability, exc.target)
sys.exit(int(sys.argv[1]) if sys.argv[1:] and sys.argv[1].isdigit() else 0)
"""


@pytest.fixture
def app(tmp_path: Path) -> Path:
    (tmp_path / "policy.toml").write_text(textwrap.dedent(POLICY))
    (tmp_path / "acme").mkdir()
    (tmp_path / "acme" / "__init__.py").write_text(
        "def secret():\n    return open('/etc/passwd').read()\n")
    (tmp_path / "app.py").write_text(textwrap.dedent(MAIN))
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "__init__.py").write_text("")
    (tmp_path / "pkg" / "__main__.py").write_text(textwrap.dedent(MAIN))
    return tmp_path


def _run(app: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "sdk_guard", "run", *args], cwd=app,
                          env=child_env(), capture_output=True, text=True, timeout=120)


def test_run_script_gets_argv_main_and_its_exit_status(app: Path) -> None:
    out = _run(app, "--policy", "policy.toml", "app.py", "7", "--policy", "x", "caught")
    assert out.returncode == 7, out.stderr
    assert "name __main__ argv ['7', '--policy', 'x', 'caught'] guard ['acme']" in out.stdout
    assert f"path0 {app}" in out.stdout
    assert "denied fs.read /etc/passwd" in out.stdout


def test_run_module_with_dash_m(app: Path) -> None:
    out = _run(app, "--policy", "policy.toml", "-m", "pkg", "3", "--flag")
    assert out.returncode == 3, out.stderr
    assert "name __main__ argv ['3', '--flag'] guard ['acme']" in out.stdout


def test_run_prints_the_programs_traceback_and_exits_1(app: Path) -> None:
    out = _run(app, "--policy", "policy.toml", "app.py", "attack")
    assert out.returncode == 1
    # (the default audit sink may print the denial record before it)
    err = out.stderr[out.stderr.index("Traceback (most recent call last):"):]
    assert 'app.py", line 10, in <module>' in err and "acme.secret()" in err
    assert "sdk_guard.errors.PolicyViolation: extension 'acme' may not fs.read '/etc/passwd'" in err
    # the runner's own frames are not shown (python shows none of its own either)
    assert "runpy" not in err and "_cli/run.py" not in err


def test_run_with_a_bad_policy_exits_2_before_the_program_starts(app: Path) -> None:
    (app / "bad.toml").write_text("version = 1\n[extensions.acme]\npackage = 'acme'\n"
                                  "fs.raed = []\n")
    (app / "marker.py").write_text(f"open({str(app / 'ran')!r}, 'w').close()\n")
    out = _run(app, "--policy", "bad.toml", "marker.py")
    assert out.returncode == 2
    assert "invalid policy: extensions.acme.fs.raed: unknown key" in out.stderr
    assert not (app / "ran").exists()
    missing = _run(app, "--policy", "nope.toml", "marker.py")
    assert missing.returncode == 2 and "cannot read policy" in missing.stderr
    assert not (app / "ran").exists()


def test_run_lockdown_confines_the_program_and_allow_read_widens_it(
        app: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    secret_dir = tmp_path_factory.mktemp("outside")
    (secret_dir / "f.txt").write_text("data")
    (app / "reader.py").write_text(textwrap.dedent(f"""
        import sys
        try:
            print("read", open({str(secret_dir / 'f.txt')!r}).read())
        except PermissionError as exc:
            print("refused", exc.errno)
    """))
    (app / "lock.toml").write_text(textwrap.dedent(POLICY) + '\n[lockdown]\nseccomp = "off"\n')
    locked = _run(app, "--policy", "lock.toml", "--lockdown", "reader.py")
    assert locked.returncode == 0, locked.stderr
    assert "refused 13" in locked.stdout
    widened = _run(app, "--policy", "lock.toml", "--lockdown", "--allow-read",
                   str(secret_dir), "reader.py")
    assert "read data" in widened.stdout, widened.stderr
    no_lockdown = _run(app, "--policy", "lock.toml", "--allow-read", str(secret_dir),
                       "reader.py")
    assert no_lockdown.returncode == 2 and "needs --lockdown" in no_lockdown.stderr


def test_run_configures_the_policys_audit_sinks(app: Path) -> None:
    trail = app / "trail.jsonl"
    (app / "audited.toml").write_text(textwrap.dedent(POLICY) + textwrap.dedent(f"""
        [audit]
        sinks = [{{type = "jsonl", path = "{trail}"}}]
    """))
    out = _run(app, "--policy", "audited.toml", "app.py", "caught")
    assert out.returncode == 0, out.stderr
    import json
    records = [json.loads(line) for line in trail.read_text().splitlines()]
    assert any(r["decision"] == "deny" and r["capability"] == "fs.read"
               and r["target"] == "/etc/passwd" and r["principal"] == "acme" for r in records)
