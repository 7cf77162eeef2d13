"""Kernel lockdown: Landlock + seccomp (being written)."""
from __future__ import annotations


class LockdownReport:
    pass


def lockdown(*a, **k):  # type: ignore[no-untyped-def]
    raise NotImplementedError


def probe():  # type: ignore[no-untyped-def]
    raise NotImplementedError
