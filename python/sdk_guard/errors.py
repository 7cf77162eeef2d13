"""Exceptions raised by sdk_guard (names are part of the public contract)."""
from __future__ import annotations

__all__ = ["VIOLATIONS", "PolicyViolation", "ImportBoundaryError", "PolicyError", "GuardError"]


class _ViolationMeta(type):
    # CPython cannot lay out a class that derives from both OSError (PermissionError)
    # and ImportError, so ImportBoundaryError is a real ImportError and a *virtual*
    # PolicyViolation: isinstance()/issubclass() say yes; an ``except`` clause needs
    # both names (see VIOLATIONS).
    def __instancecheck__(cls, obj: object) -> bool:
        return type.__instancecheck__(cls, obj) or (
            cls.__name__ == "PolicyViolation" and isinstance(obj, ImportBoundaryError))

    def __subclasscheck__(cls, sub: type) -> bool:
        return type.__subclasscheck__(cls, sub) or (
            cls.__name__ == "PolicyViolation" and type.__subclasscheck__(ImportBoundaryError, sub))


class _ViolationFields:
    principal: str | None
    capability: str | None
    target: str | None
    rule: str | None
    event_id: int | None

    def _set_fields(self, principal: str | None, capability: str | None,
                    target: str | None, rule: str | None, event_id: int | None) -> None:
        self.principal = principal
        self.capability = capability
        self.target = target
        self.rule = rule
        self.event_id = event_id


class PolicyViolation(_ViolationFields, PermissionError, metaclass=_ViolationMeta):
    """An operation denied by policy.

    A ``PermissionError`` (never a ``RuntimeError``) so code that already handles
    EACCES-style failures keeps working.  Carries who asked, for what, and which policy
    key to change; ``event_id`` is the ``seq`` of the audit record written for it.
    """

    def __init__(self, message: str = "", *, principal: str | None = None,
                 capability: str | None = None, target: str | None = None,
                 rule: str | None = None, event_id: int | None = None) -> None:
        PermissionError.__init__(self, message)
        self._set_fields(principal, capability, target, rule, event_id)

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class ImportBoundaryError(_ViolationFields, ImportError, metaclass=_ViolationMeta):
    """An extension imported a module its policy does not allow.

    An ``ImportError`` so ``try: import x / except ImportError`` fallbacks in extension
    code behave, and a virtual ``PolicyViolation`` with the same fields.
    """

    def __init__(self, message: str = "", *, principal: str | None = None,
                 capability: str | None = "import", target: str | None = None,
                 rule: str | None = None, event_id: int | None = None) -> None:
        ImportError.__init__(self, message, name=target)
        self._set_fields(principal, capability, target, rule, event_id)

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


#: Catch every denial: ``except sdk_guard.errors.VIOLATIONS``.
VIOLATIONS = (PolicyViolation, ImportBoundaryError)


class PolicyError(ValueError):
    """A policy that cannot be used.  ``key`` is the dotted path of the offending entry."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(f"{key}: {message}" if key else message)
        self.key = key
        self.message = message


class GuardError(Exception):
    """Misuse of the guard (installing twice, lockdown requirements not met, ...)."""
