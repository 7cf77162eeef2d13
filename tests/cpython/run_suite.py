"""CPython's own regression suite with sdk_guard installed, compared with a plain run.

Runs ``python -m test`` over a selection of modules twice with the interpreter under
test: once plain, once with the guard installed at start-up in every process the
suite starts (a ``sitecustomize`` on PYTHONPATH): the test code is trusted host code
(``host.trusted = ["test", "unittest", "__main__"]``), one extension (``suiteext``)
is configured, imported and exercised at start-up, ``guard.audit = "all"`` and each
process writes its records to a JsonlSink of its own.  Both runs write JUnit XML; a
test case whose outcome differs (pass / fail / error / skip / missing), or a module
whose result differs, is a difference.  Every difference must be listed in KNOWN
with its reason (and in docs/hardening.md); an unlisted one fails the run.

Usage:
  python tests/cpython/run_suite.py [--selection ci|broad] [--modules test_os,...]
                                    [--jobs 2] [--timeout 300] [--time-box SECONDS]
                                    [--json REPORT]
Exit status: 0 when every difference is known, 1 otherwise, 2 on a usage error.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# The time-boxed part CI runs on every submission: modules that touch what the guard
# mediates (files, imports, threads, processes, code objects, audit hooks) and finish
# in seconds each.
CI_SELECTION = [
    "test_audit", "test_atexit", "test_code", "test_ast", "test_compile", "test_import",
    "test_importlib", "test_pkgutil", "test_json", "test_marshal", "test_threading_local",
    "test_thread", "test_contextlib", "test_context", "test_fileio", "test_tempfile",
    "test_shutil", "test_glob", "test_pathlib", "test_sqlite3", "test_sys", "test_inspect",
    "test_trace", "test_bdb",
]
# Slower modules the broad selection adds to the CI part (minutes each on two cores).
SLOW = ["test_os", "test_subprocess", "test_socket", "test_signal", "test_faulthandler",
        "test_pickle"]
# The broad selection (issue 11, item 6): 120+ modules.
BROAD_SELECTION = sorted(set(CI_SELECTION + SLOW + [
    "test_abc", "test_argparse", "test_array", "test_asyncio", "test_base64", "test_binascii",
    "test_bisect", "test_builtin", "test_bytes", "test_bz2", "test_calendar", "test_capi",
    "test_class", "test_cmd_line", "test_cmd_line_script", "test_codecs", "test_collections",
    "test_compileall", "test_concurrent_futures", "test_configparser", "test_copy",
    "test_copyreg", "test_csv", "test_ctypes", "test_dataclasses", "test_datetime",
    "test_decimal", "test_deque", "test_descr", "test_dict", "test_difflib", "test_dis",
    "test_doctest", "test_email", "test_enum", "test_exceptions", "test_fcntl",
    "test_filecmp", "test_float", "test_fnmatch", "test_fork1", "test_fractions",
    "test_frame", "test_functools", "test_gc", "test_generators", "test_genericalias",
    "test_getopt", "test_gettext", "test_grammar", "test_gzip", "test_hashlib", "test_heapq",
    "test_hmac", "test_html", "test_http_cookies", "test_importlib", "test_int", "test_io",
    "test_ipaddress", "test_isinstance", "test_iter", "test_itertools", "test_keyword",
    "test_linecache", "test_list", "test_locale", "test_logging", "test_long", "test_lzma",
    "test_math", "test_memoryview", "test_mmap", "test_module", "test_multiprocessing_fork",
    "test_operator", "test_optparse", "test_ordered_dict", "test_os", "test_pdb",
    "test_pickletools", "test_platform", "test_plistlib", "test_poll", "test_posix",
    "test_posixpath", "test_pprint", "test_property", "test_pwd", "test_queue",
    "test_random", "test_range", "test_re", "test_reprlib", "test_resource", "test_runpy",
    "test_sched", "test_scope", "test_secrets", "test_select", "test_selectors", "test_set",
    "test_shlex", "test_site", "test_slice", "test_socketserver", "test_sort", "test_ssl",
    "test_stat", "test_statistics", "test_str", "test_string", "test_struct",
    "test_structseq", "test_sundry", "test_super", "test_symtable", "test_syntax",
    "test_sysconfig", "test_tarfile", "test_textwrap", "test_threading", "test_time",
    "test_timeit", "test_tokenize", "test_traceback", "test_tuple", "test_types",
    "test_typing", "test_unicode", "test_unittest", "test_unpack", "test_urllib",
    "test_urlparse", "test_userdict", "test_uuid", "test_warnings", "test_weakref",
    "test_with", "test_zipfile", "test_zipimport", "test_zlib", "test__xxsubinterpreters",
]))

# Differences with their reasons, keyed by "module" (the whole module) or
# "module::Class.test" (one case).  Each is explained in docs/hardening.md.
KNOWN: dict[str, str] = {
    "test_audit": "adds its own audit hooks in children and counts the events they see: "
                  "the guard's hook is one more hook in the process, and with audit = "
                  "\"all\" its writer thread emits events of its own",
    "test_faulthandler::FaultHandlerTests.test_dump_traceback_threads":
        "the audit writer thread is one more thread in every traceback dump",
    "test_faulthandler::FaultHandlerTests.test_dump_traceback_threads_file":
        "the audit writer thread is one more thread in every traceback dump",
    "test_subprocess::POSIXProcessTestCase.test_pass_fds":
        "the JSONL sink's descriptor is one more open descriptor in the parent",
    "test_subprocess::POSIXProcessTestCase.test_pass_fds_redirected":
        "the JSONL sink's descriptor is one more open descriptor in the parent",
    "test_os::ForkTests.test_fork_warns_when_non_python_thread_exists":
        "the test counts threads: the audit writer thread is one more",
    "test_threading::ThreadTests.test_no_refcycle_through_target":
        "the checked thread starter holds the target until the thread starts",
    "test_inspect::TestSignatureDefinitions.test_thread_module_has_signatures":
        "the checked _thread.start_new_thread wrapper has no text signature",
    "test_trace::TestCoverage.test_coverage_ignore":
        "the guard's meta-path finder (Python code, sdk_guard/guard.py) runs first in "
        "every import, so coverage of an import reports sdk_guard.guard, not _importlib",
    "test_bdb::StateTestCase.test_skip":
        "the tracer steps into the guard's finder (_GuardFinder.find_spec, a 'call' "
        "event) during the import the test steps over",
    "test_sys::SysModuleTest.test_getallocatedblocks":
        "the guard's compiled policy and audit ring are allocated blocks",
    "test_os::FileTests.test_closerange":
        "skips itself when it cannot get two consecutive descriptors: the JSONL sink "
        "holds one",
    "test_os::TestInvalidFD.test_closerange":
        "skips itself when it cannot get two consecutive descriptors: the JSONL sink "
        "holds one",
    "test_code": "CPython calls every registered co_extra free function, with NULL, for "
                 "each code object whose extra array reaches its index; the guard tags "
                 "code objects in co_extra, so CoExtra's ctypes free callback is called "
                 "for them too, also after its thunk is gone at shutdown: a segfault in "
                 "myfree",
    "test_pkgutil": "the guard keeps its finder first in sys.meta_path (so extension "
                    "packages load through its loader); PEP302 tests insert an importer "
                    "at index 0 and delete index 0 in tearDown, which removes the guard's "
                    "finder instead, so their importer stays and answers later imports "
                    "(the us-ascii codec: LookupError)",
}

SITECUSTOMIZE = '''\
# Installed by tests/cpython/run_suite.py: the guard in every process of the suite.
import os as _os, sys as _sys
if _os.environ.get("SDK_GUARD_SUITE_DIR") and "sdk_guard" not in _sys.modules:
    _sys.path.insert(0, _os.environ["SDK_GUARD_SUITE_DIR"])
    import sdk_guard as _sg
    from sdk_guard import audit as _audit
    _policy = _sg.Policy.from_dict({
        "version": 1,
        "guard": {"audit": "all", "unattributed": "allow", "subinterpreters": "allow"},
        "host": {"trusted": ["test", "unittest", "__main__"]},
        "extensions": {"suiteext": {
            "package": "suiteext", "path": _os.environ["SDK_GUARD_SUITE_DIR"],
            "imports": {"allow": ["@pure"]}, "fs": {"read": ["{tmp}"]}}},
    })
    _guard = _sg.install(_policy)
    _audit.add_sink(_audit.JsonlSink(_os.path.join(
        _os.environ["SDK_GUARD_SUITE_TRAILS"], "audit-%d.jsonl" % _os.getpid())))
    _guard.import_extension("suiteext").exercise()
'''

SUITEEXT = '''\
"""The one extension the suite's processes configure and exercise."""
import json


