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

from harness import ROOT

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
    tracked = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True,
                             check=True).stdout.decode().split("\0")
    for rel in filter(None, tracked):
        if not rel.startswith(("python/", "src/")) and rel not in (
                "pyproject.toml", "setup.py", "README.md", "LICENSE"):
            continue
        src = ROOT / rel
        if src.is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)
    # Files not yet committed are part of the tree under test too.
    for path in (ROOT / "python" / "sdk_guard").rglob("*"):
        if path.is_file() and path.suffix in (".py", ".json", ".pyi", ".typed") \
                and "__pycache__" not in path.parts:
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
