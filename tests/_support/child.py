"""Runs code in fresh child interpreters: audit hooks, Landlock domains and seccomp
filters can never be removed, so every test that installs one runs in a fresh
interpreter (the habit of CPython's Lib/test/test_audit.py).  A child runs either a
program from tests/_support/children/ (``run_program``) or a short inline string
(``run_child``)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
PYTHON_DIR = ROOT / "python"
# The programs children run, as files: ruff and mypy check them like any module.
CHILDREN = Path(__file__).resolve().parent / "children"


def child_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(PYTHON_DIR)] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    env.pop("PYTHONSTARTUP", None)
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    if extra:
        env.update(extra)
    return env


def run_child(code: str, *, cwd: str | os.PathLike[str] | None = None,
              env: dict[str, str] | None = None, timeout: float = 120,
              args: list[str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run CODE (dedented) in a fresh interpreter; returns the completed process."""
    return subprocess.run(
        [sys.executable, "-X", "faulthandler", "-c", textwrap.dedent(code), *(args or [])],
        cwd=cwd, env=child_env(env), capture_output=True, text=True, timeout=timeout)


def program(name: str) -> str:
    """The path of the child program NAME (a file in tests/_support/children/)."""
    path = CHILDREN / f"{name}.py"
    if not path.is_file():
        raise FileNotFoundError(f"no child program {name!r} in {CHILDREN}")
    return str(path)


def run_program(name: str, *args: str, cwd: str | os.PathLike[str] | None = None,
                env: dict[str, str] | None = None,
                timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run the child program NAME with ARGS in a fresh interpreter."""
    return subprocess.run(
        [sys.executable, "-X", "faulthandler", program(name), *args],
        cwd=cwd, env=child_env(env), capture_output=True, text=True, timeout=timeout)


def run_program_json(name: str, *args: str, **kw: Any) -> Any:
    """Run the child program NAME, which must print one JSON document as its last
    stdout line."""
    return _last_json(run_program(name, *args, **kw))


def run_child_json(code: str, **kw: Any) -> Any:
    """Run CODE, which must print one JSON document as its last stdout line."""
    return _last_json(run_child(code, **kw))


def _last_json(proc: subprocess.CompletedProcess[str]) -> Any:
    if proc.returncode != 0:
        raise AssertionError(
            f"child exited {proc.returncode}\n--- stdout\n{proc.stdout}\n--- stderr\n{proc.stderr}")
    lines = [ln for ln in proc.stdout.splitlines() if ln.strip()]
    if not lines:
        raise AssertionError(f"child printed nothing\n--- stderr\n{proc.stderr}")
    return json.loads(lines[-1])


def write_tree(base: Path, files: dict[str, str]) -> Path:
    """Create FILES (relative path -> dedented text) under BASE; returns BASE."""
    for rel, text in files.items():
        p = base / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(textwrap.dedent(text))
    return base
