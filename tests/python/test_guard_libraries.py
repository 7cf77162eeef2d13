"""Real-library attribution: library initialisation under host authority (and where
that relaxation stops), a library's own compiled modules, imports made by compiled
code during its initialisation, monitor mode with native modules, the default log
sink, and the finder answering once."""
from __future__ import annotations

import importlib.util
import shutil
import sysconfig
from pathlib import Path
from typing import Any

import pytest

from _support import guard_tree as gk
from _support.child import run_child

SUFFIX = sysconfig.get_config_var("EXT_SUFFIX")

# A third-party-style library whose import-time initialisation does what real ones do
# (numpy's os.putenv, urllib3's IPv6 probe, reading its own data file), and a lazily
# imported submodule that does the same at the extension's request.
INITLIB = {
    "src/initlib/__init__.py": '''
        import os, socket
        HERE = os.path.dirname(__file__)
        STEPS = {}
        def _try(name, fn):
            try:
                fn()
                STEPS[name] = True
            except OSError as e:
                STEPS[name] = type(e).__name__
        _try("putenv", lambda: os.putenv("INITLIB_FLAG", "1"))
        _try("data", lambda: open(os.path.join(HERE, "table.dat")).read())
        def _probe():
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            s.close()
        _try("bind", _probe)
        ''',
    "src/initlib/table.dat": "rows\n",
    "src/initlib/lazy.py": '''
        import os
        READ = open(os.path.join(os.path.dirname(__file__), "table.dat")).read()
        ''',
}

INIT_BODY = r'''
import initlib
R["steps"] = dict(initlib.STEPS)
R["env"] = os.environ.get("INITLIB_FLAG")
R["preloaded"] = guard.preloaded.get("initlib")
attempt("ext_import", acme.call, __import__("importlib").import_module, "initlib")
attempt("ext_lazy", acme.call, __import__("importlib").import_module, "initlib.lazy")
'''


def _libpolicy(base: Path, **kw: Any) -> dict[str, Any]:
    return gk.policy(base, **{"imports.allow": gk.DEFAULT_IMPORTS + ["initlib", "initlib.*"],
                              **kw})


def test_library_named_in_imports_allow_is_initialised_with_host_authority(
        tmp_path: Path) -> None:
    # Install initialises initlib before any extension runs: its putenv, its own data
    # file and its socket probe all succeed, and nothing is charged to acme.
    r = gk.run(tmp_path, INIT_BODY, pol=_libpolicy(tmp_path), files=INITLIB)
    assert r["preloaded"] == "imported"
    assert r["steps"] == {"putenv": True, "data": True, "bind": True}
    gk.assert_allowed(r, "ext_import")
    # The only record is the lazy submodule's read (next test), none from the init.
    assert [a["target"] for a in r["_audit"]] == [
        str(tmp_path / "src" / "initlib" / "table.dat")], r["_audit"]


def test_lazy_submodule_of_a_library_still_runs_as_the_extension(tmp_path: Path) -> None:
    # Only initialisation at install is the host's: a submodule the extension makes
    # the library import later runs under the extension's stack and is charged to it.
    r = gk.run(tmp_path, INIT_BODY, pol=_libpolicy(tmp_path), files=INITLIB)
    out = gk.assert_denied(r, "ext_lazy", "fs.read")
    assert out["target"].endswith("table.dat")


def test_without_preload_the_same_initialisation_is_charged_to_the_extension(
        tmp_path: Path) -> None:
    # The control: install(preload=False) leaves initlib to the extension's first
    # import, and the same initialisation is then charged to acme and refused.
    body = ("guard = sg.install(sg.Policy.from_dict(POLICY), preload=False)\n"
            "acme = guard.import_extension('acme')\n"
            "attempt('ext_import', acme.call, __import__('importlib').import_module, 'initlib')\n"
            "R['steps'] = dict(sys.modules['initlib'].STEPS)\n")
    r = gk.run(tmp_path, body, pol=_libpolicy(tmp_path), files=INITLIB, install=False)
    assert r["steps"] == {"putenv": "PolicyViolation", "data": "PolicyViolation",
                          "bind": "PolicyViolation"}, r["steps"]


