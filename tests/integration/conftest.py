from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.clearml import clearml_server
from tests.support.live import BAI_CLI, LiveServer


@pytest.fixture
def live_server(database_url: str, tmp_path: Path) -> Iterator[LiveServer]:
    server = LiveServer(home=tmp_path / "home", database_url=database_url)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def official_client() -> None:
    if not BAI_CLI.exists():
        pytest.fail("official Backend.AI client missing: run scripts/install-official-clients.sh")


@pytest.fixture(scope="module")
def clearml_live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """One live server (SQLite) shared by a module's ClearML tests."""
    yield from clearml_server(tmp_path_factory.mktemp("clearml"))
