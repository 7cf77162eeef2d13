"""Entry points that change the guard or the audit trail refuse extension callers, even
when an extension can reach them (here it is simply allowed to import sdk_guard).

The gated entry points are declared in the C method tables and listed by the module in
_guard.HOST_ONLY; the test calls every name in that tuple, so an entry point marked
host-only later is covered without touching this file."""
from __future__ import annotations

from pathlib import Path

from _support.child import run_child_json, write_tree

# Entry points that can steer the guard, or drain, detach or forge audit and trap
# records: each must be in _guard.HOST_ONLY.
MUST_BE_GATED = {
    "set_audit_dispatcher", "take_undelivered", "emit", "audit_configure", "audit_deliver",
    "seccomp_trap_drain", "deny", "set_approver", "acting_as_enter", "prepare_module",
    "wrap_thread_starter", "seccomp_trap_install", "require_host_caller",
}

EXTENSION = """
    import sdk_guard
    from sdk_guard import _guard

    # Arguments a real caller would pass: an ungated entry point would act on them.
    ARGS = {
        "set_audit_dispatcher": ((None,), {}),
        "take_undelivered": ((), {}),
        "emit": (("guard", "fs.read", "allow"), {}),
        "audit_configure": ((), {"capacity": 8}),
        "audit_deliver": ((), {}),
        "seccomp_trap_drain": ((), {}),
        "deny": (("acme", "fs.read", "/forged"), {}),
        "set_approver": ((lambda *a: True,), {}),
        "acting_as_enter": (("acme",), {}),
        "prepare_module": (({}, "acme", None), {}),
        # Any callable: ungated, it would come back wrapped.
        "wrap_thread_starter": ((print,), {}),
    }

    def attempt(name):
        args, kw = ARGS.get(name, ((), {}))
        try:
            getattr(_guard, name)(*args, **kw)
            return "done"
        except sdk_guard.PolicyViolation as e:
            if e.event_id is None:
                return "no event_id"
            return e.capability
        except Exception as e:
            return type(e).__name__

    def run():
        return {name: attempt(name) for name in _guard.HOST_ONLY}

    def reach_originals():
        # The wrapper's __self__ is an index, never the ungated function.
        return {name: type(getattr(_guard, name).__self__).__name__
                for name in _guard.HOST_ONLY}
    """

HOST = """
    import json, sys
    import sdk_guard as sg
    from sdk_guard import _guard
    policy = sg.Policy.from_dict({"version": 1, "extensions": {"acme": {
        "package": "acme", "path": sys.argv[1],
        "imports": {"allow": ["sdk_guard", "sdk_guard.*"]}}}})
    sink = sg.audit.MemorySink()
    sg.audit.add_sink(sink)
    guard = sg.install(policy)
    acme = guard.import_extension("acme")
    result = acme.run()
    selves = acme.reach_originals()
    sg.audit.flush()
    denied = [r["target"] for r in sink.records
              if r.get("decision") == "deny" and r.get("capability") == "introspection"]
    print(json.dumps({"host_only": list(_guard.HOST_ONLY), "result": result,
                      "selves": selves, "denied": denied}))
    """


def test_extension_cannot_call_any_host_only_entry_point(tmp_path: Path) -> None:
    write_tree(tmp_path / "plugins", {"acme/__init__.py": EXTENSION})
    out = run_child_json(HOST, args=[str(tmp_path / "plugins")])
    assert MUST_BE_GATED <= set(out["host_only"]), "mark these GUARD_HOST_ONLY in C"
    assert out["result"] == {name: "introspection" for name in out["host_only"]}
    # One deny record per refused call, naming the entry point.
    assert sorted(out["denied"]) == sorted(out["host_only"])


def test_gated_entry_point_does_not_expose_the_ungated_one(tmp_path: Path) -> None:
    write_tree(tmp_path / "plugins", {"acme/__init__.py": EXTENSION})
    out = run_child_json(HOST, args=[str(tmp_path / "plugins")])
    assert out["selves"] == {name: "int" for name in out["host_only"]}


