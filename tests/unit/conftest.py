"""Unit tests see the same environment whatever the caller exported.

``HANGAR_DATA_DIR`` (which the README suggests exporting), a client's ``BACKEND_*`` keys or
the caller's XDG directories must not change what a unit test computes: they are removed,
and the XDG base directories point into a fresh temporary directory of each test.
"""

from __future__ import annotations

import os

import pytest

CALLER_PREFIXES = ("HANGAR_", "BACKEND_", "SORNA_", "XDG_")


@pytest.fixture(autouse=True)
def caller_independent_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> None:
    for key in list(os.environ):
        if key.startswith(CALLER_PREFIXES):
            monkeypatch.delenv(key)
    base = tmp_path_factory.mktemp("xdg")
    for name, sub in (("CONFIG", "config"), ("DATA", "share"), ("STATE", "state")):
        monkeypatch.setenv(f"XDG_{name}_HOME", str(base / sub))
