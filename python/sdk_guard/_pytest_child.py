"""Child side of the pytest plugin: ``python -m sdk_guard._pytest_child REQUEST.json``.

An audit hook cannot be removed, so every case of ``sdk_guard_run`` runs here, in a
fresh interpreter: load the policy (optionally switched to monitor mode), install the
guard, import the extension, optionally lock the process down, call one function and
write one JSON result (the call's outcome plus every audit record of the run) to the
result file named in the request.  The result file is opened before anything is
installed, so neither the guard nor a lockdown can keep the answer from the parent.
"""
from __future__ import annotations

import errno
import json
import sys
import traceback
from pathlib import Path
from typing import IO, Any


def _load_raw(path: Path) -> dict[str, Any]:
    """The policy file as data; a file that does not parse is the loader's own
    PolicyError (which names the file and the syntax error)."""
    from sdk_guard.policy import read_document
    raw: dict[str, Any] = read_document(path)
    return raw


def _jsonable(value: Any) -> Any:
    try:
        json.dumps(value)
        return value
    except (TypeError, ValueError):
        return repr(value)


def _error(exc: BaseException) -> dict[str, Any]:
    return {
        "type": type(exc).__name__,
        "module": type(exc).__module__,
        "message": str(exc),
        "errno": exc.errno if isinstance(exc, OSError) else None,
        "errno_name": (errno.errorcode.get(exc.errno) if isinstance(exc, OSError)
                       and isinstance(exc.errno, int) else None),
        "policy_violation": bool(getattr(exc, "capability", None) is not None
                                 or type(exc).__name__ in ("PolicyViolation",
                                                           "ImportBoundaryError")),
        "capability": getattr(exc, "capability", None),
        "target": getattr(exc, "target", None),
        "principal": getattr(exc, "principal", None),
        "rule": getattr(exc, "rule", None),
        "traceback": "".join(traceback.format_exception(exc)),
    }


def _resolve(call: str) -> tuple[str, str]:
    module, sep, func = call.partition(":")
    if not sep:
        module, _, func = call.rpartition(".")
    if not module or not func:
        raise ValueError(f"call={call!r}: write \"package.function\" or "
                         "\"package.module:function\"")
    return module, func


def run(request: dict[str, Any], out: IO[str]) -> None:
    import importlib

    import sdk_guard as sg

    result: dict[str, Any] = {"stage": "policy", "returned": None, "error": None,
                              "lockdown": None, "records": []}
    sink = sg.audit.MemorySink()
    try:
        policy_path = Path(request["policy"])
        raw = _load_raw(policy_path)
        if isinstance(raw.get("guard", {}), dict):
            # A copy with the run's overrides; a malformed [guard] is left for the
            # loader to report.
            guard_section = dict(raw.get("guard", {}))
            if request.get("mode"):
                guard_section["mode"] = request["mode"]
            if request.get("record_allowed", True):
                guard_section["audit"] = "all"
            raw["guard"] = guard_section
        policy = sg.Policy.from_dict(raw, variables=request.get("variables") or None,
                                     base_dir=policy_path.resolve().parent,
                                     source=str(policy_path))
        result["mode"] = policy.mode
        sg.audit.add_sink(sink)
        result["stage"] = "install"
        guard = sg.install(policy)
        result["stage"] = "import"
        if request.get("extension"):
            guard.import_extension(request["extension"])
        func = None
        if request.get("call"):
            module_name, func_name = _resolve(request["call"])
            func = getattr(importlib.import_module(module_name), func_name)
        if request.get("lockdown"):
            result["stage"] = "lockdown"
            spec = request["lockdown"] if isinstance(request["lockdown"], dict) else None
            report = sg.lockdown(spec=spec) if spec is not None else sg.lockdown(policy)
            result["lockdown"] = report.as_dict()
        result["stage"] = "call"
        if func is not None:
            value = func(*request.get("args", []), **request.get("kwargs", {}))
            result["returned"] = _jsonable(value)
        result["stage"] = "done"
    except BaseException as exc:  # the parent asserts on whatever happened
        result["error"] = _error(exc)
    if not sg.audit.flush(timeout=10.0):
        result["flush_failed"] = True
    result["records"] = [_jsonable(r) for r in sink.records]
    out.write(json.dumps(result, default=repr))
    out.flush()


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python -m sdk_guard._pytest_child REQUEST.json", file=sys.stderr)
        return 2
    request = json.loads(Path(argv[1]).read_text(encoding="utf-8"))
    out = open(request["result"], "w", encoding="utf-8")  # noqa: SIM115 (held across lockdown)
    try:
        run(request, out)
    finally:
        out.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