FORGER = EXTENSION + """
    import sys

    # Its module poses as sdk_guard's own wrapper module: a name under sdk_guard and
    # the module sys.modules holds under that name.
    globals()["__name__"] = "sdk_guard._forged_wrapper"
    sys.modules["sdk_guard._forged_wrapper"] = sys.modules[__spec__.name]

    def forged(name):
        # Called by the host: calls the entry point directly, as a wrapper would.
        args, kw = ARGS.get(name, ((), {}))
        return getattr(_guard, name)(*args, **kw)
    """

FORGER_HOST = """
    import json, sys
    import sdk_guard as sg
    from sdk_guard import _guard
    policy = sg.Policy.from_dict({"version": 1, "extensions": {"acme": {
        "package": "acme", "path": sys.argv[1],
        "imports": {"allow": ["sdk_guard", "sdk_guard.*", "sys"]}}}})
    guard = sg.install(policy)
    acme = guard.import_extension("acme")
    result = {}
    for name in _guard.HOST_ONLY:      # host code calls the extension's function
        try:
            acme.forged(name)
            result[name] = "done"
        except sg.PolicyViolation as e:
            result[name] = e.capability
        except Exception as e:
            result[name] = type(e).__name__
    print(json.dumps({"host_only": list(_guard.HOST_ONLY), "result": result}))
    """


def test_extension_posing_as_an_sdk_guard_module_is_still_refused_when_host_calls_it(
        tmp_path: Path) -> None:
    """The gate asks the caller of sdk_guard's own wrappers instead of the wrapper: an
    extension function whose module renamed itself into sdk_guard (and registered in
    sys.modules) is not such a wrapper, so a host calling it lends it no authority."""
    write_tree(tmp_path / "plugins", {"acme/__init__.py": FORGER})
    out = run_child_json(FORGER_HOST, args=[str(tmp_path / "plugins")])
    assert out["result"] == {name: "introspection" for name in out["host_only"]}


CONFINER = """
    import sdk_guard
    from sdk_guard import _guard, landlock, seccomp
    from sdk_guard._lockdown_spec import parse_spec

    def attempt(fn):
        try:
            fn()
            return "done"
        except sdk_guard.PolicyViolation as e:
            return e.capability
        except Exception as e:
            return type(e).__name__

    def run():
        abi = _guard.landlock_probe()["abi"]
        handled = (1, 0, 0)          # LANDLOCK_ACCESS_FS_EXECUTE: harmless if it applied
        return {
            "lockdown": attempt(lambda: sdk_guard.lockdown(spec={"seccomp": "log"})),
            "LandlockPlan.apply": attempt(lambda: landlock.prepare(parse_spec(
                {"runtime": "none", "tmp": "none"})).apply()),
            "SeccompPlan.apply": attempt(lambda: seccomp.prepare("log").apply()),
            "SeccompProgram.install": attempt(
                lambda: _guard.SeccompProgram("log").install(0)),
            "Ruleset.restrict": attempt(
                lambda: _guard.Ruleset(abi, handled, [], []).restrict(0)),
            "seccomp_trap_install": attempt(_guard.seccomp_trap_install),
        }
    """

CONFINER_HOST = """
    import json, sys
    import sdk_guard as sg
    policy = sg.Policy.from_dict({"version": 1, "extensions": {"acme": {
        "package": "acme", "path": sys.argv[1],
        "imports": {"allow": ["sdk_guard", "sdk_guard.*"]}}}})
    guard = sg.install(policy)
    result = guard.import_extension("acme").run()
    status = dict(line.split(":\\t", 1) for line in open("/proc/self/status").read()
                  .splitlines() if ":\\t" in line)
    print(json.dumps({"result": result, "seccomp": status["Seccomp"].strip(),
                      "no_new_privs": status["NoNewPrivs"].strip()}))
    """


def test_extension_cannot_confine_or_blind_the_process(tmp_path: Path) -> None:
    """A seccomp filter (ERRNO on write would blind the audit trail) or a Landlock
    domain applies to the whole process: lockdown(), the plans' apply(), the types'
    install()/restrict() and the trap handler refuse an extension caller, and nothing
    was applied (no filter, no NO_NEW_PRIVS)."""
    write_tree(tmp_path / "plugins", {"acme/__init__.py": CONFINER})
    out = run_child_json(CONFINER_HOST, args=[str(tmp_path / "plugins")])
    assert out["result"] == {name: "introspection" for name in out["result"]}
    assert (out["seccomp"], out["no_new_privs"]) == ("0", "0")