def test_library_an_extension_can_write_is_not_initialised_by_the_host(
        tmp_path: Path) -> None:
    # initlib lives where acme may write: its code could be acme's, so install()
    # leaves it alone and its initialisation, when acme imports it, is acme's.
    pol = _libpolicy(tmp_path, **{"fs.write": [str(tmp_path / "data" / "out"),
                                               str(tmp_path / "src")]})
    body = ("R['preloaded'] = guard.preloaded.get('initlib')\n"
            "R['loaded'] = 'initlib' in sys.modules\n")
    r = gk.run(tmp_path, body, pol=pol, files=INITLIB)
    assert r["preloaded"].startswith("skipped"), r["preloaded"]
    assert r["loaded"] is False


def test_ctypes_named_in_imports_allow_is_not_initialised_without_native(
        tmp_path: Path) -> None:
    pol = gk.policy(tmp_path, **{"imports.allow": gk.DEFAULT_IMPORTS + ["ctypes", "ctypes.*"]})
    r = gk.run(tmp_path, "R['pre'] = guard.preloaded.get('ctypes')\n"
               "R['loaded'] = 'ctypes' in sys.modules\n", pol=pol)
    assert r["pre"] is None and r["loaded"] is False


# ---- compiled modules: the library's own, the extension's own, and their imports ----

def _decimal_so() -> Path:
    origin = importlib.util.find_spec("_decimal").origin   # type: ignore[union-attr]
    if not origin or not origin.endswith(SUFFIX):
        pytest.skip(f"_decimal is not a separate compiled module here ({origin}); "
                    "the test copies it as a library's and an extension's own .so")
    return Path(origin)


NATIVE_BODY = r'''
attempt("lib_native", lambda: acme.call(__import__("importlib").import_module,
                                        "fastlib._decimal").__spec__.name)
R["numbers_loaded_by"] = "numbers" in sys.modules
attempt("own_native", lambda: acme.call(__import__("importlib").import_module,
                                        "acme._decimal").__spec__.name)
'''


def _native_files(tmp_path: Path) -> dict[str, str]:
    so = _decimal_so()
    (tmp_path / "src" / "fastlib").mkdir(parents=True, exist_ok=True)
    (tmp_path / "plugins" / "acme").mkdir(parents=True, exist_ok=True)
    shutil.copy(so, tmp_path / "src" / "fastlib" / ("_decimal" + SUFFIX))
    shutil.copy(so, tmp_path / "plugins" / "acme" / ("_decimal" + SUFFIX))
    return {"src/fastlib/__init__.py": ""}


def test_library_compiled_module_is_allowed_with_the_library_and_its_init_imports_are_its_own(
        tmp_path: Path) -> None:
    # fastlib._decimal is the library's own compiled module: allowed with fastlib
    # (no `native`), and the `numbers` import its C initialisation makes is the
    # library's dependency, not acme's import (acme may not import numbers).
    files = _native_files(tmp_path)
    pol = gk.policy(tmp_path, **{"imports.allow": ["fastlib", "fastlib.*", "importlib"]})
    r = gk.run(tmp_path, NATIVE_BODY, pol=pol, files=files)
    assert gk.assert_allowed(r, "lib_native") == "fastlib._decimal"
    assert r["numbers_loaded_by"] is True
    # The extension's own compiled module is `native`: refused without it.
    gk.assert_denied(r, "own_native", "native", target="acme._decimal")


def test_extension_own_compiled_module_loads_with_native_and_its_imports_stay_its_own(
        tmp_path: Path) -> None:
    files = _native_files(tmp_path)
    pol = gk.policy(tmp_path, native=True, **{"imports.allow": ["importlib"]})
    r = gk.run(tmp_path, r'''
attempt("own_native", lambda: acme.call(__import__("importlib").import_module,
                                        "acme._decimal").__spec__.name)
''', pol=pol, files=files)
    # Its C initialisation imports numbers on acme's behalf: acme may not.
    out = gk.assert_denied(r, "own_native", "import", target="numbers",
                          rule="extensions.acme.imports.allow")
    assert out["import_error"]


