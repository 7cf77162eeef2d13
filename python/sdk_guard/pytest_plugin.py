"""pytest plugin: state a policy's intent in a few lines of a host's own test suite.

Registered through the ``pytest11`` entry point of the installed package, or loaded by
hand with ``pytest -p sdk_guard.pytest_plugin``.  An audit hook can never be removed,
so every case runs in a fresh child interpreter::

    def test_acme_cannot_read_secrets(sdk_guard_run):
        r = sdk_guard_run("policy.toml", extension="acme", call="acme.export",
                          args=("/etc/passwd",))
        r.assert_denied(capability="fs.read", target="/etc/passwd")

    @pytest.mark.sdk_guard_policy("policy.toml")
    def test_whole_test_under_policy():
        guard = sdk_guard.current_guard()      # installed before the body runs
        ...

Nothing is installed in the pytest process itself.
"""
from __future__ import annotations

import fnmatch
import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

__all__ = ["GuardRun", "GuardRunError"]

MARKER = "sdk_guard_policy"
# Set in the child pytest of a marked test: the node id whose body runs under the policy.
_CHILD_ENV = "SDK_GUARD_PYTEST_MARKED"
_PLUGIN = "sdk_guard.pytest_plugin"

_DENIED = {"enforce": ("deny", "refused"), "monitor": ("would_deny",)}
_ALLOWED = ("allow", "approved")
_FS_CAPS = ("fs.read", "fs.write")


class GuardRunError(AssertionError):
    """The child could not run the case at all (bad policy, import failure, crash)."""


def _matches(rec: Mapping[str, Any], capability: str | None, target: str | None,
             principal: str | None) -> bool:
    if capability is not None and rec.get("capability") != capability:
        return False
    if principal is not None and rec.get("principal") != principal:
        return False
    if target is None:
        return True
    got = rec.get("target")
    if not isinstance(got, str):
        return False
    wanted = [target]
    if rec.get("capability") in _FS_CAPS and os.path.isabs(target):
        wanted.append(os.path.realpath(target))
    for w in wanted:
        if got == w or (any(c in w for c in "*?[") and fnmatch.fnmatchcase(got, w)):
            return True
    return False


def _line(rec: Mapping[str, Any]) -> str:
    return (f"  {rec.get('decision')!s:10} {rec.get('capability')!s:14} "
            f"{rec.get('target')!s}  (principal {rec.get('principal')}, "
            f"rule {rec.get('rule')})")


def _describe_want(capability: str | None, target: str | None, principal: str | None) -> str:
    parts = [capability or "any capability"]
    if target is not None:
        parts.append(f"on {target}")
    if principal is not None:
        parts.append(f"by {principal}")
    return " ".join(parts)


