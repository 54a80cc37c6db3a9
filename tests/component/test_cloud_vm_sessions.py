"""A VM's session is a long-lived machine: the idle timeout that ends other sessions does
not end it (the embedded agent on the fake runtime)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import update

from hangar.core.clock import FakeClock
from hangar.core.compute.models import CreateRequest, Origin, OriginKind, SessionSpec
from hangar.core.compute.states import SessionStatus as S
from hangar.core.services import Services
from hangar.db.tables.identity import ResourcePolicyRow


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"agent_runtime": "fake", "idle_timeout_seconds": 0}


async def started(services: Services, name: str, origin: Origin) -> Any:
    assert services.first_admin is not None
    caller = await services.apikeys.principal_for(services.first_admin.api_key)
    request = CreateRequest(name=name, spec=SessionSpec("python"), origin=origin,
                            enqueue_only=True)  # fmt: skip
    session = (await services.compute.create(caller, request)).session
    for _ in range(400):
        await services.lifecycle.schedule_pass()
        if (await services.compute.get(session.id)).status is S.RUNNING:
            return session
        await asyncio.sleep(0.01)
    raise AssertionError(f"{name} did not start")


async def test_an_idle_vm_keeps_running_while_an_idle_session_ends(
    services: Services, clock: FakeClock
) -> None:
    await services.start_embedded_agent()
    async with services.sessions() as db, db.begin():
        await db.execute(update(ResourcePolicyRow).values(idle_timeout=30))
    vm = await started(services, "vm-1", Origin(OriginKind.VM, "1"))
    other = await started(services, "plain", Origin())
    clock.advance(31)
    await services.lifecycle.reclaim_pass()
    for _ in range(400):
        if (await services.compute.get(other.id)).status is S.TERMINATED:
            break
        await asyncio.sleep(0.01)
    assert (await services.compute.get(other.id)).status_info == "idle-timeout"
    assert (await services.compute.get(vm.id)).status is S.RUNNING
