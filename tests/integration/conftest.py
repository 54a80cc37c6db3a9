from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

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
