"""A loopback registry per module (anonymous and with basic auth) and image layouts the
tests build from the host's files (see tests/support/registry.py and oci_images.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.registry import Registry, RegistryUnavailable, start_registry

USER, PASSWORD = "ci-user", "s3cret-pw"


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    try:
        with start_registry(tmp_path_factory.mktemp("registry")) as found:
            yield found
    except RegistryUnavailable as exc:
        pytest.skip(str(exc))


@pytest.fixture(scope="module")
def private_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    try:
        root = tmp_path_factory.mktemp("private-registry")
        with start_registry(root, username=USER, password=PASSWORD) as found:
            yield found
    except RegistryUnavailable as exc:
        pytest.skip(str(exc))


@pytest.fixture(scope="module")
def token_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    """Bearer-token auth from a token service that logs in with USER/PASSWORD."""
    try:
        root = tmp_path_factory.mktemp("token-registry")
        with start_registry(root, username=USER, password=PASSWORD, token=True) as found:
            yield found
    except RegistryUnavailable as exc:
        pytest.skip(str(exc))


@pytest.fixture
def store_dir(tmp_path: Path) -> Path:
    return tmp_path / "store"
