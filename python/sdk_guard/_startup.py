"""Turning the guard on without editing the host's entry point.

Two ways in, one function (:func:`start`):

* ``python -m sdk_guard run --policy P script.py`` (``_cli.run``), and
* ``SDK_GUARD_POLICY=P`` in the environment of an interpreter that has sdk_guard
  installed: the wheel ships ``sdk_guard-startup.pth``, whose one line checks
  ``os.environ`` (already imported by ``site``) and imports this module only when the
  variable is set and ``SDK_GUARD_DISABLE`` is not.

Environment (start-up path):

``SDK_GUARD_POLICY``    policy file (.toml/.json) to install before any user code
``SDK_GUARD_DISABLE``   any value but "" or "0": ignore SDK_GUARD_POLICY
``SDK_GUARD_DATA``      the ``{data}`` template value
``SDK_GUARD_LOCKDOWN``  "1": also apply the policy's ``[lockdown]``

A policy that fails to load stops the interpreter with the ``PolicyError`` text on
stderr and exit status 2, before any user code runs: never a silent start without the
guard.  The guard itself is installed when the program's ``__main__`` code starts
(see :func:`from_environment`).
"""
from __future__ import annotations

import copy
import os
import sys
from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import Any

EXIT_BAD_POLICY = 2

PTH_NAME = "sdk_guard-startup.pth"
# The line site.py executes in every interpreter with sdk_guard installed: a dict lookup
# when the variable is unset (os is already imported by site), nothing imported.
PTH_LINE = ('import os; os.environ.get("SDK_GUARD_POLICY") and '
            'os.environ.get("SDK_GUARD_DISABLE", "") in ("", "0") and '
            '__import__("sdk_guard._startup")._startup.from_environment()\n')


class Prepared:
    """A loaded, validated policy (and lockdown spec) not yet installed."""

    def __init__(self, policy: Any, lockdown_spec: dict[str, Any] | None) -> None:
        self.policy = policy
        self.lockdown_spec = lockdown_spec

    def install(self) -> Any:
        """Configure the policy's [audit] sinks, install the guard, then apply the
        lockdown if one was asked for.  Returns the Guard."""
        import sdk_guard as sg
        from sdk_guard.audit._config import configure
        config = self.policy.audit_config()
        if config is not None:
            configure(config, self.policy.variables)
        guard = sg.install(self.policy)
        if self.lockdown_spec is not None:
            # As the policy (lockdown() also grants its extensions' import paths), with
            # the --allow-read paths in its [lockdown] table.
            locked = copy.copy(self.policy)
            locked._lockdown = self.lockdown_spec
            sg.lockdown(locked)
        return guard


def load(policy_path: str | os.PathLike[str], *, lockdown: bool = False,
         allow_read: Sequence[str] = (), variables: Mapping[str, str] | None = None
         ) -> Prepared:
    """Load and validate POLICY_PATH (and its [lockdown] plus ALLOW_READ paths when
    LOCKDOWN); raises PolicyError / OSError / GuardError, having installed nothing."""
    import sdk_guard as sg
    from sdk_guard._lockdown_spec import parse_spec
    from sdk_guard.errors import GuardError

    policy = sg.Policy.from_file(policy_path, variables=variables or None)
    spec = None
    if lockdown:
        spec = dict(policy.lockdown_spec() or {})
        spec["fs.read"] = list(spec.get("fs.read", [])) + [
            os.path.realpath(p) for p in allow_read]
        spec = parse_spec(spec)
    elif allow_read:
        raise GuardError("--allow-read widens the kernel lockdown; it needs --lockdown")
    return Prepared(policy, spec)


def start(policy_path: str | os.PathLike[str], *, lockdown: bool = False,
          allow_read: Sequence[str] = (), variables: Mapping[str, str] | None = None
          ) -> Any:
    """load() then install(): the guard is on when this returns."""
    return load(policy_path, lockdown=lockdown, allow_read=allow_read,
                variables=variables).install()


def _refuse(path: str, exc: BaseException) -> None:
    sys.stderr.write(f"sdk_guard: SDK_GUARD_POLICY={path}: {describe_failure(exc)}\n"
                     "sdk_guard: refusing to start without the guard (unset "
                     "SDK_GUARD_POLICY or set SDK_GUARD_DISABLE=1 to run unguarded)\n")
    sys.stderr.flush()
    # site.py reports and ignores exceptions from .pth lines, so exit here.
    os._exit(EXIT_BAD_POLICY)


def _excepthook(exc_type: type[BaseException], exc: BaseException,
                tb: TracebackType | None) -> None:
    # The interpreter prints an uncaught exception with no Python frame on the stack,
    # so the guard would refuse its reads of the source lines as unattributed; from
    # this (host) frame they are the host's.
    sys.__excepthook__(exc_type, exc, tb)


def from_environment() -> None:
    """The .pth entry: validate SDK_GUARD_POLICY now (or stop the interpreter with
    exit 2), install the guard when __main__'s first frame starts.

    Installing during site would be too early: the interpreter itself then opens the
    script (``python app.py``) or runpy searches for the module (``-m``) with no Python
    frame of the host on the stack, which the guard refuses as unattributed.  A
    profile function, removed at its first use, marks the moment the program's own
    code starts; only site-level start-up code (later .pth files, sitecustomize) runs
    before it, as it would before any line of the host.
    """
    path = os.environ.get("SDK_GUARD_POLICY", "")
    variables = {"data": os.environ["SDK_GUARD_DATA"]} if os.environ.get("SDK_GUARD_DATA") \
        else None
    try:
        prepared = load(path, lockdown=os.environ.get("SDK_GUARD_LOCKDOWN") == "1",
                        variables=variables)
    except Exception as exc:  # anything: the interpreter must not run unguarded
        _refuse(path, exc)
        return

    def until_main(frame: Any, event: str, arg: Any) -> None:
        if event != "call" or frame.f_globals.get("__name__") != "__main__":
            return
        sys.setprofile(None)
        try:
            prepared.install()
        except Exception as exc:
            _refuse(path, exc)
        if sys.excepthook is sys.__excepthook__:
            sys.excepthook = _excepthook

    sys.setprofile(until_main)


def describe_failure(exc: BaseException) -> str:
    from sdk_guard.errors import PolicyError
    if isinstance(exc, PolicyError):
        return f"invalid policy: {exc}"
    if isinstance(exc, OSError):
        return f"cannot read policy: {exc.strerror or exc}"
    return f"{type(exc).__name__}: {exc}"
