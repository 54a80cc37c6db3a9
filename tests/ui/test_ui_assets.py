"""The UI's npm assets: served from node_modules when installed, a log hint when not."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from hangar.ui.assets import INSTALL_HINT, NODE_MODULES, VENDOR_FILES, Vendor


def test_missing_assets_are_named_with_the_install_command(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    vendor = Vendor(root=tmp_path)
    assert vendor.path("htmx.min.js") is None and not vendor.available("htmx.min.js")
    with caplog.at_level(logging.WARNING, logger="hangar.ui"):
        vendor.warn_if_missing()
    assert INSTALL_HINT in caplog.text and "htmx.min.js" in caplog.text


def test_installed_assets_resolve_inside_node_modules_only() -> None:
    vendor = Vendor()
    if vendor.missing:
        pytest.fail(f"{vendor.missing}: run `{INSTALL_HINT}` (scripts/test does)")
    for name in VENDOR_FILES:
        path = vendor.path(name)
        assert path is not None and path.is_file() and NODE_MODULES in path.parents
    assert vendor.path("../../package.json") is None  # only the listed files are served
