"""``SDK_GUARD_LEARN=TRAIL``: what ``python -m sdk_guard learn`` sets for the program it
runs.  The guard then installs in monitor mode (nothing is refused), records every
decision (``guard.audit = "all"``) to TRAIL as JSONL, and writes TRAIL.policy.json with
the policy's source and template values, so ``learn`` can write paths back as
``{data}/...``.  It says so on stderr: a process never runs unenforced silently.
"""
from __future__ import annotations

import json
import os
import sys
from typing import Any

ENV = "SDK_GUARD_LEARN"


def sidecar(trail: str | os.PathLike[str]) -> str:
    return os.fspath(trail) + ".policy.json"


def apply(policy: Any, spec: Any, trail: str) -> None:
    """Switch SPEC (the install spec of POLICY) to learning: monitor + record all."""
    from . import audit

    spec["mode"] = "monitor"
    spec["audit"] = "all"
    with open(sidecar(trail), "w", encoding="utf-8") as f:
        json.dump({"source": policy.source, "variables": policy.variables,
                   "pid": os.getpid()}, f)
    audit.add_sink(audit.JsonlSink(trail, flush="batch", name="learn"))
    sys.stderr.write(f"sdk_guard: {ENV} is set: monitor mode, nothing is enforced; every "
                     f"decision is recorded to {trail}\n")
