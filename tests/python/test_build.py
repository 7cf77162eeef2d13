"""The extension's build-level promises: what it exports, and its refusal to load on a
free-threaded interpreter."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import sdk_guard
from _support.child import ROOT, run_child
from sdk_guard import _guard


def test_extension_exports_only_pyinit() -> None:
    # -fvisibility=hidden: nothing but the module init function leaks into the
    # process's symbol namespace.
    so = Path(_guard.__file__)
    out = subprocess.run(["nm", "-D", "--defined-only", str(so)], capture_output=True,
                         text=True, check=True).stdout
    exported = {line.split()[-1] for line in out.splitlines()
                if line.split()[1:2] and line.split()[1] in ("T", "D", "B")}
    assert exported == {"PyInit__guard"}


def test_public_api_names_exist() -> None:
    for name in ("Policy", "install", "current_guard", "acting_as", "PolicyViolation",
                 "ImportBoundaryError", "PolicyError", "GuardError", "lockdown", "probe",
                 "LockdownReport", "audit"):
        assert hasattr(sdk_guard, name), name
    assert issubclass(sdk_guard.PolicyViolation, PermissionError)
    assert not issubclass(sdk_guard.PolicyViolation, RuntimeError)
    assert issubclass(sdk_guard.PolicyError, ValueError)
    assert issubclass(sdk_guard.ImportBoundaryError, ImportError)
    assert issubclass(sdk_guard.ImportBoundaryError, sdk_guard.PolicyViolation)


def test_free_threaded_build_refuses_to_load(tmp_path: Path) -> None:
    # A GIL build compiled with the refusal switched on (the same branch a
    # Py_GIL_DISABLED build takes) shows what a free-threaded interpreter hits: import
    # fails with an ImportError that says why.
    build = tmp_path / "build"
    env = dict(os.environ, CFLAGS="-DGUARD_PRETEND_FREE_THREADED=1")
    subprocess.run([sys.executable, "setup.py", "-q", "build_ext", "--build-temp",
                    str(build / "tmp"), "--build-lib", str(build / "lib")],
                   cwd=ROOT, env=env, check=True, capture_output=True)
    pkg = tmp_path / "site" / "sdk_guard"
    shutil.copytree(ROOT / "python" / "sdk_guard", pkg,
                    ignore=shutil.ignore_patterns("*.so", "__pycache__"))
    suffix = sysconfig.get_config_var("EXT_SUFFIX")
    shutil.copy(build / "lib" / "sdk_guard" / f"_guard{suffix}", pkg / f"_guard{suffix}")
    proc = run_child(
        """
        import sys
        sys.path.insert(0, sys.argv[1])
        try:
            import sdk_guard._guard
        except ImportError as e:
            print("REFUSED:", e)
        else:
            print("LOADED")
        """, args=[str(tmp_path / "site")], env={"PYTHONPATH": ""})
    assert "REFUSED:" in proc.stdout, proc.stdout + proc.stderr
    assert "free-threaded" in proc.stdout


def test_every_extension_name_has_a_stub() -> None:
    import ast
    stub = ast.parse((ROOT / "python" / "sdk_guard" / "_guard.pyi").read_text())
    stubbed = {n.name for n in stub.body if isinstance(n, ast.FunctionDef)}
    # Classes the extension defines (the TypedDicts are the stub's own).
    stubbed |= {n.name for n in stub.body if isinstance(n, ast.ClassDef)
                and not any(isinstance(b, ast.Name) and b.id == "TypedDict" for b in n.bases)}
    stubbed |= {t.id for n in stub.body if isinstance(n, ast.AnnAssign)
                for t in [n.target] if isinstance(t, ast.Name)}
    exported = {n for n in dir(_guard) if not n.startswith("__")}
    assert exported - stubbed == set(), "add these to python/sdk_guard/_guard.pyi"
    assert stubbed - exported - {"__version__"} == set(), "stubs for names that do not exist"
