"""Audit trail (being written)."""
from __future__ import annotations
