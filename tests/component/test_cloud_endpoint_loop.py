"""The endpoints' reconcile loop over a real database and the embedded agent on the fake
runtime, passes driven by hand with a fake clock: load hints scale an autoscaled endpoint
up, idling scales it to zero, a wake brings a worker back; one server process at a time
holds an endpoint."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest

from hangar.core.clock import FakeClock
from hangar.core.endpoints import repo as endpoints_repo
from hangar.core.endpoints.loop import EndpointLoop
from hangar.core.endpoints.models import (
    EndpointRequest,
    EndpointSpec,
    LogEntry,
    Placement,
    Scaling,
    ServiceMode,
    WorkerStatus,
)
from hangar.core.principal import Principal
from hangar.core.reconcile import Leases
from hangar.core.services import Services, build_endpoint_loop

W = WorkerStatus


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"agent_runtime": "fake"}


async def caller(services: Services) -> Principal:
    assert services.first_admin is not None
    return await services.apikeys.principal_for(services.first_admin.api_key)


async def settle(services: Services, loop: EndpointLoop, endpoint_id: int,
                 wanted: dict[WorkerStatus, int]) -> dict[WorkerStatus, int]:  # fmt: skip
    """Pass (loop and scheduler) until the endpoint's workers count ``wanted``."""
    who = await caller(services)
    counts: dict[WorkerStatus, int] = {}
    for _ in range(200):
        await loop.run_once()
        await services.lifecycle.schedule_pass()
        found = await services.endpoints.workers(who, endpoint_id)
        counts = {s: sum(w.status is s for w in found) for s in wanted}
        if counts == wanted:
            return counts
        await asyncio.sleep(0.02)
    raise AssertionError(f"workers {counts}, wanted {wanted}")


async def test_load_scales_up_idling_scales_to_zero_and_a_wake_brings_one_back(
    services: Services, clock: FakeClock
) -> None:
    await services.start_embedded_agent()
    loop = build_endpoint_loop(services)
    scaling = Scaling(min_workers=0, max_workers=2, idle_seconds=60)
    spec = EndpointSpec(image="python", placements=(Placement("default"),), scaling=scaling)
    request = EndpointRequest(name="auto", mode=ServiceMode.QUEUE, spec=spec, workers=1)
    endpoint = await services.endpoints.create(await caller(services), request)
    await settle(services, loop, endpoint.id, {W.RUNNING: 1})

    services.endpoints.note_load(endpoint.id, queued=5)  # wants 5, at most 2
    await settle(services, loop, endpoint.id, {W.RUNNING: 2, W.INITIALIZING: 0})
    assert len(await services.endpoints.running_workers(endpoint.id)) == 2

    services.endpoints.note_load(endpoint.id, queued=0)
    clock.advance(30)
    await settle(services, loop, endpoint.id, {W.RUNNING: 2})  # not idle long enough yet
    clock.advance(31)
    await settle(services, loop, endpoint.id, {W.RUNNING: 0, W.INITIALIZING: 0})
    shown = await services.endpoints.get(await caller(services), endpoint.id)
    assert (shown.target, shown.status.value) == (0, "RUNNING")

    waiting = asyncio.create_task(services.endpoints.wait_running(endpoint.id, 10))
    await asyncio.sleep(0)  # the wait wakes the endpoint
    await settle(services, loop, endpoint.id, {W.RUNNING: 1})
    assert [t.endpoint_id for t in await waiting] == [endpoint.id]


async def test_one_process_holds_an_endpoint_until_it_stops(
    services: Services, clock: FakeClock
) -> None:
    first, second = build_endpoint_loop(services), build_endpoint_loop(services)
    spec = EndpointSpec(image="python", placements=(Placement("default"),))
    request = EndpointRequest(name="held", mode=ServiceMode.CUSTOM, spec=spec, workers=1)
    await services.endpoints.create(await caller(services), request)
    assert await first.run_once() == 1
    assert await second.run_once() == 0  # held by the first
    assert await first.run_once() == 1  # which keeps it
    clock.advance(timedelta(seconds=21).total_seconds())  # its lease ran out (it died)
    assert await second.run_once() == 1
    assert await first.run_once() == 0


def test_the_loops_leases_are_short() -> None:
    assert Leases("x", timedelta(seconds=20)).ttl < Leases("x").ttl


async def test_a_deleted_endpoint_is_drained_and_its_logs_dropped(
    services: Services, clock: FakeClock
) -> None:
    await services.start_embedded_agent()
    loop = build_endpoint_loop(services)
    who = await caller(services)
    spec = EndpointSpec(image="python", placements=(Placement("default"),))
    request = EndpointRequest(name="gone", mode=ServiceMode.CUSTOM, spec=spec, workers=1)
    endpoint = await services.endpoints.create(who, request)
    await settle(services, loop, endpoint.id, {W.RUNNING: 1})
    [worker] = await services.endpoints.workers(who, endpoint.id)
    line = LogEntry(clock.now(), 0, "hello")
    async with services.sessions() as db, db.begin():
        await endpoints_repo.append_log(db, worker.id, [line], 6)
    await services.endpoints.delete(who, endpoint.id)
    for _ in range(200):
        await loop.run_once()
        async with services.sessions() as db:
            record = await endpoints_repo.load(db, endpoint.id)
            left = await endpoints_repo.log_entries(
                db, worker.id, after=None, after_time=None, backward=False, start=None,
                end=None, keyword=None, limit=10,
            )  # fmt: skip
        if record is not None and record.status.value == "STOPPED" and not left:
            break
        await asyncio.sleep(0.02)
    assert record is not None and record.status.value == "STOPPED" and left == []
    session = await services.compute.get(worker.session_id)  # type: ignore[arg-type]
    assert session.status.value in ("TERMINATING", "TERMINATED")


async def test_a_session_made_just_before_a_crash_is_bound_to_its_worker_not_orphaned(
    services: Services, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The server stops after creating a worker's session but before writing its id on the
    worker's row: the next pass finds the session by its name and keeps it for that worker
    (before, the worker timed out, a new one started and the session ran on, owned by no
    worker)."""
    from hangar.core.endpoints import runner

    await services.start_embedded_agent()
    loop = build_endpoint_loop(services)
    who = await caller(services)
    real_set_worker = endpoints_repo.set_worker

    async def crash(db: Any, worker_id: int, *args: Any, **values: Any) -> bool:
        if "session_id" in values:
            raise RuntimeError("the server process died here")
        return await real_set_worker(db, worker_id, *args, **values)

    monkeypatch.setattr(runner.repo, "set_worker", crash)
    spec = EndpointSpec(image="python", placements=(Placement("default"),))
    request = EndpointRequest(name="crash", mode=ServiceMode.CUSTOM, spec=spec, workers=1)
    endpoint = await services.endpoints.create(who, request)
    await loop.run_once()  # the pass fails after the session was made
    monkeypatch.setattr(runner.repo, "set_worker", real_set_worker)
    [worker] = await services.endpoints.workers(who, endpoint.id)
    assert worker.session_id is None

    await settle(services, loop, endpoint.id, {W.RUNNING: 1, W.INITIALIZING: 0})
    [kept] = await services.endpoints.workers(who, endpoint.id)
    live = await services.compute.matching(who, f"ep{endpoint.id}-")
    assert kept.id == worker.id
    assert [s.id for s in live] == [kept.session_id]
