"""Helpers shared by the test suite and ``scripts/test`` (no Hangar imports)."""
