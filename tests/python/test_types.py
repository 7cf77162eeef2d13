"""The package type-checks under mypy --strict against its own _guard.pyi stub."""
from __future__ import annotations

import subprocess
import sys

from _support.child import ROOT


def test_package_is_clean_under_mypy_strict() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental",
         "--cache-dir=/dev/null", str(ROOT / "python" / "sdk_guard")],
        capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout + proc.stderr
