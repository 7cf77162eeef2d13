"""Attaches a sink from an atexit handler: ``audit_sink_at_exit.py``.

The handler runs before the audit writer's own exit handler (atexit is last in, first
out). From 3.12 no thread can start at interpreter shutdown, so ``add_sink`` raises
there; the writer's exit handler must then find nothing half-started. Prints what
``add_sink`` did on stdout.
"""
import atexit
import sys

sys.path[0] = ""  # what `python -c` puts there: the working directory

from sdk_guard import audit  # noqa: E402


def attach_late() -> None:
    try:
        audit.add_sink(audit.MemorySink())
        print("attached", flush=True)
    except RuntimeError as exc:
        print(f"refused: {exc}", flush=True)


audit.emit("guard", "fs.read", "allow", target="/before-exit")
atexit.register(attach_late)
