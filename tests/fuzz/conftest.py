"""Hypothesis profiles for the fuzz suite.

``SDK_GUARD_FUZZ_PROFILE`` picks one:
  ci     (default) every suite bounded so the whole directory runs in about two
         minutes on two shared cores; derandomized, so a CI failure reproduces.
  long   ten times the examples with a fresh random seed, for a local hunt.
Past failures are replayed deterministically in every profile: as ``@example``s on
the properties and as the corpus files under tests/fuzz/corpus/.
"""
from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

_COMMON = {"deadline": None, "database": None, "print_blob": True,
           "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large,
                                     HealthCheck.filter_too_much]}
settings.register_profile("ci", max_examples=300, derandomize=True, **_COMMON)
settings.register_profile("long", max_examples=3000, **_COMMON)
settings.load_profile(os.environ.get("SDK_GUARD_FUZZ_PROFILE", "ci"))


def scaled(n: int) -> int:
    """N examples under the ci profile, scaled with the active profile's budget."""
    return max(1, n * settings().max_examples // 300)
