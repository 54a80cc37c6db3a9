"""SUSPENDED through the core service, on the embedded agent with the bubblewrap sandbox:
a suspended session's processes are gone and its slots free; resumed, it runs again on its
agent with /home/work as it was left."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator
from typing import Any

import pytest

from hangar.core.agents.client import BatchSteps
from hangar.core.compute.models import ComputeSession, CreateRequest, SessionSpec
from hangar.core.compute.states import SessionStatus
from hangar.core.errors import HangarError, InvalidRequest
from hangar.core.principal import Principal
from hangar.core.services import Services

S = SessionStatus
pytestmark = pytest.mark.skipif(shutil.which("bwrap") is None, reason="no bubblewrap")


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    # No pools and no loop-mounted disks: a pool's pre-built entries (and their disks) are
    # kept for the next start of the server, which a test's data dir never sees.
    return {
        "idle_timeout_seconds": 0,
        "kernel_pool_size": 0,
        "sandbox_pool_size": 0,
        "session_default_disk": "0",
    }


@pytest.fixture
async def running(services: Services) -> AsyncIterator[Services]:
    await services.start_loops()
    yield services


async def admin(services: Services) -> Principal:
    assert services.first_admin is not None
    ak = services.first_admin.keypair.keypair.access_key
    return (await services.identity.credentials_for(ak)).caller


async def wait_status(services: Services, session_id: Any, wanted: S) -> ComputeSession:
    for _ in range(1500):
        current = await services.compute.get(session_id)
        if current.status == wanted:
            return current
        await asyncio.sleep(0.02)
    raise AssertionError(f"the session stayed {current.status}, wanted {wanted}")


async def run(services: Services, session: ComputeSession, command: str) -> str:
    """The stdout of ``command`` run in the session's /home/work."""
    executions = services.executions
    handle = executions.start_batch(session, BatchSteps(exec=command))
    out = ""
    async with asyncio.timeout(120):
        while True:
            result = await executions.take(session, handle, 5.0)
            out += "".join(item.text for item in result.console if item.stream == "stdout")
            if result.status.ended:
                assert result.exit_code == 0, out
                return out


async def test_suspend_frees_the_slots_and_resume_keeps_home(running: Services) -> None:
    caller = await admin(running)
    (agent,) = await running.agents.alive()
    cores = agent.available_slots["cpu"]  # all of them: a second such session must wait
    spec = SessionSpec("python", resources={"cpu": cores, "mem": "256m"})
    created = await running.compute.create(
        caller, CreateRequest("paused-one", spec, max_wait_seconds=120)
    )
    assert created.status == S.RUNNING, created.session.status_info
    session = created.session
    await run(running, session, "echo 'kept across suspend' > notes.txt")

    suspended = await running.compute.suspend(caller, "paused-one")
    assert suspended.status == S.SUSPENDED
    assert suspended.occupied_slots == {} and suspended.agent_id == session.agent_id
    assert session.agent_id is not None
    with pytest.raises(HangarError):  # no kernel on the agent any more: its processes ended
        await running.agents.client(session.agent_id).stats(session.id)
    with pytest.raises(InvalidRequest, match="not RUNNING"):
        await running.compute.running(caller, "paused-one")

    # Its CPUs are free: a session asking for all of them starts.
    other = await running.compute.create(
        caller, CreateRequest("all-cores", spec, max_wait_seconds=120)
    )
    assert other.status == S.RUNNING
    await running.compute.destroy(caller, "all-cores")

    resumed = await running.compute.resume(caller, "paused-one")
    assert resumed.status in (S.PENDING, S.SCHEDULED, S.PREPARING, S.RUNNING)
    back = await wait_status(running, session.id, S.RUNNING)
    assert back.agent_id == session.agent_id and back.occupied_slots
    assert await run(running, back, "cat notes.txt") == "kept across suspend\n"
    assert "SUSPENDED" in back.status_history
    await running.compute.destroy(caller, "paused-one")


async def test_only_running_sessions_suspend_and_only_suspended_ones_resume(
    running: Services,
) -> None:
    caller = await admin(running)
    spec = SessionSpec("python", resources={"cpu": 1, "mem": "256m"})
    await running.compute.create(caller, CreateRequest("never-paused", spec, max_wait_seconds=120))
    with pytest.raises(InvalidRequest, match="suspended sessions"):
        await running.compute.resume(caller, "never-paused")
    await running.compute.suspend(caller, "never-paused")
    with pytest.raises(InvalidRequest, match="running sessions"):
        await running.compute.suspend(caller, "never-paused")
    ended = await running.compute.destroy(caller, "never-paused")  # a suspended one ends too
    assert ended.status == S.TERMINATED
    ended = await running.compute.get((await running.compute.resolve(
        caller, "never-paused", include_dead=True)).id)  # fmt: skip
    assert ended.status == S.TERMINATED
