"""Real libraries, natural policy: each extension does ordinary work with its library
and gets the same answer as without any guard, under the guard alone and under the
guard plus lockdown().  Natural policy: see workloads.py (no grant for anything the
library does by itself)."""
from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import workloads as W

from _support.child import child_env

LIBS = sorted(W.WORKLOADS)

# Denials the library makes by itself and swallows, which the natural policy does not
# grant; each is listed with why, and the test fails if the list is wrong either way.
SWALLOWED: dict[str, tuple[str, ...]] = {
    # pandas.read_csv sizes its worker pool from the cgroup CPU quota (pandas/compat/
    # _cpu.py) at call time, from inside the extension's call: charged to it (the
    # record names library "pandas" and the frame; `audit --summary` groups it).
    "pandas": ("fs.read",),
}

# guard + lockdown parts that fail for reasons outside this suite's library code.


def _installed(lib: str) -> bool:
    return importlib.util.find_spec(lib) is not None


def run_workload(tmp_path: Path, lib: str, port: int, mode: str,
                 policy_mode: str = "enforce", repeat: int = 1) -> dict[str, Any]:
    w = W.WORKLOADS[lib]
    paths = W.build_tree(tmp_path / mode, w)
    cfg = {"paths": paths, "port": port, "mode": mode, "repeat": repeat,
           "policy_mode": policy_mode}
    proc = subprocess.run([sys.executable, "-c", W.host_code(), lib, json.dumps(cfg)],
                          env=child_env(), capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, f"child exited {proc.returncode}\n{proc.stderr[-4000:]}"
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


@pytest.fixture(scope="module")
def baseline(tmp_path_factory: pytest.TempPathFactory,
             loopback_port: int) -> dict[str, dict[str, Any]]:
    """Each workload's answer with no guard at all."""
    out: dict[str, dict[str, Any]] = {}
    for lib in LIBS:
        if _installed(lib):
            out[lib] = run_workload(tmp_path_factory.mktemp(lib), lib, loopback_port, "none")
    return out


def _require(lib: str) -> None:
    if not _installed(lib):
        pytest.skip(f"{lib} is not installed (pip install -r requirements-ecosystem.txt)")


@pytest.mark.parametrize("lib", LIBS)
def test_library_works_in_an_extension_under_the_natural_policy(
        lib: str, tmp_path: Path, loopback_port: int,
        baseline: dict[str, dict[str, Any]]) -> None:
    _require(lib)
    assert "error" not in baseline[lib], baseline[lib]
    got = run_workload(tmp_path, lib, loopback_port, "guard")
    assert "error" not in got, got
    assert W.canonical(got["result"]) == W.canonical(baseline[lib]["result"])
    caps = sorted({d["capability"] for d in got["denials"]})
    assert caps == sorted(SWALLOWED.get(lib, ())), got["denials"]
    # A library's own swallowed probe says so: the record names the library.
    assert all(d.get("library") == lib for d in got["denials"]), got["denials"]


@pytest.mark.parametrize("lib", LIBS)
def test_library_works_in_an_extension_in_monitor_mode_without_would_deny_noise(
        lib: str, tmp_path: Path, loopback_port: int,
        baseline: dict[str, dict[str, Any]]) -> None:
    _require(lib)
    got = run_workload(tmp_path, lib, loopback_port, "guard", policy_mode="monitor")
    assert "error" not in got, got
    assert W.canonical(got["result"]) == W.canonical(baseline[lib]["result"])
    assert {d["decision"] for d in got["denials"]} <= {"would_deny"}
    caps = sorted({d["capability"] for d in got["denials"]})
    assert set(caps) <= set(SWALLOWED.get(lib, ())), got["denials"]


@pytest.mark.parametrize("lib", LIBS)
def test_library_works_in_an_extension_under_the_guard_and_lockdown(
        lib: str, tmp_path: Path, loopback_port: int,
        baseline: dict[str, dict[str, Any]]) -> None:
    _require(lib)
    got = run_workload(tmp_path, lib, loopback_port, "lockdown")
    assert got.get("lockdown") == "full", got
    assert "error" not in got, got
    assert W.canonical(got["result"]) == W.canonical(baseline[lib]["result"])
