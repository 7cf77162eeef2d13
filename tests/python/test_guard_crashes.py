"""Crashes the guard once had, each now an exception or a clean run: acting_as_exit()
before install() (a NULL dereference), and install() under ``python -X dev`` and the
debug memory allocators (strings from strdup() freed with PyMem_RawFree() abort
there, on the normal and on the malformed-spec path).  Each runs in a child."""
from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest

from _support.child import child_env, program, run_child


def test_acting_as_exit_before_install_raises_instead_of_crashing() -> None:
    proc = run_child('''
        from sdk_guard import _guard
        for arg in (None, 1, "acme", object()):
            try:
                _guard.acting_as_exit(arg)
            except (TypeError, RuntimeError, ValueError) as exc:
                print(type(exc).__name__)
            else:
                print("returned")
    ''')
    assert proc.returncode == 0, proc.stderr
    assert "returned" not in proc.stdout and len(proc.stdout.split()) == 4, proc.stdout


# INSTALL_AND_DENY: the child program is tests/_support/children/install_and_deny.py.


@pytest.mark.parametrize("how", [["-X", "dev"], ["-X", "dev", "-X", "tracemalloc"], "debug"],
                         ids=["dev", "dev-tracemalloc", "pymalloc-debug"])
def test_install_and_deny_under_dev_mode_and_debug_allocators(how: Any) -> None:
    env = child_env({"PYTHONMALLOC": "debug"} if how == "debug" else None)
    flags = [] if how == "debug" else how
    proc = subprocess.run([sys.executable, *flags, program("install_and_deny")], env=env,
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.split("\n")[:3] == ["denied fs.read", "second install refused",
                                          "bad policy refused"], proc.stdout
