"""The build's single sources of truth: one version string, one C warning set."""
from __future__ import annotations

import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest

import sdk_guard
from _support.child import ROOT
from sdk_guard import _guard


def _warning_flags() -> list[str]:
    lines = (ROOT / "src" / "warnings.txt").read_text().splitlines()
    return [line.strip() for line in lines if line.strip().startswith("-")]


def test_version_comes_from_pyproject_into_the_extension() -> None:
    with open(ROOT / "pyproject.toml", "rb") as f:
        version = tomllib.load(f)["project"]["version"]
    assert _guard.__version__ == version
    assert sdk_guard.__version__ == version


def test_setup_and_cmake_read_the_one_warning_set() -> None:
    assert "-Werror" in _warning_flags()
    for build_file in ("setup.py", "CMakeLists.txt"):
        assert "src/warnings.txt" in (ROOT / build_file).read_text(), build_file


def test_warning_set_turns_a_warning_into_a_build_failure(tmp_path: Path) -> None:
    cc = shutil.which("cc")
    if cc is None:
        pytest.skip("no C compiler (cc) on PATH")
    src = tmp_path / "w.c"
    src.write_text("int f(void);\nint f(void) { int shadow = 1; { int shadow = 2; "
                   "return shadow; } }\n")
    clean = subprocess.run([cc, "-c", "-o", str(tmp_path / "w.o"), str(src)],
                           capture_output=True, text=True)
    assert clean.returncode == 0, clean.stderr
    strict = subprocess.run([cc, *_warning_flags(), "-c", "-o", str(tmp_path / "w.o"),
                             str(src)], capture_output=True, text=True)
    assert strict.returncode != 0
    assert "-Werror=shadow" in strict.stderr
