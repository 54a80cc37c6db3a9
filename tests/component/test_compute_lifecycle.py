"""The session lifecycle with the embedded agent on the fake runtime (no sandbox needed)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import update

from hangar.core.clock import FakeClock
from hangar.core.compute.models import ComputeSession, CreateRequest, SessionSpec
from hangar.core.compute.states import SessionStatus
from hangar.core.principal import Principal
from hangar.core.services import Services, open_services
from hangar.db.tables.identity import ResourcePolicyRow

S = SessionStatus


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"agent_runtime": "fake", "idle_timeout_seconds": 0}


@pytest.fixture
async def running(services: Services) -> AsyncIterator[Services]:
    await services.start_embedded_agent()
    yield services


async def admin_caller(services: Services) -> Principal:
    assert services.first_admin is not None
    ak = services.first_admin.keypair.keypair.access_key
    return (await services.identity.credentials_for(ak)).caller


async def wait_status(services: Services, session: ComputeSession, *wanted: SessionStatus
                      ) -> ComputeSession:  # fmt: skip
    for _ in range(400):
        current = await services.compute.get(session.id)
        if current.status in wanted:
            return current
        await asyncio.sleep(0.01)
    raise AssertionError(f"{session.name} stayed {current.status}, wanted {wanted}")


async def start(services: Services, name: str, **kwargs: Any) -> ComputeSession:
    caller = await admin_caller(services)
    spec_fields = {k: kwargs.pop(k) for k in ("resources", "bootstrap_script") if k in kwargs}
    spec = SessionSpec("python", **spec_fields)
    request = CreateRequest(name=name, spec=spec, enqueue_only=True, **kwargs)
    result = await services.compute.create(caller, request)
    assert result.status == "PENDING"
    await services.lifecycle.schedule_pass()
    return result.session


async def test_pending_to_running_to_terminated(running: Services) -> None:
    session = await start(running, "lifecycle1")
    current = await wait_status(running, session, S.RUNNING)
    assert current.agent_id is not None
    assert current.occupied_slots["cpu"] == "1"
    assert list(current.status_history) == ["PENDING", "SCHEDULED", "PREPARING", "RUNNING"]
    caller = await admin_caller(running)
    ended = await running.compute.destroy(caller, "lifecycle1")
    assert ended.status == S.TERMINATED
    done = await running.compute.get(session.id)
    assert done.status == S.TERMINATED
    assert done.terminated_at is not None
    assert "TERMINATING" in done.status_history


async def test_cancel_pending_and_unschedulable_reason(running: Services) -> None:
    cores = len(os.sched_getaffinity(0))  # the fake agent's CPUs, all held: the next waits
    await start(running, "cpu-holder", resources={"cpu": cores})
    session = await start(running, "too-big", resources={"cpu": 1})
    current = await running.compute.get(session.id)
    assert current.status == S.PENDING
    assert current.status_info and "cpu" in current.status_info
    caller = await admin_caller(running)
    ended = await running.compute.destroy(caller, "too-big")
    assert (ended.status, ended.stats) == (S.CANCELLED, None)
    assert (await running.compute.get(session.id)).status == S.CANCELLED


async def test_keypair_concurrency_keeps_the_extra_session_pending(running: Services) -> None:
    async with running.sessions() as db, db.begin():
        await db.execute(update(ResourcePolicyRow).values(max_concurrent_sessions=2))
    sessions = [await start(running, f"conc-{i}") for i in range(3)]
    await wait_status(running, sessions[0], S.RUNNING)
    await wait_status(running, sessions[1], S.RUNNING)
    third = await running.compute.get(sessions[2].id)
    assert third.status == S.PENDING
    assert third.status_info and "concurren" in third.status_info
    caller = await admin_caller(running)
    await running.compute.destroy(caller, "conc-0")
    await running.lifecycle.schedule_pass()
    await wait_status(running, sessions[2], S.RUNNING)


async def test_max_lifetime_and_idle_timeout(running: Services, clock: FakeClock) -> None:
    async with running.sessions() as db, db.begin():
        await db.execute(update(ResourcePolicyRow).values(max_session_lifetime=60,
                                                          idle_timeout=30))  # fmt: skip
    old = await start(running, "old-one")
    await wait_status(running, old, S.RUNNING)
    clock.advance(31)
    await running.lifecycle.reclaim_pass()
    await wait_status(running, old, S.TERMINATED)
    assert (await running.compute.get(old.id)).status_info == "idle-timeout"

    busy = await start(running, "busy-one")
    await wait_status(running, busy, S.RUNNING)
    running.lifecycle.mark_busy(busy.id, True)
    clock.advance(61)
    await running.lifecycle.reclaim_pass()
    await wait_status(running, busy, S.TERMINATED)
    assert (await running.compute.get(busy.id)).status_info == "max-lifetime-reached"


async def test_sessions_come_back_after_a_server_restart(running: Services) -> None:
    session = await start(running, "survivor")
    await wait_status(running, session, S.RUNNING)
    caller = await admin_caller(running)
    await running.compute.upload(caller, "survivor", [("keep.txt", b"still here")])
    await running.close()

    again = await open_services(running.settings, clock=running.clock)
    try:
        await again.start_embedded_agent()
        back = await wait_status(again, session, S.RUNNING)
        assert back.id == session.id
        tars = await again.compute.download(caller, "survivor", ["keep.txt"])
        assert b"still here" in tars[0]
    finally:
        await again.close()


async def test_lifecycle_webhook(running: Services) -> None:
    import httpx

    from hangar.api.bai.webhooks import BackendAiWebhooks
    from hangar.core.compute.webhooks import WebhookNotifier

    received: list[dict[str, Any]] = []
    done = asyncio.Event()

    def handler(request: httpx.Request) -> httpx.Response:
        import json

        received.append(json.loads(request.content))
        if received[-1]["event"] == "terminated":
            done.set()
        return httpx.Response(204)

    notifier = WebhookNotifier(running.clock, running.bus, BackendAiWebhooks(),
                               transport=httpx.MockTransport(handler))  # fmt: skip
    task = asyncio.create_task(notifier.run())
    await asyncio.sleep(0)
    session = await start(running, "hooked", callback_url="http://hooks.test/h")
    await wait_status(running, session, S.RUNNING)
    caller = await admin_caller(running)
    await running.compute.destroy(caller, "hooked")
    await asyncio.wait_for(done.wait(), 5)
    task.cancel()
    events = [r["event"] for r in received]
    assert events == ["enqueued", "scheduled", "preparing", "started", "terminated"]
    assert {r["session_id"] for r in received} == {str(session.id)}
    assert all(r["type"] == "session_lifecycle" for r in received)


async def test_failed_start_is_an_error_with_reason_and_leaves_nothing(running: Services) -> None:
    session = await start(running, "broken-boot", bootstrap_script="echo booting; exit 3")
    failed = await wait_status(running, session, S.ERROR)
    assert failed.status_info is not None
    assert failed.status_info.startswith("failed-to-start")
    assert "Bootstrap" in failed.status_info or "bootstrap" in failed.status_info
    scratch = running.settings.scratch_dir / str(session.id)
    assert not scratch.exists()
    caller = await admin_caller(running)
    assert (await running.compute.destroy(caller, "broken-boot")).status == S.TERMINATED
    assert (await running.compute.get(session.id)).status == S.TERMINATED


async def test_frozen_manager_refuses_new_sessions(running: Services) -> None:
    from hangar.core.errors import ServerFrozen

    await running.manager.set_status("frozen")
    caller = await admin_caller(running)
    with pytest.raises(ServerFrozen):
        await running.compute.create(caller, CreateRequest(name="cold", spec=SessionSpec("python")))
    await running.manager.set_status("running")
    created = await running.compute.create(
        caller, CreateRequest(name="cold", spec=SessionSpec("python"), enqueue_only=True)
    )
    assert created.created


async def test_requests_below_the_image_minimum_are_refused(running: Services) -> None:
    from hangar.core.errors import InvalidRequest

    caller = await admin_caller(running)
    with pytest.raises(InvalidRequest, match="cpu=1"):
        await running.compute.create(
            caller, CreateRequest("tiny", SessionSpec("python", resources={"cpu": "0.25"}))
        )


async def test_unknown_scaling_group_and_dependencies_are_clear_errors(running: Services) -> None:
    from hangar.core.errors import InvalidRequest, NotFound

    caller = await admin_caller(running)
    with pytest.raises(NotFound, match="scaling group"):
        await running.compute.create(
            caller, CreateRequest(name="lost", spec=SessionSpec("python"), scaling_group="nowhere")
        )
    with pytest.raises(NotFound, match="No such session to depend on: first"):
        await running.compute.create(
            caller, CreateRequest(name="later", spec=SessionSpec("python"), dependencies=("first",))
        )
    with pytest.raises(InvalidRequest, match="starts_at"):
        await running.compute.create(
            caller, CreateRequest(name="later", spec=SessionSpec("python"), starts_at="1h")
        )


async def crash_in(services: Services, session: ComputeSession, status: SessionStatus) -> str:
    """The session's row says ``status`` and its kernel is gone, as after a kill -9 of the
    server in the middle of that status; returns its agent id."""
    from hangar.db.tables.compute import SessionRow

    current = await wait_status(services, session, S.RUNNING)
    assert current.agent_id is not None
    await services.agents.client(current.agent_id).destroy_kernel(session.id)
    async with services.sessions() as db, db.begin():
        await db.execute(
            update(SessionRow).where(SessionRow.id == session.id).values(status=status.value)
        )
    return current.agent_id


@pytest.mark.parametrize("status", [S.PREPARING, S.PULLING, S.RESTARTING, S.SCHEDULED])
async def test_a_session_cut_off_while_starting_starts_again(
    running: Services, status: SessionStatus
) -> None:
    session = await start(running, f"cut-{status.value.lower()}")
    agent_id = await crash_in(running, session, status)
    await running.lifecycle.recover(agent_id, running=[])
    back = await wait_status(running, session, S.RUNNING, S.ERROR)
    assert back.status == S.RUNNING, back.status_info
    assert running.settings.scratch_dir.joinpath(str(session.id)).is_dir()


async def test_a_running_session_whose_kernel_died_meanwhile_fails_with_the_reason(
    running: Services,
) -> None:
    session = await start(running, "died-away")
    agent_id = await crash_in(running, session, S.RUNNING)
    await running.lifecycle.recover(agent_id, running=[])
    failed = await wait_status(running, session, S.ERROR)
    assert failed.status_info is not None and failed.status_info.startswith("kernel-lost")


async def test_a_failing_restart_path_is_logged_and_counted(
    running: Services, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    from prometheus_client import REGISTRY

    session = await start(running, "unlucky")
    agent_id = await crash_in(running, session, S.PREPARING)

    async def broken(_session: ComputeSession) -> None:
        raise RuntimeError("image store on fire")

    monkeypatch.setattr(running.lifecycle, "_creation", broken)
    name, labels = "hangar_reconcile_errors_total", {"step": "restart-path PREPARING"}
    before = REGISTRY.get_sample_value(name, labels) or 0.0
    await running.lifecycle.recover(agent_id, running=[])
    assert REGISTRY.get_sample_value(name, labels) == before + 1
    assert "image store on fire" in caplog.text


async def test_an_ended_sessions_log_stays_readable_while_its_agent_is_away(
    running: Services,
) -> None:
    session = await start(running, "kept-log", bootstrap_script="echo from the bootstrap")
    current = await wait_status(running, session, S.RUNNING)
    assert current.agent_id is not None
    caller = await admin_caller(running)
    await running.compute.destroy(caller, "kept-log")
    client = running.agents.client(current.agent_id)
    running.agents.disconnect(current.agent_id)  # restarting, or gone for good
    try:
        assert "from the bootstrap" in await running.compute.logs(caller, "kept-log")
    finally:
        await running.agents.register(client)


async def test_the_log_of_a_session_that_ended_while_its_agent_was_away_is_kept_on_its_return(
    running: Services,
) -> None:
    from hangar.db.tables.compute import SessionRow

    session = await start(running, "away-log", bootstrap_script="echo from the bootstrap")
    current = await wait_status(running, session, S.RUNNING)
    assert current.agent_id is not None
    async with running.sessions() as db, db.begin():  # ended here; its kernel runs on there
        await db.execute(
            update(SessionRow).where(SessionRow.id == session.id).values(status="TERMINATED")
        )
    client = running.agents.client(current.agent_id)
    await running.lifecycle.recover(current.agent_id, running=[session.id])
    running.agents.disconnect(current.agent_id)
    try:
        caller = await admin_caller(running)
        assert "from the bootstrap" in await running.compute.logs(caller, "away-log")
    finally:
        await running.agents.register(client)
