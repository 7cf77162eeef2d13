"""``python -m sdk_guard learn``: a monitored run of the demo (examples/host_app.py) gives a
proposed policy under which the demo's good extension still passes and the hostile one
is still fully denied; the same from a recorded trail; host-private modules and risky
grants are never proposed."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path

import pytest

from _support.child import ROOT, child_env

EXAMPLES = ROOT / "examples"


def _learn(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "sdk_guard", "learn", *args], cwd=cwd,
                          env=child_env(), capture_output=True, text=True, timeout=300)


def _demo_with(policy_text: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    demo = tmp_path / "examples"
    shutil.copytree(EXAMPLES, demo, ignore=shutil.ignore_patterns("__pycache__"))
    (demo / "policy.toml").write_text(policy_text)
    return subprocess.run([sys.executable, str(demo / "host_app.py")], cwd=tmp_path,
                          env=child_env(), capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def learned(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str, str]:
    work = tmp_path_factory.mktemp("learn")
    out = _learn("--policy", str(EXAMPLES / "policy.toml"), "--out", str(work / "p.toml"),
                 "--", sys.executable, str(EXAMPLES / "host_app.py"), cwd=work)
    assert out.returncode == 0, out.stderr
    return (work / "p.toml").read_text(), out.stdout, out.stderr


def test_learned_policy_lets_the_good_extension_pass_and_denies_every_hostile_action(
        learned: tuple[str, str, str], tmp_path: Path) -> None:
    proposed, _, _ = learned
    policy = tomllib.loads(proposed)
    good = policy["extensions"]["good_ext"]
    assert good["fs"]["read"] == ["{data}/good_ext"]
    assert good["fs"]["write"] == ["{data}/good_ext/out"]
    assert "os" in good["imports"]["allow"] and "json" in good["imports"]["allow"]
    run = _demo_with(proposed, tmp_path)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "OK: 4 good actions allowed, 9 hostile actions denied" in run.stdout


def test_learn_leaves_risky_grants_as_comments_and_never_proposes_private_modules(
        learned: tuple[str, str, str]) -> None:
    proposed, stdout, stderr = learned
    evil = tomllib.loads(proposed)["extensions"]["evil_ext"]
    for cap in ("process", "native", "introspection", "dynamic_code", "net", "fs"):
        assert cap not in evil, f"evil_ext was granted {cap}: {evil}"
    assert not any(m.startswith("hostapp") for m in evil["imports"]["allow"])
    assert "# refused: import hostapp.db: host-private module: never proposed" in proposed
    for line in ('# process.spawn = true   # RISKY: starting a process',
                 '# native = true   # RISKY: native code',
                 '# dynamic_code = true   # RISKY:',
                 '# introspection = true   # RISKY:',
                 '# net.connect = ["127.0.0.1:9"]   # RISKY: a loopback address',
                 '# fs.read = ["/etc"]   # RISKY: reads outside the data directory'):
        assert line in proposed, line
    # the diff shows the unused grant dropped and the preset replaced by what was used
    assert "--- current evil_ext" in stdout and '-    "{data}/evil_ext",' in stdout
    assert '-    "@pure",' in stdout and '+    "json",' in stdout
    assert "learn: the program exited 1" in stderr      # monitor mode let evil_ext through


def test_learn_from_a_recorded_trail(tmp_path: Path) -> None:
    trail = tmp_path / "trail.jsonl"
    run = subprocess.run([sys.executable, str(EXAMPLES / "host_app.py")], cwd=tmp_path,
                         env=child_env({"SDK_GUARD_LEARN": str(trail)}), capture_output=True,
                         text=True, timeout=300)
    assert "SDK_GUARD_LEARN is set: monitor mode, nothing is enforced" in run.stderr
    out = _learn("--policy", str(EXAMPLES / "policy.toml"), "--from-trail", str(trail),
                 cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert '"{data}/good_ext/out",' in out.stdout
    assert "# native = true   # RISKY" in out.stdout


def test_learn_reports_a_program_that_never_installed_the_guard(tmp_path: Path) -> None:
    (tmp_path / "plain.py").write_text("print('no guard here')\n")
    out = _learn("--policy", str(EXAMPLES / "policy.toml"), "--", sys.executable,
                 str(tmp_path / "plain.py"), cwd=tmp_path)
    assert out.returncode == 1
    assert "never installed sdk_guard" in out.stderr and "--startup" in out.stderr


def test_learn_with_a_bad_policy_exits_2(tmp_path: Path) -> None:
    (tmp_path / "bad.toml").write_text("version = 3\n")
    out = _learn("--policy", str(tmp_path / "bad.toml"), "--from-trail", os.devnull,
                 cwd=tmp_path)
    assert out.returncode == 2 and "version: must be 1" in out.stderr


@pytest.mark.parametrize(("name", "content", "message"), [
    ("policy.yaml", b"version: 1\n", "unknown policy file type '.yaml'"),
    ("policy.toml", b"version = 1\n# \xff\n", "not UTF-8 text (byte 0xff"),
    ("policy.json", b"{\"version\": 1,}", "not valid JSON"),
])
def test_learn_refuses_an_unreadable_policy_file_as_the_loader_does(
        tmp_path: Path, name: str, content: bytes, message: str) -> None:
    # learn reads the raw document through the same reader as Policy.from_file: a
    # .yaml file is an unknown type (not a TOML syntax error), bad bytes say where.
    (tmp_path / name).write_bytes(content)
    out = _learn("--policy", str(tmp_path / name), "--from-trail", os.devnull,
                 cwd=tmp_path)
    assert out.returncode == 2 and message in out.stderr, out.stderr
    assert "Traceback" not in out.stderr


def test_learn_keeps_every_other_section_of_the_policy(tmp_path: Path) -> None:
    from sdk_guard import Policy
    (tmp_path / "p.toml").write_text(textwrap.dedent("""
        version = 1
        [guard]
        mode = "enforce"
        [host]
        trusted = ["hostapp"]
        [extensions.acme]
        package = "acme"
        [egress]
        connect = ["10.0.0.5:5432"]
        [media]
        schemes = ["https"]
        [audit]
        sinks = [{type = "jsonl", path = "{tmp}/x.jsonl"}]
    """))
    (tmp_path / "empty.jsonl").write_text("")
    out = _learn("--policy", str(tmp_path / "p.toml"), "--from-trail",
                 str(tmp_path / "empty.jsonl"), "--out", str(tmp_path / "new.toml"), cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    proposed = Policy.from_toml(tmp_path / "new.toml")
    original = Policy.from_toml(tmp_path / "p.toml")
    for section in ("guard", "host", "egress", "media", "audit"):
        assert original.data.get(section) is not None, section
        assert proposed.data[section] == original.data[section], section


def test_learned_path_with_braces_loads_and_expands_back_to_the_path(tmp_path: Path) -> None:
    """A path with literal braces is proposed with them doubled: the proposed policy
    loads, and its grant expands to the very path the extension used."""
    import sdk_guard as sg
    from sdk_guard import _learn
    data = tmp_path / "data"
    inside = data / "we{ir}d"
    outside = tmp_path / "x{y}"
    for d in (inside, outside):
        d.mkdir(parents=True)
    records = [{"layer": "guard", "decision": "allow", "principal": "acme",
                "capability": "fs.read", "target": str(d / "f.txt")}
               for d in (inside, outside)]
    props = _learn.propose(records, {"extensions": {"acme": {"package": "acme"}}},
                           {}, {"data": str(data)})
    values = sorted(g.value for g in props["acme"].grants if g.key == "fs.read")
    assert values == sorted(["{data}/we{{ir}}d", str(outside).replace("{", "{{")
                             .replace("}", "}}")])
    policy = sg.Policy.from_dict({"version": 1, "host": {"data": str(data)},
                                  "extensions": {"acme": {"package": "acme",
                                                          "fs": {"read": values}}}})
    assert sorted(policy.to_spec()["extensions"][0]["fs_read"]) == sorted(
        [str(inside), str(outside)])
