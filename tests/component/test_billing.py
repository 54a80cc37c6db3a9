"""Cost from actual running time, on real sessions of the embedded agent under a fake clock:
it grows while a pod's session runs, stops while it is paused and once it ends; daily limits
refuse new sessions and pause running pods only when automatic."""

from __future__ import annotations

import asyncio
import shutil
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from hangar.core.billing.errors import DailyLimitReached
from hangar.core.billing.models import DailyLimit, LimitScope, Metered
from hangar.core.clock import FakeClock
from hangar.core.compute.models import (
    ComputeSession,
    CreateRequest,
    Origin,
    OriginKind,
    SessionSpec,
)
from hangar.core.compute.states import SessionStatus
from hangar.core.errors import InvalidRequest
from hangar.core.principal import Principal
from hangar.core.services import Services

S = SessionStatus
HOUR = 3600
pytestmark = pytest.mark.skipif(shutil.which("bwrap") is None, reason="no bubblewrap")
SPEC = SessionSpec("python", resources={"cpu": 1, "mem": "256m"})


@pytest.fixture
def clock() -> FakeClock:
    # the morning of a fixed day: hours added in a test stay within that UTC day
    return FakeClock(datetime(2026, 3, 2, 8, 0, tzinfo=UTC))


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {
        "idle_timeout_seconds": 0,
        "kernel_pool_size": 0,
        "sandbox_pool_size": 0,
        "session_default_disk": "0",
    }


@pytest.fixture
async def running(services: Services) -> AsyncIterator[Services]:
    await services.start_embedded_agent()
    task = asyncio.create_task(services.lifecycle.run())
    yield services
    task.cancel()


async def admin(services: Services) -> Principal:
    assert services.first_admin is not None
    ak = services.first_admin.keypair.keypair.access_key
    return (await services.identity.credentials_for(ak)).caller


async def pod(services: Services, caller: Principal, name: str, ref: str) -> ComputeSession:
    request = CreateRequest(name, SPEC, origin=Origin(OriginKind.POD, ref), max_wait_seconds=120)
    created = await services.compute.create(caller, request)
    assert created.status == S.RUNNING, created.session.status_info
    return created.session


async def wait_status(services: Services, session_id: uuid.UUID, wanted: S) -> None:
    for _ in range(1500):
        if (await services.compute.get(session_id)).status == wanted:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"session {session_id} never became {wanted}")


async def test_cost_follows_running_time_and_stops_when_paused_or_ended(
    running: Services, clock: FakeClock
) -> None:
    billing, caller = running.billing, await admin(running)
    await billing.set_price("cpu", Decimal("1.20"))  # per core-hour; memory is free here
    session = await pod(running, caller, "metered", "41")
    assert await billing.cost(Metered.POD, [41]) == {41: Decimal(0)}

    clock.advance(HOUR)
    assert await billing.cost(Metered.POD, [41, 42]) == {41: Decimal("1.2"), 42: Decimal(0)}

    await running.compute.suspend(caller, "metered")  # paused: nothing more to pay
    clock.advance(2 * HOUR)
    assert (await billing.cost(Metered.POD, [41]))[41] == Decimal("1.2")

    await running.compute.resume(caller, "metered")
    await wait_status(running, session.id, S.RUNNING)
    clock.advance(HOUR / 2)
    assert (await billing.cost(Metered.POD, [41]))[41] == Decimal("1.8")

    await running.compute.destroy(caller, "metered")
    clock.advance(5 * HOUR)
    assert (await billing.cost(Metered.POD, [41]))[41] == Decimal("1.8")
    assert (await billing.cost(Metered.SESSION, [session.id]))[session.id] == Decimal("1.8")

    usage = await billing.usage(clock.now() - timedelta(days=1))
    (line,) = usage.by_user
    assert line.label == caller.email and line.cost == Decimal("1.8")
    assert line.cpu_core_hours == Decimal("1.5")
    assert [p.label for p in usage.by_project] == ["default"]