def test_monitor_mode_never_refuses_native_modules(tmp_path: Path) -> None:
    files = _native_files(tmp_path)
    pol = gk.policy(tmp_path, **{"imports.allow": ["importlib"]})
    pol["guard"] = {"mode": "monitor"}
    r = gk.run(tmp_path, r'''
attempt("own_native", lambda: acme.call(__import__("importlib").import_module,
                                        "acme._decimal").__spec__.name)
attempt("stdlib_native", lambda: acme.call(__import__("importlib").import_module,
                                           "_codecs_jp").__name__)
''', pol=pol, files=files)
    assert gk.assert_allowed(r, "own_native") == "acme._decimal"
    assert gk.assert_allowed(r, "stdlib_native") == "_codecs_jp"
    native = [(a["decision"], a["target"]) for a in r["_audit"] if a["capability"] == "native"]
    assert ("would_deny", "acme._decimal") in native and ("would_deny", "_codecs_jp") in native
    assert all(a["decision"] == "would_deny" for a in r["_audit"]), r["_audit"]


# ---- the finder answers once --------------------------------------------------------

def test_finder_returns_the_spec_it_found_so_importlib_searches_once(tmp_path: Path) -> None:
    r = gk.run(tmp_path, r'''
class Counter:
    calls = []
    def find_spec(self, name, path=None, target=None):
        if name == "csv":
            Counter.calls.append(name)
        return None
sys.meta_path.append(Counter())
attempt("imp", lambda: acme.call(__import__("importlib").import_module, "csv").__name__)
R["calls"] = len(Counter.calls)
''', pol=gk.policy(tmp_path, **{"imports.allow": gk.DEFAULT_IMPORTS + ["csv"]}))
    assert gk.assert_allowed(r, "imp") == "csv"
    # The guard's finder asked every finder once (PathFinder found csv before the
    # counter); importlib did not ask them again.
    assert r["calls"] == 0


# ---- refusals reach the operator with no sink attached --------------------------------

def test_without_a_sink_denials_and_would_denials_go_to_the_sdk_guard_audit_logger(
        tmp_path: Path) -> None:
    gk.build(tmp_path)
    pol = gk.policy(tmp_path)
    code = f'''
import json, os, sys
sys.path.insert(0, {str(tmp_path / "src")!r})
import sdk_guard as sg
guard = sg.install(sg.Policy.from_dict(json.loads({gk.dumps(pol)!r})))
acme = guard.import_extension("acme")
try:
    acme.call(open, {str(tmp_path / "outside" / "secret.txt")!r})
except PermissionError:
    print("denied")
sg.audit.flush()
print([type(s).__name__ for s in sg.audit.sinks()])
sg.audit.add_sink(sg.audit.MemorySink())
print([type(s).__name__ for s in sg.audit.sinks()])
'''
    proc = run_child(code)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines == ["denied", "['DefaultLogSink']", "['MemorySink']"], proc.stdout
    logged = [ln for ln in proc.stderr.splitlines() if '"decision":"deny"' in ln]
    assert len(logged) == 1 and '"capability":"fs.read"' in logged[0], proc.stderr


def test_library_compiled_module_is_allowed_with_the_library_without_preload(
        tmp_path: Path) -> None:
    # The library's package directory is found at install even when install() did not
    # initialise it.
    files = _native_files(tmp_path)
    pol = gk.policy(tmp_path, **{"imports.allow": ["fastlib", "fastlib.*", "importlib"]})
    body = ("guard = sg.install(sg.Policy.from_dict(POLICY), preload=False)\n"
            "acme = guard.import_extension('acme')\n" + NATIVE_BODY)
    r = gk.run(tmp_path, body, pol=pol, files=files, install=False)
    assert gk.assert_allowed(r, "lib_native") == "fastlib._decimal"
    gk.assert_denied(r, "own_native", "native", target="acme._decimal")
