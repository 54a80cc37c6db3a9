"""A face + core + a real database, driven in-process through httpx's ASGI transport."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from hangar.api.app import create_app
from hangar.core.clock import FakeClock
from hangar.core.services import Services, open_services
from tests.support.bai import Signer
from tests.support.settings import settings_for

BASE_URL = "http://127.0.0.1:8090"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(datetime.now(UTC))


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {}


@pytest.fixture
async def services(
    database_url: str, tmp_path: Path, clock: FakeClock, settings_overrides: dict[str, Any]
) -> AsyncIterator[Services]:
    settings = settings_for(tmp_path, database_url, **settings_overrides)
    services = await open_services(settings, clock=clock)
    yield services
    await services.close()


@pytest.fixture
async def client(services: Services) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_app(services))
    async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as client:
        yield client


@pytest.fixture
def admin(services: Services) -> Signer:
    first = services.first_admin
    assert first is not None
    return Signer(first.keypair.keypair.access_key, first.keypair.secret_key)


@pytest.fixture
def admin_password(services: Services) -> str:
    assert services.first_admin is not None
    return services.first_admin.password
