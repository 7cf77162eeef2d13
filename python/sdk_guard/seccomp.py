"""seccomp-BPF layer of lockdown() (being written).

Interface used by sdk_guard.lockdown:
    plan = prepare(mode)    # mode: "errno" | "trap" | "log" | "kill" | "off"; builds, probes, applies nothing
    plan.status             # "full" | "partial" | "none"
    plan.report             # JSON-serialisable dict for LockdownReport["seccomp"]
    plan.apply()            # installs on every thread (TSYNC); raises GuardError, leaves nothing half-applied
"""
from __future__ import annotations