class GuardRun:
    """The outcome of one case: what the call returned or raised, and its audit records."""

    def __init__(self, request: Mapping[str, Any], result: Mapping[str, Any],
                 proc: subprocess.CompletedProcess[str]) -> None:
        self.request = dict(request)
        self.mode: str = str(result.get("mode") or request.get("mode") or "enforce")
        self.stage: str = str(result.get("stage"))
        self.returned: Any = result.get("returned")
        self.error: dict[str, Any] | None = result.get("error")
        self.records: list[dict[str, Any]] = list(result.get("records", []))
        self.lockdown_report: dict[str, Any] | None = result.get("lockdown")
        self.stdout = proc.stdout
        self.stderr = proc.stderr
        self.returncode = proc.returncode

    # -- views

    @property
    def raised(self) -> bool:
        return self.error is not None

    @property
    def denials(self) -> list[dict[str, Any]]:
        """Records of decisions this run's mode counts as denials (deny/refused in
        enforce mode, would_deny in monitor mode)."""
        return [r for r in self.records if r.get("decision") in _DENIED.get(self.mode, ())
                and r.get("layer") == "guard"]

    def find(self, capability: str | None = None, target: str | None = None, *,
             principal: str | None = None,
             decisions: Iterable[str] | None = None) -> list[dict[str, Any]]:
        """The records matching every filter given (TARGET may be a glob)."""
        wanted = set(decisions) if decisions is not None else None
        return [r for r in self.records
                if (wanted is None or r.get("decision") in wanted)
                and _matches(r, capability, target, principal)]

    def _summary(self) -> str:
        out = [f"run: policy {self.request.get('policy')}, extension "
               f"{self.request.get('extension')}, call {self.request.get('call')}, "
               f"mode {self.mode}" + (", lockdown" if self.request.get("lockdown") else "")]
        if self.error is not None:
            out.append(f"the call raised {self.error['type']}: {self.error['message']}"
                       + (f" (at stage {self.stage})" if self.stage != "call" else ""))
        else:
            out.append(f"the call returned {self.returned!r}")
        mediated = [r for r in self.records if r.get("layer") == "guard"]
        if mediated:
            out.append(f"guard records of the run ({len(mediated)}):")
            out += [_line(r) for r in mediated[-25:]]
        else:
            out.append("the run recorded no guard decisions")
        return "\n".join(out)

    # -- assertions

    def assert_denied(self, capability: str | None = None, target: str | None = None, *,
                      principal: str | None = None, layer: str = "guard") -> dict[str, Any]:
        """Asserts the run was refused CAPABILITY on TARGET (a glob is allowed).

        ``layer="guard"`` (default) looks for the Process Guard's record: ``deny`` in
        enforce mode, ``would_deny`` in monitor mode.  ``layer="kernel"`` asserts the
        call failed with EACCES/EPERM from Landlock or seccomp (the kernel writes no
        record) and not with a guard denial.  Returns the matching record (or error).
        """
        want = _describe_want(capability, target, principal)
        if layer == "kernel":
            err = self.error
            if (err is not None and not err["policy_violation"]
                    and err.get("errno_name") in ("EACCES", "EPERM")):
                return err
            raise AssertionError(f"expected the kernel (Landlock/seccomp) to refuse {want} "
                                 f"with EACCES/EPERM, but it did not\n{self._summary()}")
        if layer != "guard":
            raise ValueError(f'layer must be "guard" or "kernel", not {layer!r}')
        if self.error is not None and self.stage not in ("call", "lockdown", "import"):
            raise GuardRunError(f"the case did not run (failed at stage {self.stage})\n"
                                f"{self.error['traceback']}")
        found = self.find(capability, target, principal=principal,
                          decisions=_DENIED.get(self.mode, ()))
        if not found:
            decision = " or ".join(_DENIED.get(self.mode, ()))
            raise AssertionError(f"expected a {decision} of {want}, found none\n"
                                 f"{self._summary()}")
        return found[0]

    def assert_allowed(self, capability: str | None = None, target: str | None = None, *,
                       principal: str | None = None) -> None:
        """Asserts nothing matching was denied (or would have been, in monitor mode) and
        the call raised no policy error; with CAPABILITY given, also that the guard
        recorded an allow of it (the child records allowed decisions unless
        ``record_allowed=False``)."""
        want = _describe_want(capability, target, principal)
        if self.error is not None and self.error["policy_violation"]:
            raise AssertionError(f"expected {want} to be allowed, but the call raised a "
                                 f"policy error\n{self._summary()}")
        if self.error is not None and self.stage != "call":
            raise GuardRunError(f"the case did not run (failed at stage {self.stage})\n"
                                f"{self.error['traceback']}")
        refused = self.find(capability, target, principal=principal,
                            decisions=("deny", "refused", "would_deny"))
        refused = [r for r in refused if r.get("layer") == "guard"]
        if refused:
            raise AssertionError(f"expected {want} to be allowed, but the guard recorded "
                                 f"{refused[0].get('decision')}: {_line(refused[0]).strip()}\n"
                                 f"{self._summary()}")
        if capability is not None and self.request.get("record_allowed", True):
            if not self.find(capability, target, principal=principal, decisions=_ALLOWED):
                raise AssertionError(f"expected an allow record of {want}, found none (was "
                                     f"the operation reached at all?)\n{self._summary()}")

    def assert_ok(self) -> None:
        """Asserts the call returned without raising."""
        if self.error is not None:
            raise AssertionError(f"expected the call to return\n{self._summary()}\n"
                                 f"{self.error['traceback']}")

    def __repr__(self) -> str:
        outcome = f"raised {self.error['type']}" if self.error else f"returned {self.returned!r}"
        return (f"<GuardRun {self.request.get('call')} mode={self.mode} {outcome} "
                f"records={len(self.records)}>")


def _child_env(extra: Mapping[str, str] | None) -> dict[str, str]:
    env = dict(os.environ)
    # The child starts clean: no start-up policy of its own, and the parent's import
    # path, so the host's packages and sdk_guard resolve as they do here.
    env.pop("SDK_GUARD_POLICY", None)
    env.pop(_CHILD_ENV, None)
    paths = [p for p in sys.path if p and os.path.isdir(p)]
    if env.get("PYTHONPATH"):
        paths.append(env["PYTHONPATH"])
    env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(paths))
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    if extra:
        env.update(extra)
    return env


def _policy_path(policy: str | os.PathLike[str], base: Path) -> Path:
    p = Path(policy)
    if not p.is_absolute() and (base / p).exists():
        p = base / p
    return p.resolve()


Runner = Callable[..., GuardRun]


