"""Declared access requirements for actions, pages and tools.

An extension declares what each entry point needs, in code::

    @sg.action("invoices.export", requires=["invoices.read"], approval=False)
    def export(...): ...

Calling it checks the current request context (``sdk_guard.context``): without every
required permission it raises ``PolicyViolation`` (capability ``permission``, the
missing permission in ``target`` and the message) and leaves an audit record.  It runs
inside an ``action`` span; with ``approval=True`` it first goes through the approvals
service (``sdk_guard.approvals``).

The host's policy may tighten a declaration, never loosen it::

    [actions."invoices.export"]
    requires = ["invoices.export"]    # added to what the code declares
    approval = true                   # true only: a declared approval cannot be removed
"""
from __future__ import annotations

import functools
import inspect
import re
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, TypeVar

from . import _guard, audit, context
from ._config.validate import boolean, check_keys, table
from .errors import PolicyError, PolicyViolation

__all__ = ["ActionSpec", "action", "page", "tool", "registry", "get", "parse_config",
           "effective"]

F = TypeVar("F", bound=Callable[..., Any])

KINDS: Final = ("action", "page", "tool")
_NAME: Final = re.compile(r"[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*")
_PERM: Final = re.compile(r"[a-z][a-z0-9_]*(\.[a-z0-9_]+)*")


@dataclass(frozen=True)
class ActionSpec:
    """One declared action as its code declared it (``effective()`` adds the policy)."""
    name: str
    kind: str
    requires: tuple[str, ...]
    approval: bool
    owner: str | None            # extension name, None for host code
    function: str                # module.qualname
    description: str = field(default="")


_registry: dict[str, ActionSpec] = {}
_lock = threading.Lock()


def _check_name(name: object, what: str) -> str:
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise ValueError(f"{what} {name!r}: use lower-case dotted words, e.g. invoices.export")
    return str.__str__(name)


def _check_perms(values: object, key: str, err: type[Exception] = ValueError) -> tuple[str, ...]:
    if isinstance(values, str) or not isinstance(values, (list, tuple, set, frozenset)):
        msg = f"requires must be a list of permission names, not {type(values).__name__}"
        raise PolicyError(key, msg) if err is PolicyError else err(msg)
    out: list[str] = []
    for i, p in enumerate(values):
        if not isinstance(p, str) or not _PERM.fullmatch(p):
            msg = f"{p!r} is not a permission name (lower-case dotted words, e.g. invoices.read)"
            raise PolicyError(f"{key}[{i}]", msg) if err is PolicyError else err(msg)
        if p not in out:
            out.append(str.__str__(p))
    return tuple(out)


def _owner_of(fn: Callable[..., Any]) -> str | None:
    code = getattr(inspect.unwrap(fn), "__code__", None)
    return _guard.code_owner(code) if code is not None else None


def _declare(name: str, kind: str, requires: Any, approval: bool,
             description: str | None) -> Callable[[F], F]:
    name = _check_name(name, kind)
    reqs = _check_perms(list(requires) if isinstance(requires, (list, tuple, set, frozenset))
                        else requires, f"{kind} {name} requires")
    if not isinstance(approval, bool):
        raise TypeError(f"{kind} {name}: approval must be True or False")

    def decorate(fn: F) -> F:
        owner = _owner_of(fn)
        spec = ActionSpec(name, kind, reqs, approval, owner,
                          f"{getattr(fn, '__module__', '?')}.{getattr(fn, '__qualname__', '?')}",
                          description if description is not None
                          else (inspect.getdoc(fn) or "").split("\n")[0])
        with _lock:
            old = _registry.get(name)
            if old is not None and (old.owner, old.function) != (owner, spec.function):
                who = old.owner or "the host"
                raise ValueError(f"{kind} {name!r} is already declared by {who} "
                                 f"({old.function}); action names are unique")
            _registry[name] = spec
        return _wrap(fn, spec)

    return decorate


def action(name: str, *, requires: Any = (), approval: bool = False,
           description: str | None = None) -> Callable[[F], F]:
    """Declare an action: ``@sg.action("invoices.export", requires=[...], approval=False)``."""
    return _declare(name, "action", requires, approval, description)


def page(name: str, *, requires: Any = (), approval: bool = False,
         description: str | None = None) -> Callable[[F], F]:
    """Declare a page (a UI entry point) with the same rules as :func:`action`."""
    return _declare(name, "page", requires, approval, description)


def tool(name: str, *, requires: Any = (), approval: bool = False,
         description: str | None = None) -> Callable[[F], F]:
    """Declare a tool (an entry point an AI model may call) like :func:`action`."""
    return _declare(name, "tool", requires, approval, description)


# ---- policy: tighten only -------------------------------------------------------------

