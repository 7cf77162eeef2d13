"""sdk_guard: confine in-process extension code to a host's public SDK.

Two layers enforce one policy: the Process Guard (a PEP 578 audit hook and a meta-path
finder, portable) and the kernel lockdown (Landlock + seccomp-BPF, Linux, opt-in).
"""
from __future__ import annotations

# A missing or broken extension is an error, never a silent fallback.
from . import _guard, approvals, audit, context
from ._lockdown import LockdownReport, lockdown
from ._probe import probe
from .actions import action, page, tool
from .context import request
from .errors import GuardError, ImportBoundaryError, PolicyError, PolicyViolation
from .guard import Guard, acting_as, current_guard, install
from .policy import Policy

__version__ = _guard.__version__

__all__ = [
    "Guard", "GuardError", "ImportBoundaryError", "LockdownReport", "Policy",
    "PolicyError", "PolicyViolation", "acting_as", "audit", "current_guard",
    "install", "lockdown", "probe", "__version__",
    "context", "request", "action", "page", "tool", "approvals",
]
