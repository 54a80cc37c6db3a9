"""Hypothesis profiles for the fuzz suite (tests/fuzz).

``ci`` (the default) is derandomized and small enough for every push; ``deep`` runs many
more examples with shrinking, for hunting locally:
``HANGAR_FUZZ_PROFILE=deep .venv/bin/pytest -q tests/fuzz``.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, Phase, settings

settings.register_profile(
    "ci",
    max_examples=8,
    derandomize=True,
    database=None,
    deadline=None,
    phases=(Phase.explicit, Phase.generate),
    suppress_health_check=list(HealthCheck),
    print_blob=False,
)
settings.register_profile(
    "deep",
    max_examples=300,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
PROFILE = os.environ.get("HANGAR_FUZZ_PROFILE", "ci")