def parse_config(section: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Validates the ``[actions]`` policy section: ``[actions."NAME"] requires = [...],
    approval = true``.  Returns {name: {"requires": (...), "approval": bool}}."""
    out: dict[str, dict[str, Any]] = {}
    for name, raw in table(section, "actions").items():
        key = f"actions.{name}"
        if not isinstance(name, str) or not _NAME.fullmatch(name):
            raise PolicyError(key, "action names are lower-case dotted words, e.g. "
                                   "[actions.\"invoices.export\"]")
        body = table(raw, key)
        check_keys(body, key, ("requires", "approval"), "the policy can only tighten an action")
        out[name] = {"requires": _check_perms(body.get("requires", []), f"{key}.requires",
                                              PolicyError),
                     "approval": boolean(body.get("approval", False), f"{key}.approval")}
    return out


def _policy_rules() -> Mapping[str, dict[str, Any]]:
    from .guard import current_guard
    g = current_guard()
    if g is None:
        return _host_rules
    rules: Mapping[str, dict[str, Any]] = g.policy.data.get("actions", {})
    return rules


# Used when no guard is installed (a host that only wants actions): set by configure().
_host_rules: dict[str, dict[str, Any]] = {}


def configure(rules: Mapping[str, Any]) -> None:
    """Set the tightening rules without installing the guard (the ``[actions]`` table)."""
    _guard.require_host("actions.configure")
    parsed = parse_config(rules)
    _host_rules.clear()
    _host_rules.update(parsed)


def effective(spec: ActionSpec) -> tuple[tuple[str, ...], bool, tuple[str, ...]]:
    """(requires, approval, added-by-policy) for SPEC: the declaration plus the policy."""
    rule = _policy_rules().get(spec.name)
    if rule is None:
        return spec.requires, spec.approval, ()
    added = tuple(p for p in rule["requires"] if p not in spec.requires)
    return spec.requires + added, spec.approval or rule["approval"], added


def registry() -> list[dict[str, Any]]:
    """Every declared action, page and tool with its effective requirements."""
    with _lock:
        specs = sorted(_registry.values(), key=lambda s: s.name)
    out = []
    for s in specs:
        requires, approval, added = effective(s)
        out.append({"name": s.name, "kind": s.kind, "owner": s.owner,
                    "function": s.function, "requires": list(requires),
                    "declared_requires": list(s.requires), "policy_requires": list(added),
                    "approval": approval, "declared_approval": s.approval,
                    "description": s.description})
    return out


def get(name: str) -> ActionSpec:
    with _lock:
        return _registry[name]


# ---- the check ----------------------------------------------------------------------

def _check(spec: ActionSpec) -> tuple[context.RequestContext, bool]:
    requires, approval, _ = effective(spec)
    ctx = context.require(f"{spec.kind} {spec.name}", spec.owner)
    for perm in requires:
        if not ctx.has(perm):
            rule = f"actions.{spec.name}.requires"
            seq = audit.emit("app", "permission", "deny", principal=spec.owner, target=perm,
                             rule=rule, extra={"action": spec.name, "kind": spec.kind,
                                               "missing": perm})
            raise PolicyViolation(
                f"{spec.kind} {spec.name!r} requires permission {perm!r}, which user "
                f"{ctx.user!r} of org {ctx.org!r} does not have", principal=spec.owner,
                capability="permission", target=perm, rule=rule, event_id=seq)
    return ctx, approval


def _approve(spec: ActionSpec, ctx: context.RequestContext, args: tuple[Any, ...],
             kwargs: dict[str, Any]) -> None:
    from . import approvals
    approvals.require(principal=spec.owner, capability=spec.kind, target=spec.name,
                      reason=f"{spec.kind} {spec.name} is marked approval=True",
                      rule=f"actions.{spec.name}.approval",
                      details={"args": [repr(a)[:200] for a in args],
                               "kwargs": {k: repr(v)[:200] for k, v in kwargs.items()}})


def _wrap(fn: F, spec: ActionSpec) -> F:
    if inspect.iscoroutinefunction(fn):
        @functools.wraps(fn)
        async def run_async(*args: Any, **kwargs: Any) -> Any:
            ctx, approval = _check(spec)
            with audit.span("action", spec.name, entry=spec.kind, owner=spec.owner):
                if approval:
                    _approve(spec, ctx, args, kwargs)
                return await fn(*args, **kwargs)
        run_async.__sdk_guard_action__ = spec  # type: ignore[attr-defined]
        return run_async  # type: ignore[return-value]

    @functools.wraps(fn)
    def run(*args: Any, **kwargs: Any) -> Any:
        ctx, approval = _check(spec)
        with audit.span("action", spec.name, entry=spec.kind, owner=spec.owner):
            if approval:
                _approve(spec, ctx, args, kwargs)
            return fn(*args, **kwargs)
    run.__sdk_guard_action__ = spec  # type: ignore[attr-defined]
    return run  # type: ignore[return-value]
