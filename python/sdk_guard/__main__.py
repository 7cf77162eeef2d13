"""``python -m sdk_guard`` and the ``sdk-guard`` script: check, version, probe, explain,
audit, media, egress, actions, approvals, run, learn (the sdk_guard._cli package)."""
from __future__ import annotations

import sys

from ._cli import main

__all__ = ["main"]

if __name__ == "__main__":
    sys.exit(main())
