"""Leases on sessions, and the termination hand-off between two server processes: process B
(a second lifecycle with no agent connected) terminates a session running on process A's
agent; A's reconcile pass claims it and finishes the job."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from hangar.core.agents.service import AgentService
from hangar.core.clock import FakeClock
from hangar.core.compute import repo
from hangar.core.compute.lifecycle import SessionLifecycle
from hangar.core.compute.states import SessionStatus
from hangar.core.reconcile import Leases
from hangar.core.services import Services
from hangar.db.tables.compute import SessionRow
from tests.component.test_compute_lifecycle import (  # the fixtures: fake agent, running
    running,  # noqa: F401
    settings_overrides,  # noqa: F401
    start,
    wait_status,
)

S = SessionStatus


def other_process(services: Services) -> SessionLifecycle:
    """A lifecycle as a second server process on the same database has it: no agent."""
    return SessionLifecycle(
        services.sessions,
        services.clock,
        agents=AgentService(services.sessions, services.clock),
        images=services.images,
        bus=services.bus,
        leases=Leases("process-b"),
    )


async def test_a_termination_asked_elsewhere_is_finished_by_the_agents_process(
    running: Services,  # noqa: F811
) -> None:
    session = await start(running, "handoff1")
    await wait_status(running, session, S.RUNNING)
    current = await running.compute.get(session.id)
    b = other_process(running)

    asked = asyncio.create_task(b.terminate(current, reason="user-requested"))
    midway = await wait_status(running, session, S.TERMINATING)
    assert midway.status == S.TERMINATING  # B moved it, and cannot destroy the kernel
    assert not asked.done()
    assert await running.lifecycle.handoff_pass() == 1  # A claims and finishes it
    ended = await asyncio.wait_for(asked, 5)

    assert ended.status == S.TERMINATED
    assert ended.stats is not None  # B answers with the figures A recorded
    done = await running.compute.get(session.id)
    assert done.status == S.TERMINATED
    scratch = running.settings.scratch_dir / str(session.id)
    for _ in range(100):  # the agent removes it after it answered
        if not scratch.exists():
            break
        await asyncio.sleep(0.05)
    assert not scratch.exists(), "the kernel stayed on the agent"
    async with running.sessions() as db:
        row = await db.get(SessionRow, session.id)
        assert row is not None and row.lease_owner is None  # released with the last move
    assert await running.lifecycle.handoff_pass() == 0  # nothing is finished twice


async def test_a_lease_is_held_until_it_runs_out(
    running: Services,  # noqa: F811
    clock: FakeClock,
) -> None:
    session = await start(running, "lease1")
    await wait_status(running, session, S.RUNNING)
    first, second = Leases("a", ttl=timedelta(seconds=30)), Leases("b")
    wanted = SessionRow.id == session.id

    async def claim(leases: Leases) -> list[Any]:
        async with running.sessions() as db, db.begin():
            return await leases.claim(db, SessionRow, wanted, now=clock.now())

    assert await claim(first) == [session.id]
    assert await claim(second) == []  # held by "a"
    async with running.sessions() as db, db.begin():
        await second.release(db, SessionRow, [session.id])  # not b's to give back
    assert await claim(second) == []
    clock.advance(31)
    assert await claim(second) == [session.id]  # a's lease ran out (a died, say)
    async with running.sessions() as db, db.begin():
        await repo.release_leases(db, second, [session.id])
    assert await claim(first) == [session.id]
