"""How many transactions a short session's create waits on: each commit is a write the
database serialises (a thread hop on SQLite, a round trip on PostgreSQL) on the path users
wait on. The scheduler's placement and the start of the kernel's preparation are one."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import event

from hangar.core.compute.models import CreateRequest, SessionSpec
from hangar.core.compute.states import SessionStatus
from hangar.core.principal import Principal
from hangar.core.services import Services

# The session's row, its placement (PENDING -> SCHEDULED -> PREPARING), RUNNING.
CREATE_COMMITS = 3


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"agent_runtime": "fake", "idle_timeout_seconds": 0}


@pytest.fixture
async def running(services: Services) -> AsyncIterator[Services]:
    await services.start_loops()
    yield services


@contextmanager
def commits(services: Services) -> Iterator[list[int]]:
    made: list[int] = []

    def count(*_: Any) -> None:
        made.append(1)

    engine = services.engine.sync_engine
    event.listen(engine, "commit", count)
    try:
        yield made
    finally:
        event.remove(engine, "commit", count)


async def admin_caller(services: Services) -> Principal:
    assert services.first_admin is not None
    ak = services.first_admin.keypair.keypair.access_key
    return (await services.identity.credentials_for(ak)).caller


async def test_a_create_waits_on_three_commits_and_records_every_status(
    running: Services,
) -> None:
    caller = await admin_caller(running)
    warm_up = await running.compute.create(caller, CreateRequest("warm-up", SessionSpec("python")))
    await running.compute.destroy(caller, str(warm_up.session.id))
    await asyncio.sleep(0.05)  # the scheduler pass the destroy woke
    with commits(running) as made:
        created = await running.compute.create(
            caller, CreateRequest("short", SessionSpec("python"))
        )
    assert created.status == SessionStatus.RUNNING.value
    assert len(made) <= CREATE_COMMITS
    history = (await running.compute.get(created.session.id)).status_history
    assert list(history)[:4] == ["PENDING", "SCHEDULED", "PREPARING", "RUNNING"]
