"""``python -m sdk_guard check`` and ``version``, and the list of subcommands."""
from __future__ import annotations

import argparse
import importlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

import sdk_guard._cli
from _support.child import ROOT, child_env
from sdk_guard._cli import COMMANDS, build_parser
from sdk_guard._cli import check as cli_check
from sdk_guard._cli import version as cli_version
from sdk_guard.policy import Policy

GOOD = """
version = 1
[host]
trusted = ["myapp", "sdk"]
private = ["myapp"]
hints = { "myapp.db" = "use sdk.database instead" }
data = "/srv/app"
[extensions.acme]
package = "acme"
imports.allow = ["sdk", "@pure"]
fs.read = ["{data}/acme"]
net.connect = ["api.example.com:443"]
approve = ["net.connect"]
"""

BAD_PORT = GOOD.replace("api.example.com:443", "api.example.com:70000")


def run_module(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "sdk_guard", *args], cwd=ROOT,
                          env=child_env(), capture_output=True, text=True, timeout=60)


def run_inline(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command", required=True)
    cli_check.register(sub)
    cli_version.register(sub)
    ns = parser.parse_args(list(args))
    rc = ns.func(ns)
    out, err = capsys.readouterr()
    return rc, out, err


@pytest.fixture
def good(tmp_path: Path) -> Path:
    p = tmp_path / "policy.toml"
    p.write_text(GOOD)
    return p


def test_check_prints_the_resolved_policy_as_toml_that_loads_again(
        good: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, err = run_inline(capsys, "check", str(good))
    assert rc == 0 and err == ""
    assert "valid" in out.splitlines()[0]
    assert 'fs.read = ["/srv/app/acme"]' in out
    again = tmp_path / "resolved.toml"
    again.write_text(out)
    assert Policy.from_toml(again).data == Policy.from_toml(good).data


def test_check_json_and_spec(good: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, _ = run_inline(capsys, "check", "--json", str(good))
    assert rc == 0
    assert json.loads(out) == Policy.from_toml(good).data
    rc, out, _ = run_inline(capsys, "check", "--json", "--spec", str(good))
    doc = json.loads(out)
    assert doc["spec"]["extensions"][0]["net_resolve"] == ["api.example.com"]


def test_check_bad_policy_exits_1_with_key_and_fix_on_stderr(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(BAD_PORT)
    rc, out, err = run_inline(capsys, "check", str(bad))
    assert rc == 1 and out == ""
    assert "extensions.acme.net.connect[0]" in err and "1..65535" in err


def test_check_missing_file_and_variables(tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    rc, _, err = run_inline(capsys, "check", str(tmp_path / "nope.toml"))
    assert rc == 1 and "cannot read policy" in err
    p = tmp_path / "p.toml"
    p.write_text(GOOD.replace('data = "/srv/app"\n', ""))
    rc, _, err = run_inline(capsys, "check", str(p))
    assert rc == 1 and "host.data" in err
    rc, out, _ = run_inline(capsys, "check", "--var", "data=/opt/d", "--json", str(p))
    assert rc == 0 and json.loads(out)["extensions"]["acme"]["fs"]["read"] == ["/opt/d/acme"]
    rc, _, err = run_inline(capsys, "check", "--var", "data", str(p))
    assert rc == 2 and "write NAME=VALUE" in err


def test_version_reports_versions_and_free_threading(capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, _ = run_inline(capsys, "version")
    assert rc == 0
    assert out.startswith("sdk_guard ")
    assert "_guard" in out and "python" in out and "free-threaded build: no" in out
    rc, out, _ = run_inline(capsys, "version", "--json")
    info = json.loads(out)
    assert info["python"] == "%d.%d.%d" % sys.version_info[:3]
    assert info["free_threaded"] is False


def test_python_m_sdk_guard_check_and_version(good: Path, tmp_path: Path) -> None:
    proc = run_module("check", str(good))
    assert proc.returncode == 0, proc.stderr
    assert "[extensions.acme]" in proc.stdout
    bad = tmp_path / "bad.toml"
    bad.write_text(BAD_PORT)
    proc = run_module("check", str(bad))
    assert proc.returncode == 1
    assert "extensions.acme.net.connect[0]" in proc.stderr
    proc = run_module("version")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("sdk_guard ")


def test_python_m_sdk_guard_probe_and_explain(tmp_path: Path) -> None:
    probe = subprocess.run([sys.executable, "-m", "sdk_guard", "probe"], capture_output=True,
                    text=True, env=child_env())
    assert probe.returncode == 0, probe.stderr
    facts = json.loads(probe.stdout)
    assert facts["landlock"]["abi"] >= 1          # this machine's kernel has Landlock
    assert "seccomp" in facts

    pol = tmp_path / "p.toml"
    pol.write_text('version = 1\n[lockdown]\nfs.read = ["/usr"]\nseccomp = "errno"\n')
    explain = subprocess.run([sys.executable, "-m", "sdk_guard", "explain", str(pol)],
                      capture_output=True, text=True, env=child_env())
    assert explain.returncode == 0, explain.stderr
    out = explain.stdout
    for name in ("execve", "ptrace", "bpf", "userfaultfd"):
        assert name in out
    assert "/usr" in out                           # the Landlock rule the policy adds


def test_every_cli_module_is_listed_and_registers_the_command_it_is_listed_as() -> None:
    # A module added to sdk_guard/_cli but not to COMMANDS would never be reachable, and
    # one registering another name would make --help and COMMANDS disagree.
    modules = {p.stem for p in Path(sdk_guard._cli.__file__).parent.glob("*.py")
               if not p.stem.startswith("_")}
    assert {importlib.import_module(f"sdk_guard._cli.{m}") for m in modules} == set(COMMANDS.values())
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    assert list(sub.choices) == list(COMMANDS)
