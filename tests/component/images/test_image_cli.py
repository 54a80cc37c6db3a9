"""``hangar image pull|ls|rm|gc`` on this node's store, against a private loopback registry."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from hangar.cli.main import app
from tests.component.images.conftest import PASSWORD, USER
from tests.support.oci_images import ImageBuild, Layout, file
from tests.support.registry import Registry


def test_pull_list_remove_and_collect(
    private_registry: Registry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HANGAR_DATA_DIR", str(tmp_path / "data"))
    layout = Layout(tmp_path / "layout")
    layout.tag(layout.image(ImageBuild([[file("hello", "hi")], [file("two", "2")]])), "v1")
    private_registry.push(layout.root, "cli/app:v1", tag="v1")
    ref = f"{private_registry.host}/cli/app:v1"
    runner = CliRunner()

    refused = runner.invoke(app, ["image", "pull", ref])
    assert refused.exit_code == 1 and "requires a login" in refused.output
    pulled = runner.invoke(app, ["image", "pull", ref, "--username", USER, "--password-stdin"],
                           input=PASSWORD + "\n")  # fmt: skip
    assert pulled.exit_code == 0, pulled.output
    assert f"{ref} sha256:" in pulled.output
    rootfs = next((tmp_path / "data").rglob(".hangar-images/rootfs/*"))
    assert (rootfs / "hello").read_text() == "hi"

    listed = runner.invoke(app, ["image", "ls"])
    assert listed.exit_code == 0 and ref in listed.output
    assert runner.invoke(app, ["image", "rm", ref]).exit_code == 0
    collected = runner.invoke(app, ["image", "gc"])
    assert collected.exit_code == 0 and "freed" in collected.output
    assert not rootfs.exists()
    assert runner.invoke(app, ["image", "rm", ref]).exit_code == 1
