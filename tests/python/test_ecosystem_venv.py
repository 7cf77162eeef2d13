"""sdk_guard as a platform team meets it: pip-installed into a fresh virtual environment.

The wheel is built once per module from a copy of the source tree (so the checkout
gains no build/ or egg-info), installed into a venv under /tmp, and every test here
runs that venv's interpreter: the SDK_GUARD_POLICY start-up hook (.pth), the
``sdk-guard`` console script, the pytest11 entry point and entry-point plugins of
distributions installed next to it.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import venv
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from _support.child import ROOT

STARTUP_POLICY = """
version = 1

[host]
trusted = ["hostmain"]

[extensions.acme]
package = "acme"
path = "plugins"
imports.allow = ["os"]
"""


class Venv:
    def __init__(self, root: Path, wheel: Path) -> None:
        self.root = root
        self.wheel = wheel
        self.python = root / "bin" / "python"
        self.bin = root / "bin"

    def env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items()
               if k not in ("PYTHONPATH", "SDK_GUARD_POLICY", "SDK_GUARD_DISABLE",
                            "SDK_GUARD_LOCKDOWN", "SDK_GUARD_DATA", "PYTEST_ADDOPTS")}
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        env.update(extra)
        return env

    def run(self, args: list[str], *, cwd: Path | None = None, timeout: float = 120,
            **extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(args, cwd=cwd, env=self.env(**extra), capture_output=True,
                              text=True, timeout=timeout)

    def py(self, *args: str, cwd: Path | None = None, **extra: str
           ) -> subprocess.CompletedProcess[str]:
        return self.run([str(self.python), *args], cwd=cwd, **extra)

    def pip_install(self, *targets: str) -> None:
        out = self.py("-m", "pip", "install", "-q", "--no-deps", "--no-index",
                      "--no-build-isolation", "--disable-pip-version-check", *targets)
        assert out.returncode == 0, out.stdout + out.stderr


def _copy_source(dest: Path) -> None:
    """The files a wheel is built from (no build products, no caches)."""
    dest.mkdir(parents=True, exist_ok=True)
    for name in ("pyproject.toml", "setup.py", "README.md", "LICENSE"):
        if (ROOT / name).exists():
            shutil.copy2(ROOT / name, dest / name)
    for top in ("python", "src"):
        for path in (ROOT / top).rglob("*"):
            if not path.is_file() or "__pycache__" in path.parts \
                    or path.suffix in (".so", ".o", ".pyc"):
                continue
            target = dest / path.relative_to(ROOT)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target)


@pytest.fixture(scope="module")
def installed() -> Iterator[Venv]:
    for mod in ("setuptools", "wheel"):
        try:
            __import__(mod)
        except ImportError:
            pytest.fail(f"{mod} is needed to build the wheel (requirements-dev.txt lists it)")
    base = Path(tempfile.mkdtemp(prefix="sdk_guard-venv-"))
    try:
        src = base / "src"
        _copy_source(src)
        build = subprocess.run(
            [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
             "--disable-pip-version-check", "-w", str(base / "dist"), str(src)],
            capture_output=True, text=True, timeout=600)
        assert build.returncode == 0, build.stdout + build.stderr
        wheel = next((base / "dist").glob("sdk_guard-*.whl"))
        # System site-packages give the venv pytest and OpenTelemetry without a network;
        # sdk_guard itself is never installed there.
        venv.EnvBuilder(system_site_packages=True, with_pip=False, symlinks=True).create(
            base / "venv")
        v = Venv(base / "venv", wheel)
        v.pip_install(str(wheel))      # the system's pip, run by the venv's interpreter
        yield v
    finally:
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def app(tmp_path: Path) -> Path:
    (tmp_path / "policy.toml").write_text(textwrap.dedent(STARTUP_POLICY))
    (tmp_path / "plugins" / "acme").mkdir(parents=True)
    (tmp_path / "plugins" / "acme" / "__init__.py").write_text(
        "def secret():\n    return open('/etc/passwd').read()\n")
    (tmp_path / "hostmain.py").write_text(textwrap.dedent("""
        import sys
        import sdk_guard
        guard = sdk_guard.current_guard()
        print("guard", None if guard is None else guard.extensions)
        if guard is not None and "--attack" in sys.argv:
            acme = guard.import_extension("acme")
            try:
                acme.secret()
            except sdk_guard.PolicyViolation as exc:
                print("denied", exc.capability, exc.target)
        if guard is not None and "--crash" in sys.argv:
            guard.import_extension("acme").secret()
    """))
    return tmp_path


def test_wheel_ships_the_startup_pth_with_the_line_startup_checks(installed: Venv) -> None:
    from sdk_guard import _startup
    with zipfile.ZipFile(installed.wheel) as whl:
        assert whl.read(_startup.PTH_NAME).decode() == _startup.PTH_LINE
    # The line imports nothing: `import os` is site's own, the rest is a dict lookup.
    assert _startup.PTH_LINE.startswith("import os; os.environ.get(\"SDK_GUARD_POLICY\") and ")


def test_wheel_ships_every_python_file_of_the_package(installed: Venv) -> None:
    """Every module and subpackage in the source tree is in the wheel (a hand-kept
    package list once left sdk_guard.egress out, so `sdk-guard egress` failed when
    installed)."""
    src = ROOT / "python"
    expected = {p.relative_to(src).as_posix() for p in (src / "sdk_guard").rglob("*.py")
                if "__pycache__" not in p.parts}
    with zipfile.ZipFile(installed.wheel) as whl:
        shipped = {n for n in whl.namelist() if n.endswith(".py")}
    assert expected - shipped == set()
    out = installed.py("-c", "import sdk_guard.egress, sdk_guard._cli, sdk_guard.data")
    assert out.returncode == 0, out.stderr


def test_sdk_guard_policy_env_installs_the_guard_before_user_code(installed: Venv,
                                                                   app: Path) -> None:
    out = installed.py("hostmain.py", "--attack", cwd=app,
                       SDK_GUARD_POLICY=str(app / "policy.toml"))
    assert out.returncode == 0, out.stderr
    assert "guard ['acme']" in out.stdout
    assert "denied fs.read /etc/passwd" in out.stdout
    as_module = installed.py("-m", "hostmain", "--attack", cwd=app,
                             SDK_GUARD_POLICY=str(app / "policy.toml"))
    assert as_module.returncode == 0, as_module.stderr
    assert "denied fs.read /etc/passwd" in as_module.stdout
    crash = installed.py("hostmain.py", "--crash", cwd=app,
                         SDK_GUARD_POLICY=str(app / "policy.toml"))
    assert crash.returncode == 1
    # the interpreter's own traceback, source lines included
    assert "guard.import_extension(\"acme\").secret()" in crash.stderr
    assert "PolicyViolation: extension 'acme' may not fs.read '/etc/passwd'" in crash.stderr


def test_startup_costs_nothing_when_unset_and_can_be_disabled(installed: Venv,
                                                               app: Path) -> None:
    probe = ("import sys; print(sorted(m for m in sys.modules if m.startswith('sdk_guard')))")
    unset = installed.py("-c", probe, cwd=app)
    assert unset.returncode == 0 and unset.stdout.strip() == "[]", unset.stderr
    disabled = installed.py("-c", probe, cwd=app, SDK_GUARD_POLICY=str(app / "policy.toml"),
                            SDK_GUARD_DISABLE="1")
    assert disabled.stdout.strip() == "[]", disabled.stderr
    on = installed.py("-c", probe, cwd=app, SDK_GUARD_POLICY=str(app / "policy.toml"))
    assert "sdk_guard._startup" in on.stdout and "sdk_guard._guard" in on.stdout


def test_startup_refuses_to_start_on_a_bad_policy(installed: Venv, app: Path) -> None:
    (app / "bad.toml").write_text("version = 1\n[extensions.acme]\npackage = 'acme'\n"
                                  "net.conect = []\n")
    marker = app / "user-code-ran"
    out = installed.py("-c", f"open({str(marker)!r}, 'w').close()", cwd=app,
                       SDK_GUARD_POLICY=str(app / "bad.toml"))
    assert out.returncode == 2
    assert "extensions.acme.net.conect: unknown key" in out.stderr
    assert "refusing to start" in out.stderr
    assert not marker.exists()
    missing = installed.py("-c", "pass", cwd=app, SDK_GUARD_POLICY=str(app / "nope.toml"))
    assert missing.returncode == 2 and "cannot read policy" in missing.stderr


def test_console_script_offers_run(installed: Venv, app: Path) -> None:
    out = installed.run([str(installed.bin / "sdk-guard"), "run", "--policy",
                         str(app / "policy.toml"), "hostmain.py", "--attack"], cwd=app)
    assert out.returncode == 0, out.stderr
    assert "denied fs.read /etc/passwd" in out.stdout
    check = installed.run([str(installed.bin / "sdk-guard"), "check",
                           str(app / "policy.toml")], cwd=app)
    assert check.returncode == 0 and "valid" in check.stdout


def test_pytest11_entry_point_registers_the_plugin(installed: Venv, app: Path) -> None:
    (app / "test_intent.py").write_text(textwrap.dedent("""
        import os

        def test_acme_cannot_read_passwd(sdk_guard_run):
            r = sdk_guard_run("policy.toml", extension="acme", call="acme.secret")
            r.assert_denied(capability="fs.read", target="/etc/passwd")
    """))
    out = installed.py("-m", "pytest", "-q", "-p", "no:cacheprovider", "test_intent.py",
                       cwd=app)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "1 passed" in out.stdout
    # -p with the module name is the same plugin, not a second registration.
    again = installed.py("-m", "pytest", "-q", "-p", "no:cacheprovider", "-p",
                         "sdk_guard.pytest_plugin", "test_intent.py", cwd=app)
    assert again.returncode == 0, again.stdout + again.stderr


def test_learn_startup_monitors_a_host_that_does_not_install_the_guard(installed: Venv,
                                                                       app: Path) -> None:
    out = installed.run([str(installed.bin / "sdk-guard"), "learn", "--policy",
                         str(app / "policy.toml"), "--startup", "--", str(installed.python),
                         "hostmain.py", "--attack"], cwd=app)
    assert out.returncode == 0, out.stderr
    assert "guard ['acme']" in out.stderr          # the program's output goes to stderr
    assert "denied" not in out.stderr              # monitor mode: nothing refused
    assert '# fs.read = ["/etc"]   # RISKY: reads outside the data directory' in out.stdout


# ---- entry-point plugins: two small distributions installed next to sdk_guard -----------

_DISTS = {
    "acme-plugin": {
        "entry_points": {"acme": "acme_plugin:Plugin",
                         "acme_broken": "acme_plugin.broken:thing"},
        "files": {
            "acme_plugin/__init__.py": """
                class Plugin:
                    def run(self, path):
                        with open(path) as f:
                            return f.read()
            """,
            "acme_plugin/broken.py": "raise RuntimeError('acme_plugin.broken cannot start')\n",
        },
    },
    "rogue-plugin": {
        "entry_points": {"rogue": "rogue_plugin:steal"},
        "files": {
            "rogue_plugin/__init__.py": """
                import os
                open(os.environ["ROGUE_MARKER"], "w").close()   # proof it was imported

                def steal():
                    return open("/etc/passwd").read()
            """,
        },
    },
}

PLUGIN_HOST = """
import json, os, sys
import sdk_guard as sg