async def test_a_price_change_applies_from_then_on(running: Services, clock: FakeClock) -> None:
    billing, caller = running.billing, await admin(running)
    await billing.set_price("cpu", Decimal("1"))
    await pod(running, caller, "repriced", "51")
    clock.advance(HOUR)
    await billing.set_price("cpu", Decimal("3"))
    clock.advance(HOUR)
    assert (await billing.cost(Metered.POD, [51]))[51] == Decimal(4)
    with pytest.raises(InvalidRequest):
        await billing.set_price("disk", Decimal(1))
    with pytest.raises(InvalidRequest):
        await billing.set_price("cpu", Decimal(-1))
    await running.compute.destroy(caller, "repriced")


async def test_a_daily_limit_refuses_new_work_and_pauses_only_when_automatic(
    running: Services, clock: FakeClock
) -> None:
    billing, caller = running.billing, await admin(running)
    await billing.set_price("cpu", Decimal(10))
    first = await pod(running, caller, "spender", "61")
    clock.advance(HOUR)  # 10 spent today
    await billing.set_limit(DailyLimit(LimitScope.USER, caller.user_uuid, Decimal(5)))

    with pytest.raises(DailyLimitReached, match="daily cost limit of 5 is reached"):
        await billing.admit(caller, Metered.POD)
    with pytest.raises(DailyLimitReached):  # a new session of any face is refused too
        await running.compute.create(caller, CreateRequest("another", SPEC))
    assert await billing.enforce() == []  # not automatic: running work is left alone
    assert (await running.compute.get(first.id)).status == S.RUNNING

    limit = DailyLimit(LimitScope.USER, caller.user_uuid, Decimal(5), automatic=True)
    await billing.set_limit(limit)
    assert await billing.enforce() == [first.id]
    assert (await running.compute.get(first.id)).status == S.SUSPENDED
    spent = (await billing.cost(Metered.POD, [61]))[61]
    clock.advance(HOUR)
    assert (await billing.cost(Metered.POD, [61]))[61] == spent == Decimal(10)

    clock.advance(24 * HOUR)  # a new day: admitted again
    await billing.admit(caller, Metered.POD)
    assert await billing.remove_limit(LimitScope.USER, caller.user_uuid)
    await running.compute.destroy(caller, "spender")


async def test_a_project_limit_counts_everyone_in_it(running: Services, clock: FakeClock) -> None:
    billing, caller = running.billing, await admin(running)
    await billing.set_price("cpu", Decimal(2))
    await pod(running, caller, "team-work", "71")
    clock.advance(HOUR)
    project = await billing.resolve(project="default", domain="default")
    await billing.set_limit(DailyLimit(LimitScope.PROJECT, project, Decimal(2)))
    with pytest.raises(DailyLimitReached, match="project's daily cost limit"):
        await billing.admit(caller, Metered.VM, project_id=project)
    with pytest.raises(DailyLimitReached):  # no project named: the domain's default one
        await billing.admit(caller, Metered.VOLUME)
    (listed,) = await billing.limits()
    assert listed.label == "default" and listed.amount == 2
    assert await billing.spent_today(group_id=project) == Decimal(2)
    await running.compute.destroy(caller, "team-work")


async def test_a_volume_is_charged_for_its_size_until_deleted(
    services: Services, clock: FakeClock
) -> None:
    billing, caller = services.billing, await admin(services)
    await billing.set_price("storage", Decimal("0.01"))  # per GiB-hour
    group = await billing.resolve(project="default", domain="default")
    await billing.storage_opened(5, user_uuid=caller.user_uuid, group_id=group, size_gib=100)
    clock.advance(HOUR)
    await billing.storage_opened(5, user_uuid=caller.user_uuid, group_id=group, size_gib=100)
    clock.advance(HOUR)
    await billing.storage_opened(5, user_uuid=caller.user_uuid, group_id=group, size_gib=200)
    clock.advance(HOUR)
    await billing.storage_closed(5)
    await billing.storage_closed(5)
    clock.advance(HOUR)
    assert await billing.cost(Metered.VOLUME, [5, 6]) == {5: Decimal(4), 6: Decimal(0)}
    usage = await billing.usage(clock.now() - timedelta(hours=10), clock.now())
    assert usage.by_user[0].storage_gib_hours == Decimal(400)
