"""A pod's session runs until its owner pauses or deletes it: the idle timeout that ends
other sessions does not end it (the embedded agent on the fake runtime)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import update

from hangar.core.clock import FakeClock
from hangar.core.compute.models import CreateRequest, SessionSpec
from hangar.core.compute.states import SessionStatus as S
from hangar.core.pods.models import PodRequest, PodSpec, ResourceKind
from hangar.core.services import Services
from hangar.db.tables.identity import ResourcePolicyRow


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"agent_runtime": "fake", "idle_timeout_seconds": 0}


async def running(services: Services, session_id: Any) -> None:
    for _ in range(400):
        await services.lifecycle.schedule_pass()
        if (await services.compute.get(session_id)).status is S.RUNNING:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"{session_id} did not start")


async def test_an_idle_pod_keeps_running_while_an_idle_session_ends(
    services: Services, clock: FakeClock
) -> None:
    await services.start_embedded_agent()
    async with services.sessions() as db, db.begin():
        await db.execute(update(ResourcePolicyRow).values(idle_timeout=30))
    assert services.first_admin is not None
    caller = await services.apikeys.principal_for(services.first_admin.api_key)
    spec = PodSpec(image="python", resource=ResourceKind.CPU)
    pod = await services.pods.create(caller, PodRequest(name="idle-pod", spec=spec))
    assert pod.session_id is not None and pod.name == "idle-pod"
    other = await services.compute.create(
        caller, CreateRequest(name="plain", spec=SessionSpec("python"), enqueue_only=True)
    )
    await running(services, pod.session_id)
    await running(services, other.session.id)
    clock.advance(31)
    await services.lifecycle.reclaim_pass()
    for _ in range(400):
        if (await services.compute.get(other.session.id)).status is S.TERMINATED:
            break
        await asyncio.sleep(0.01)
    assert (await services.compute.get(other.session.id)).status_info == "idle-timeout"
    assert (await services.pods.get(caller, pod.id)).status.value == "RUNNING"


async def test_the_pod_proxy_answers_malformed_calls_with_envelopes(services: Services) -> None:
    from hangar.api.app import create_app
    from tests.support.asgi import call

    assert services.first_admin is not None
    key = services.first_admin.api_key
    caller = await services.apikeys.principal_for(key)
    spec = PodSpec(image="python", resource=ResourceKind.CPU)
    pod = await services.pods.create(caller, PodRequest(name="quiet", spec=spec))
    app = create_app(services)
    cases = [
        ("GET", f"/pod-proxy/{pod.id}/8080/", {}, 401, 40101),  # no key
        ("GET", f"/pod-proxy/{pod.id}/8080/", {"X-Api-Key": "nope"}, 401, 40101),
        ("GET", f"/pod-proxy/{pod.id}/8080/x?y=1", {"X-Api-Key": key}, 200, 10007),  # no port
        ("POST", "/pod-proxy/999999/8080/", {"X-Api-Key": key}, 200, 13000),
        ("GET", "/pod-proxy/abc/8080/", {"X-Api-Key": key}, 400, 10001),
        ("GET", f"/pod-proxy/{pod.id}/99999999/", {"X-Api-Key": key}, 400, 10001),
        ("GET", "/pod-proxy/" + "9" * 40 + "/1/", {"X-Api-Key": key}, 400, 10001),
        ("GET", "/pod-proxy/%00/%2F/..", {"X-Api-Key": key}, 400, 10001),
    ]
    for method, target, headers, status, code in cases:
        answer = await call(app, method, target, headers, deadline=20)
        assert answer.error is None, (target, answer.error)
        assert (answer.status, answer.json()["code"]) == (status, code), (target, answer.body)