policy = sg.Policy.from_toml(sys.argv[1], variables={"data": os.environ["DATA"]})
sink = sg.audit.MemorySink()
sg.audit.add_sink(sink)
guard = sg.install(policy)
out = {}
try:
    res = guard.load_entry_points("myapp.plugins")
except sg.GuardError as exc:
    print(json.dumps({"guard_error": str(exc)}))
    sys.exit(0)
out["loaded"] = sorted(res.loaded)
out["extension_of"] = res.extension_of
out["errors"] = [[e.entry_point, e.distribution, e.extension, e.reason] for e in res.errors]
plugin = res.loaded["acme"]()
out["allowed"] = plugin.run(os.path.join(os.environ["DATA"], "in.txt"))
try:
    plugin.run("/etc/passwd")
    out["passwd"] = "read"
except sg.PolicyViolation as exc:
    out["passwd"] = [exc.principal, exc.capability, exc.rule]
sg.audit.flush()
out["denials"] = [[r["principal"], r["capability"], r["target"], r["rule"], r.get("distribution")]
                  for r in sink.records if r["decision"] == "deny"]
print(json.dumps(out))
"""

PLUGIN_POLICY = """
version = 1

[extensions.acme]
distribution = "acme-plugin"
fs.read = ["{data}"]
"""


@pytest.fixture(scope="module")
def with_plugins(installed: Venv, tmp_path_factory: pytest.TempPathFactory) -> Venv:
    base = tmp_path_factory.mktemp("dists")
    for name, spec in _DISTS.items():
        src = base / name
        eps = "\n".join(f'{k} = "{v}"' for k, v in spec["entry_points"].items())
        pkg = next(iter(spec["files"])).split("/")[0]
        files = {"pyproject.toml": f"""
            [build-system]
            requires = ["setuptools>=64"]
            build-backend = "setuptools.build_meta"

            [project]
            name = "{name}"
            version = "1.0"

            [project.entry-points."myapp.plugins"]
            {eps}

            [tool.setuptools]
            packages = ["{pkg}"]
        """, **spec["files"]}
        for rel, text in files.items():
            (src / rel).parent.mkdir(parents=True, exist_ok=True)
            (src / rel).write_text(textwrap.dedent(text).lstrip())
        installed.pip_install(str(src))
    return installed


def _plugin_host(v: Venv, tmp_path: Path, policy: str) -> dict[str, object]:
    import json
    data = tmp_path / "data"
    data.mkdir()
    (data / "in.txt").write_text("plugin input")
    (tmp_path / "host.py").write_text(PLUGIN_HOST)
    (tmp_path / "policy.toml").write_text(textwrap.dedent(policy))
    out = v.py("host.py", str(tmp_path / "policy.toml"), cwd=tmp_path, DATA=str(data),
               ROGUE_MARKER=str(tmp_path / "rogue-imported"))
    assert out.returncode == 0, out.stdout + out.stderr
    result: dict[str, object] = json.loads(out.stdout.strip().splitlines()[-1])
    result["_stderr"] = out.stderr
    return result


def test_entry_point_plugins_load_as_their_distributions_extension(with_plugins: Venv,
                                                                   tmp_path: Path) -> None:
    r = _plugin_host(with_plugins, tmp_path, PLUGIN_POLICY)
    assert r["loaded"] == ["acme"] and r["extension_of"] == {"acme": "acme"}
    assert r["allowed"] == "plugin input"
    assert r["passwd"] == ["acme", "fs.read", "extensions.acme.fs.read"]


def test_plugin_without_a_policy_is_refused_naming_distribution_and_section(
        with_plugins: Venv, tmp_path: Path) -> None:
    r = _plugin_host(with_plugins, tmp_path, PLUGIN_POLICY)
    rogue = [e for e in r["errors"] if e[0] == "rogue"]   # type: ignore[union-attr]
    assert len(rogue) == 1
    _, dist, ext, reason = rogue[0]
    assert dist == "rogue-plugin" and ext is None
    assert "[extensions.rogue_plugin]" in reason and 'distribution = "rogue-plugin"' in reason
    assert not (tmp_path / "rogue-imported").exists()      # never imported
    assert ["None", "import", "rogue_plugin", "extensions.rogue_plugin.distribution",
            "rogue-plugin"] == [str(x) if x is None else x for x in r["denials"][0]]  # type: ignore[index]


def test_failing_entry_point_is_reported_and_the_others_still_load(with_plugins: Venv,
                                                                   tmp_path: Path) -> None:
    r = _plugin_host(with_plugins, tmp_path, PLUGIN_POLICY)
    broken = [e for e in r["errors"] if e[0] == "acme_broken"]   # type: ignore[union-attr]
    assert broken and broken[0][1] == "acme-plugin" and broken[0][2] == "acme"
    assert "RuntimeError: acme_plugin.broken cannot start" in broken[0][3]
    assert "acme" in r["loaded"]                                 # type: ignore[operator]
    assert "distribution 'acme-plugin'" in str(r["_stderr"])      # logged as a warning


def test_required_plugin_that_fails_stops_loading(with_plugins: Venv, tmp_path: Path) -> None:
    r = _plugin_host(with_plugins, tmp_path, PLUGIN_POLICY + "required = true\n")
    assert "required plugin failed" in str(r["guard_error"])
    assert "acme_broken" in str(r["guard_error"]) and "acme-plugin" in str(r["guard_error"])


def test_distribution_policy_resolves_package_from_record_and_refuses_unknown(
        with_plugins: Venv, tmp_path: Path) -> None:
    code = textwrap.dedent("""
        import sdk_guard as sg
        p = sg.Policy.from_dict({"version": 1, "extensions": {"acme": {
            "distribution": "Acme_Plugin"}}})
        ext = p.extension("acme")
        print(ext["package"], ext["path"].endswith("site-packages"), ext["required"])
        for bad in ({"distribution": "no-such-dist"},
                    {"distribution": "acme-plugin", "package": "rogue_plugin"},
                    {"package": "x", "required": True}):
            try:
                sg.Policy.from_dict({"version": 1, "extensions": {"x": bad}})
            except sg.PolicyError as exc:
                print("ERR", exc)
    """)
    out = with_plugins.py("-c", code, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0] == "acme_plugin True False"
    assert lines[1].startswith("ERR extensions.x.distribution: distribution 'no-such-dist' "
                               "is not installed")
    assert lines[2].startswith("ERR extensions.x.package: 'rogue_plugin' is not installed by "
                               "distribution 'acme-plugin'")
    assert lines[3].startswith("ERR extensions.x.required: applies to entry-point plugins")


def test_startup_data_and_lockdown_variables(installed: Venv, app: Path,
                                             tmp_path_factory: pytest.TempPathFactory) -> None:
    data = tmp_path_factory.mktemp("startup-data")
    (data / "in.txt").write_text("data")
    outside = tmp_path_factory.mktemp("startup-outside")
    (outside / "secret.txt").write_text("secret")
    (app / "locked.toml").write_text(textwrap.dedent(STARTUP_POLICY) + textwrap.dedent("""
        fs.read = ["{data}"]

        [lockdown]
        fs.read = ["{data}"]
        seccomp = "off"
    """))
    (app / "reader.py").write_text(textwrap.dedent(f"""
        import sdk_guard
        acme = sdk_guard.current_guard().import_extension("acme")
        print("policy", sdk_guard.current_guard().policy.extension("acme")["fs"]["read"])
        for p in ({str(data / 'in.txt')!r}, {str(outside / 'secret.txt')!r}):
            try:
                print("read", open(p).read())
            except PermissionError as exc:
                print("refused", exc.errno)
    """))
    out = installed.py("reader.py", cwd=app, SDK_GUARD_POLICY=str(app / "locked.toml"),
                       SDK_GUARD_DATA=str(data), SDK_GUARD_LOCKDOWN="1")
    assert out.returncode == 0, out.stderr
    assert f"policy ['{data}']" in out.stdout
    assert "read data" in out.stdout
    assert "refused 13" in out.stdout          # host code too: the kernel layer is on