@pytest.fixture
def sdk_guard_run(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
                  ) -> Runner:
    """``sdk_guard_run(policy, extension=, call="pkg.func", args=(), kwargs=None,
    mode=None, lockdown=False, variables=None, record_allowed=True, env=None,
    pythonpath=(), timeout=120) -> GuardRun``: one case in a fresh interpreter.

    A relative POLICY is looked up next to the test file first.  ``mode="monitor"``
    runs the policy in monitor mode; ``lockdown=True`` applies the policy's
    ``[lockdown]`` (or ``lockdown={...}`` a table of its own) after the extension is
    imported and before the call.  The child's import path is this process's
    ``sys.path`` with ``pythonpath`` (relative to the test file) in front.
    """
    base = Path(str(request.path)).parent
    workdir = tmp_path_factory.mktemp("sdk_guard_run")
    counter = [0]

    def run(policy: str | os.PathLike[str], extension: str | None = None,
            call: str | None = None, args: Sequence[Any] = (),
            kwargs: Mapping[str, Any] | None = None, *, mode: str | None = None,
            lockdown: bool | Mapping[str, Any] = False,
            variables: Mapping[str, str] | None = None, record_allowed: bool = True,
            env: Mapping[str, str] | None = None, pythonpath: Sequence[str] = (),
            timeout: float = 120) -> GuardRun:
        if mode not in (None, "enforce", "monitor"):
            raise ValueError(f'mode must be "enforce" or "monitor", not {mode!r}')
        counter[0] += 1
        req_path = workdir / f"case{counter[0]}.json"
        res_path = workdir / f"case{counter[0]}.result.json"
        req = {"policy": str(_policy_path(policy, base)), "extension": extension,
               "call": call, "args": list(args), "kwargs": dict(kwargs or {}),
               "mode": mode, "lockdown": dict(lockdown) if isinstance(lockdown, Mapping)
               else bool(lockdown), "variables": dict(variables or {}),
               "record_allowed": record_allowed, "result": str(res_path)}
        req_path.write_text(json.dumps(req), encoding="utf-8")
        child_env = _child_env(env)
        if pythonpath:
            child_env["PYTHONPATH"] = os.pathsep.join(
                [os.fspath(base / p) for p in pythonpath] + [child_env["PYTHONPATH"]])
        proc = subprocess.run([sys.executable, "-m", "sdk_guard._pytest_child", str(req_path)],
                              env=child_env, capture_output=True, text=True,
                              timeout=timeout, cwd=str(base))
        try:
            result = json.loads(res_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            raise GuardRunError(f"the sdk_guard child exited {proc.returncode} without a "
                                f"result\n--- stdout\n{proc.stdout}\n--- stderr\n"
                                f"{proc.stderr}") from None
        return GuardRun(req, result, proc)

    return run


# ---- the marker: a whole test under a policy -------------------------------------------

def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", f"{MARKER}(policy, *, mode=None, lockdown=False, variables=None): run "
        "the test in a fresh interpreter with sdk_guard installed from POLICY (relative "
        "to the test file) before its body runs; sdk_guard.current_guard() is the guard")


def _marker_args(item: pytest.Function) -> tuple[Path, dict[str, Any]] | None:
    mark = item.get_closest_marker(MARKER)
    if mark is None:
        return None
    if len(mark.args) != 1:
        raise pytest.UsageError(f"{item.nodeid}: @pytest.mark.{MARKER} takes one policy path")
    kw = dict(mark.kwargs)
    unknown = set(kw) - {"mode", "lockdown", "variables"}
    if unknown:
        raise pytest.UsageError(f"{item.nodeid}: @pytest.mark.{MARKER}: unknown keyword "
                                f"{', '.join(sorted(unknown))}; use mode, lockdown, variables")
    return _policy_path(mark.args[0], Path(str(item.path)).parent), kw


def _install_in_child(policy_path: Path, kw: Mapping[str, Any]) -> None:
    import sdk_guard as sg
    from sdk_guard._pytest_child import _load_raw

    raw = _load_raw(policy_path)
    if kw.get("mode"):
        raw.setdefault("guard", {})["mode"] = kw["mode"]
    policy = sg.Policy.from_dict(raw, variables=kw.get("variables") or None,
                                 base_dir=policy_path.parent, source=str(policy_path))
    sg.install(policy)
    if kw.get("lockdown"):
        sg.lockdown(policy)


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    found = _marker_args(pyfuncitem)
    if found is None:
        return None
    policy_path, kw = found
    if os.environ.get(_CHILD_ENV) == pyfuncitem.nodeid:
        _install_in_child(policy_path, kw)
        return None          # the default implementation now runs the body, guarded
    config = pyfuncitem.config
    cmd = [sys.executable, "-m", "pytest", pyfuncitem.nodeid, "-q", "-p", "no:cacheprovider",
           "--rootdir", str(config.rootpath)]
    if config.inipath is not None:
        cmd += ["-c", str(config.inipath)]
    if config.pluginmanager.get_plugin(_PLUGIN) is not None:
        cmd += ["-p", _PLUGIN]
    proc = subprocess.run(cmd, cwd=str(config.rootpath), capture_output=True, text=True,
                          env=_child_env({_CHILD_ENV: pyfuncitem.nodeid}), timeout=600)
    if proc.returncode != 0:
        tail = proc.stdout.strip().splitlines()[-60:]
        pytest.fail(f"under policy {policy_path} (child interpreter, exit "
                    f"{proc.returncode}):\n" + "\n".join(tail)
                    + (f"\n--- stderr\n{proc.stderr.strip()}" if proc.stderr.strip() else ""),
                    pytrace=False)
    return True
