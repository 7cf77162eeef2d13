"""Exceptions raised by sdk_guard (names are part of the public contract)."""
from __future__ import annotations

from typing import Any

__all__ = ["PolicyViolation", "ImportBoundaryError", "PolicyError", "GuardError"]


class PolicyViolation(PermissionError):
    """An operation denied by policy.

    A ``PermissionError`` (never a ``RuntimeError``) so code that already handles
    EACCES-style failures keeps working.  Carries who asked, for what, and which policy
    key to change; ``event_id`` is the ``seq`` of the audit record written for it.
    """

    principal: str | None
    capability: str | None
    target: str | None
    rule: str | None
    event_id: int | None

    def __init__(self, message: str = "", *, principal: str | None = None,
                 capability: str | None = None, target: str | None = None,
                 rule: str | None = None, event_id: int | None = None) -> None:
        super().__init__(message)
        self.principal = principal
        self.capability = capability
        self.target = target
        self.rule = rule
        self.event_id = event_id

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class ImportBoundaryError(PolicyViolation, ImportError):
    """An extension imported a module its policy does not allow."""

    def __init__(self, message: str = "", **kw: Any) -> None:
        PolicyViolation.__init__(self, message, **kw)
        self.msg = message
        self.name = kw.get("target")
        self.path = None


class PolicyError(ValueError):
    """A policy that cannot be used.  ``key`` is the dotted path of the offending entry."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(f"{key}: {message}" if key else message)
        self.key = key
        self.message = message


class GuardError(Exception):
    """Misuse of the guard (installing twice, lockdown requirements not met, ...)."""