def exercise():
    json.dumps({"ok": [1, 2, 3]})
    try:
        open("/etc/hostname").close()
    except PermissionError:
        pass
'''


def outcomes(xml_path: Path) -> dict[str, str]:
    """Test case ("test_mod::Class.test") -> pass/fail/error/skip from regrtest's JUnit
    XML (regrtest writes the dotted id as the case name, no classname)."""
    cases: dict[str, str] = {}
    if not xml_path.exists():
        return cases
    try:
        tree = ET.parse(xml_path)
    except ET.ParseError:
        return cases
    for case in tree.iter("testcase"):
        dotted = (case.get("name") or "").split(" ")[0]
        parts = dotted.split(".")
        idx = next((i for i, p in enumerate(parts) if p.startswith("test_")), 0)
        name = f"{parts[idx]}::{'.'.join(parts[idx + 1:])}"
        state = "pass"
        for child in case:
            if child.tag in ("failure", "error", "skipped"):
                state = {"failure": "fail", "error": "error", "skipped": "skip"}[child.tag]
        if case.get("status") == "skipped" or case.get("result") == "skipped":
            state = "skip"
        cases[name] = state
    return cases


_PROGRESS = re.compile(r"\[\s*\d+/\d+(?:/\d+)?\] (test[\w.]+)(?: (.*))?$")


def module_results(stdout: str) -> dict[str, str]:
    """Module -> pass/fail/crash/timeout/skip from regrtest's progress lines."""
    out: dict[str, str] = {}
    for line in stdout.splitlines():
        m = _PROGRESS.search(line.rstrip())
        if not m:
            continue
        rest = (m.group(2) or "").lower()
        state = ("crash" if "crash" in rest or "exit code" in rest
                 else "timeout" if "time" in rest and "out" in rest
                 else "fail" if "failed" in rest else "skip" if "skipped" in rest
                 or "resource denied" in rest else "env_changed" if "env changed" in rest
                 else "pass")
        out[m.group(1)] = state
    return out


def run(python: str, modules: list[str], guarded: bool, work: Path, jobs: int,
        timeout: int, time_box: float | None) -> dict[str, object]:
    tag = "guarded" if guarded else "plain"
    xml = work / f"{tag}.xml"
    env = dict(os.environ)
    env.pop("PYTHONSTARTUP", None)
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    if guarded:
        boot = work / "boot"
        boot.mkdir(exist_ok=True)
        (boot / "sitecustomize.py").write_text(SITECUSTOMIZE)
        (boot / "suiteext").mkdir(exist_ok=True)
        (boot / "suiteext" / "__init__.py").write_text(SUITEEXT)
        trails = work / "trails"
        trails.mkdir(exist_ok=True)
        env["PYTHONPATH"] = os.pathsep.join([str(boot), str(ROOT / "python")])
        env["SDK_GUARD_SUITE_DIR"] = str(boot)
        env["SDK_GUARD_SUITE_TRAILS"] = str(trails)
    cmd = [python, "-m", "test", "-j", str(jobs), "--timeout", str(timeout),
           "--junit-xml", str(xml), *modules]
    started = time.monotonic()
    try:
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True,
                              timeout=time_box, cwd=work, check=False)
        stdout, rc, boxed = proc.stdout + proc.stderr, proc.returncode, False
    except subprocess.TimeoutExpired as exc:
        out = exc.stdout or b""
        stdout = out.decode(errors="replace") if isinstance(out, bytes) else out
        rc, boxed = -1, True
    (work / f"{tag}.log").write_text(stdout)
    cases = outcomes(xml)
    return {"rc": rc, "seconds": round(time.monotonic() - started, 1), "time_boxed": boxed,
            "cases": cases, "modules": module_results(stdout)}


def compare(plain: dict[str, object], guarded: dict[str, object],
            modules: list[str]) -> list[dict[str, str]]:
    diffs = []
    pm: dict[str, str] = plain["modules"]  # type: ignore[assignment]
    gm: dict[str, str] = guarded["modules"]  # type: ignore[assignment]
    boxed = bool(plain["time_boxed"] or guarded["time_boxed"])
    for mod in modules:
        a, b = pm.get(mod, "missing"), gm.get(mod, "missing")
        # A module one run never reached before its time box is no difference.
        if a != b and not (boxed and "missing" in (a, b)):
            diffs.append({"what": mod, "plain": a, "guarded": b})
    pc: dict[str, str] = plain["cases"]  # type: ignore[assignment]
    gc: dict[str, str] = guarded["cases"]  # type: ignore[assignment]
    crashed = {d["what"] for d in diffs}
    for case in sorted(set(pc) | set(gc)):
        a, b = pc.get(case, "missing"), gc.get(case, "missing")
        # A case missing on one side because its whole module crashed or was cut by the
        # time box is the module's difference, already listed.
        if a != b and not ((a == "missing" or b == "missing") and case.split("::")[0] in crashed):
            diffs.append({"what": case, "plain": a, "guarded": b})
    for d in diffs:
        mod = d["what"].split("::")[0]
        reason = KNOWN.get(d["what"]) or KNOWN.get(mod)
        d["reason"] = reason or ""
    # A module that failed only through listed test cases is explained by them.
    for d in diffs:
        if "::" in d["what"] or d["reason"] or d["guarded"] != "fail":
            continue
        cases = [c for c in diffs if c["what"].startswith(d["what"] + "::")]
        if cases and all(c["reason"] for c in cases):
            d["reason"] = "its failing test cases are listed below"
        elif not cases and not gc:
            # No per-case results (a time-boxed run writes no JUnit): the module's
            # listed cases are the known explanation.
            listed = [k for k in KNOWN if k.startswith(d["what"] + "::")]
            if listed:
                d["reason"] = "listed case(s), no per-case results: " + ", ".join(listed)
    return diffs


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--python", default=sys.executable)
    ap.add_argument("--selection", choices=("ci", "broad"), default="ci")
    ap.add_argument("--modules", help="comma-separated test modules (overrides --selection)")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--timeout", type=int, default=300, help="per-test timeout (regrtest)")
    ap.add_argument("--time-box", type=float, default=None,
                    help="seconds each of the two runs may take in all")
    ap.add_argument("--json", help="write the comparison as JSON here")
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    opts = ap.parse_args(argv)
    modules = (opts.modules.split(",") if opts.modules
               else CI_SELECTION if opts.selection == "ci" else BROAD_SELECTION)
    # The selection names modules of several CPython versions: keep the ones this
    # interpreter's test package has (a module file or a package directory).
    have = subprocess.run(
        [opts.python, "-c", "import os, test; print('\\n'.join(os.listdir(os.path.dirname("
         "test.__file__))))"], capture_output=True, text=True, check=False).stdout.split()
    names = {n[:-3] if n.endswith(".py") else n for n in have}
    missing = [m for m in modules if m not in names]
    modules = [m for m in modules if m in names]
    if missing:
        print(f"  not in this CPython's test package: {', '.join(missing)}")
    work = Path(tempfile.mkdtemp(prefix="sdk_guard-cpython-suite-"))
    try:
        plain = run(opts.python, modules, False, work, opts.jobs, opts.timeout, opts.time_box)
        guarded = run(opts.python, modules, True, work, opts.jobs, opts.timeout, opts.time_box)
        diffs = compare(plain, guarded, modules)
        trails = list((work / "trails").glob("*.jsonl")) if (work / "trails").exists() else []
        records = sum(t.read_bytes().count(b"\n") for t in trails)
        version = subprocess.run([opts.python, "-c", "import sys; print(sys.version.split()[0])"],
                                 capture_output=True, text=True, check=False).stdout.strip()
        unknown = [d for d in diffs if not d["reason"]]
        if unknown:
            # CPython's own suite has timing-sensitive cases: an unexplained difference
            # counts only if it shows again when its modules run once more, both ways.
            again = sorted({d["what"].split("::")[0] for d in unknown})
            redo = work / "again"
            redo.mkdir()
            second = compare(run(opts.python, again, False, redo, opts.jobs, opts.timeout,
                                 opts.time_box),
                             run(opts.python, again, True, redo, opts.jobs, opts.timeout,
                                 opts.time_box), again)
            seen = {(d["what"], d["plain"], d["guarded"]) for d in second}
            for d in unknown:
                if (d["what"], d["plain"], d["guarded"]) not in seen:
                    d["reason"] = "not reproduced when its module ran again (flaky)"
            unknown = [d for d in diffs if not d["reason"]]
        report = {"python": version, "modules": len(modules),
                  "plain": {k: plain[k] for k in ("rc", "seconds", "time_boxed")},
                  "guarded": {k: guarded[k] for k in ("rc", "seconds", "time_boxed")},
                  "cases": {"plain": len(plain["cases"]),  # type: ignore[arg-type]
                            "guarded": len(guarded["cases"])},  # type: ignore[arg-type]
                  "audit_trails": len(trails), "audit_records": records,
                  "differences": diffs, "unexplained": len(unknown)}
        print(f"CPython {version}: {len(modules)} modules; plain {plain['seconds']} s "
              f"(rc {plain['rc']}), guarded {guarded['seconds']} s (rc {guarded['rc']}); "
              f"{report['cases']['plain']} / {report['cases']['guarded']} test cases; "  # type: ignore[index]
              f"{len(trails)} audit trails, {records} records")
        for d in diffs:
            mark = "known" if d["reason"] else "UNEXPLAINED"
            print(f"  {mark:<11} {d['what']}: {d['plain']} -> {d['guarded']}"
                  f"{'  (' + d['reason'] + ')' if d['reason'] else ''}")
        if plain["time_boxed"] or guarded["time_boxed"]:
            print("  note: a run hit the time box; cases after it are missing in both "
                  "comparisons only where both ran")
        if opts.json:
            Path(opts.json).write_text(json.dumps(report, indent=2))
        if not plain["cases"] and not plain["modules"]:
            print("  error: the plain run produced no test results (is the test package "
                  "installed for this interpreter?)", file=sys.stderr)
            return 1
        return 1 if unknown else 0
    finally:
        if opts.keep:
            print(f"  work directory kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
