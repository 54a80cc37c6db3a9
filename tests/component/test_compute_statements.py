"""How much database work a short session costs: statements per create (waiting until it
runs) and per destroy, on the embedded agent with the fake runtime. A budget, not a timing:
each statement is a round trip (a thread hop on SQLite) on the path users wait on."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import event

from hangar.agent.models import NodeInfo
from hangar.core.compute.models import CreateRequest, SessionSpec
from hangar.core.compute.states import SessionStatus
from hangar.core.principal import Principal
from hangar.core.services import Services

CREATE_BUDGET = 20  # statements, the session's own and the scheduler pass it wakes
DESTROY_BUDGET = 6
# The session's row, its placement (PENDING -> SCHEDULED -> PREPARING), RUNNING.
CREATE_COMMITS = 3


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"agent_runtime": "fake", "idle_timeout_seconds": 0}


# Loops with a cadence of their own (metering, endpoints, agents' watch, sweeps, the
# lifecycle's reclaim pass): what they read is not the session's, yet under load a pass
# lands inside a slow create or destroy and is counted.
OFF_PATH_LOOPS = frozenset({"billing", "endpoints", "endpoint-tasks", "remote-agents",
                            "task-watchdog", "storage-sweeps", "usage-flush",
                            "pod-init-commands"})  # fmt: skip


@pytest.fixture
async def running(services: Services) -> AsyncIterator[Services]:
    await services.start_loops()
    for task in asyncio.all_tasks():
        if task.get_name() in OFF_PATH_LOOPS:
            task.cancel()
    services.lifecycle._interval = 3600.0  # its periodic reclaim and hand-off passes too
    yield services


@contextmanager
def counted(services: Services, what: str = "before_cursor_execute") -> Iterator[list[str]]:
    """The engine's ``what`` events while the block runs: each statement (its first 80
    characters), or each ``"commit"``."""
    seen: list[str] = []

    def count(*args: Any) -> None:
        seen.append(" ".join(str(args[2]).split())[:80] if len(args) > 2 else what)

    engine = services.engine.sync_engine
    event.listen(engine, what, count)
    try:
        yield seen
    finally:
        event.remove(engine, what, count)


async def admin_caller(services: Services) -> Principal:
    assert services.first_admin is not None
    ak = services.first_admin.keypair.keypair.access_key
    return (await services.identity.credentials_for(ak)).caller


async def test_a_short_session_stays_within_its_statement_budget(running: Services) -> None:
    caller = await admin_caller(running)
    warm_up = await running.compute.create(caller, CreateRequest("warm-up", SessionSpec("python")))
    await running.compute.destroy(caller, str(warm_up.session.id))
    await asyncio.sleep(0.05)  # the scheduler pass the destroy woke
    with counted(running) as statements:
        created = await running.compute.create(
            caller, CreateRequest("short", SessionSpec("python"))
        )
    assert created.status == SessionStatus.RUNNING.value
    assert len(statements) <= CREATE_BUDGET, "\n".join(statements)
    with counted(running) as statements:
        ended = await running.compute.destroy(caller, str(created.session.id))
    assert ended.status == SessionStatus.TERMINATED
    assert len(statements) <= DESTROY_BUDGET, "\n".join(statements)
    assert (await running.compute.get(created.session.id)).status == SessionStatus.TERMINATED


async def test_a_create_waits_on_three_commits_and_records_every_status(
    running: Services,
) -> None:
    caller = await admin_caller(running)
    warm_up = await running.compute.create(caller, CreateRequest("warm-up", SessionSpec("python")))
    await running.compute.destroy(caller, str(warm_up.session.id))
    await asyncio.sleep(0.05)  # the scheduler pass the destroy woke
    with counted(running, "commit") as made:
        created = await running.compute.create(
            caller, CreateRequest("short", SessionSpec("python"))
        )
    assert created.status == SessionStatus.RUNNING.value
    assert len(made) <= CREATE_COMMITS
    history = (await running.compute.get(created.session.id)).status_history
    assert list(history)[:4] == ["PENDING", "SCHEDULED", "PREPARING", "RUNNING"]


async def test_a_create_reads_the_agents_once_and_no_dependencies_when_none(
    running: Services,
) -> None:
    """The create's read of the ALIVE agents serves the scheduler pass it wakes, and with no
    pending session depending on another the pass reads no dependencies."""
    caller = await admin_caller(running)
    warm_up = await running.compute.create(caller, CreateRequest("warm-up", SessionSpec("python")))
    await running.compute.destroy(caller, str(warm_up.session.id))
    await asyncio.sleep(0.05)  # the scheduler pass the destroy woke
    with counted(running) as statements:
        created = await running.compute.create(
            caller, CreateRequest("short", SessionSpec("python"))
        )
    assert created.status == SessionStatus.RUNNING.value
    listed = "\n".join(statements)
    assert sum(s.startswith("SELECT agents.id") for s in statements) == 1, listed
    assert not any(s.startswith("SELECT session_dependencies") for s in statements), listed


async def test_dependencies_are_still_read_when_a_pending_session_has_some(
    running: Services,
) -> None:
    """A session waiting on another stays PENDING with the reason while one without starts;
    once its dependency ends, it starts too."""
    caller = await admin_caller(running)
    first = await running.compute.create(caller, CreateRequest("first", SessionSpec("python")))
    waiting = await running.compute.create(
        caller,
        CreateRequest("waits", SessionSpec("python"), dependencies=("first",), enqueue_only=True),
    )
    free = await running.compute.create(caller, CreateRequest("free", SessionSpec("python")))
    assert free.status == SessionStatus.RUNNING.value
    held = await running.compute.get(waiting.session.id)
    assert held.status == SessionStatus.PENDING
    assert (held.status_info or "").startswith("waiting for dependencies: first")
    await running.compute.destroy(caller, str(first.session.id))
    for _ in range(200):
        if (await running.compute.get(waiting.session.id)).status == SessionStatus.RUNNING:
            break
        await asyncio.sleep(0.025)
    assert (await running.compute.get(waiting.session.id)).status == SessionStatus.RUNNING


class _NewAgent:
    agent_id = "i-joins-later"

    async def info(self) -> NodeInfo:
        return NodeInfo(self.agent_id, {"cpu": Decimal(2), "mem": Decimal(4 << 30)})


async def test_a_reused_read_of_the_agents_never_hides_one_that_joined_or_left(
    services: Services,
) -> None:
    agents = services.agents
    before = {a.id for a in await agents.alive()}
    await agents.register(_NewAgent())  # type: ignore[arg-type]
    assert {a.id for a in await agents.alive(reuse=True)} == before | {"i-joins-later"}
    agents.disconnect("i-joins-later")
    assert {a.id for a in await agents.alive(reuse=True)} == before
    with counted(services) as statements:  # unchanged since: the last read serves
        assert {a.id for a in await agents.alive(reuse=True)} == before
    assert statements == []
