"""Policy loading and validation (being written)."""
from __future__ import annotations


class Policy:
    pass
