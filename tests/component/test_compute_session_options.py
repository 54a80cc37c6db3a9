"""Session options on create: dependencies, ``starts_at``, ``agentList``, ``resource_opts``.

The embedded agent runs on the fake runtime; the lifecycle passes are driven by the test (the
loop is not started) and time by the fake clock. Errors are checked through the Backend.AI
face, where a user sees them.
"""

from __future__ import annotations

import asyncio
import json
import os
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest

from hangar.core.clock import FakeClock
from hangar.core.compute.models import ComputeSession, CreateRequest, SessionSpec
from hangar.core.compute.states import SessionResult, SessionStatus, SessionType
from hangar.core.principal import Principal
from hangar.core.services import Services
from tests.support.bai import Signer

S = SessionStatus
PROBS = "https://api.backend.ai/probs/"
BATCH = SessionType.BATCH


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"agent_runtime": "fake", "idle_timeout_seconds": 0}


@pytest.fixture
async def running(services: Services) -> AsyncIterator[Services]:
    await services.start_embedded_agent()
    yield services


@pytest.fixture
async def user(services: Services) -> Signer:
    await services.identity.create_user(email="ada@example.com", password="first-password")
    issued = await services.identity.issue_keypair(email="ada@example.com")
    return Signer(issued.keypair.access_key, issued.secret_key)


async def admin_caller(services: Services) -> Principal:
    assert services.first_admin is not None
    ak = services.first_admin.keypair.keypair.access_key
    return (await services.identity.credentials_for(ak)).caller


async def wait_status(services: Services, session: ComputeSession, *wanted: SessionStatus
                      ) -> ComputeSession:  # fmt: skip
    for _ in range(500):
        current = await services.compute.get(session.id)
        if current.status in wanted:
            return current
        await asyncio.sleep(0.01)
    raise AssertionError(f"{session.name} stayed {current.status}, wanted {wanted}")


async def enqueue(services: Services, name: str, **kwargs: Any) -> ComputeSession:
    caller = await admin_caller(services)
    spec_fields = {k: kwargs.pop(k) for k in ("resources", "command") if k in kwargs}
    spec = SessionSpec("python", **spec_fields)
    request = CreateRequest(name=name, spec=spec, enqueue_only=True, **kwargs)
    result = await services.compute.create(caller, request)
    assert result.status == "PENDING"
    return result.session


async def batch(services: Services, name: str, command: str, **kwargs: Any) -> ComputeSession:
    return await enqueue(services, name, session_type=BATCH, command=command, **kwargs)


async def post_session(
    client: httpx.AsyncClient, signer: Signer, body: dict[str, Any]
) -> httpx.Response:
    headers = signer.headers("POST", "/session", content_type="application/json")
    return await client.post("/session", content=json.dumps(body), headers=headers)


def assert_problem(response: httpx.Response, status: int, slug: str, text: str) -> None:
    assert response.status_code == status, response.text
    problem = response.json()
    assert problem["type"] == PROBS + slug, problem
    assert text in problem.get("msg", problem["title"]), problem


# Dependencies ---------------------------------------------------------------------------


async def test_a_dependent_waits_then_runs_after_success(running: Services) -> None:
    first = await batch(running, "first-step", "true")
    second = await batch(running, "second-step", "true", dependencies=("first-step",))
    third = await batch(running, "third-step", "true", dependencies=(str(first.id), "second-step"))
    await running.lifecycle.schedule_pass()
    waiting = await running.compute.get(second.id)
    assert waiting.status == S.PENDING
    assert waiting.status_info is not None
    assert waiting.status_info.startswith(
        f"waiting for dependencies: first-step ({str(first.id)[:8]})"
    )
    done = await wait_status(running, first, S.TERMINATED)
    assert done.result == SessionResult.SUCCESS

    await running.lifecycle.schedule_pass()
    assert (await wait_status(running, second, S.TERMINATED)).result == SessionResult.SUCCESS
    third_now = await running.compute.get(third.id)
    assert third_now.status in (S.PENDING, S.SCHEDULED, S.PREPARING, S.RUNNING, S.TERMINATED)
    await running.lifecycle.schedule_pass()
    assert (await wait_status(running, third, S.TERMINATED)).result == SessionResult.SUCCESS
    history = (await running.compute.get(third.id)).status_history
    assert list(history)[:2] == ["PENDING", "SCHEDULED"]


async def test_a_failed_dependency_cancels_the_chain(running: Services) -> None:
    failing = await batch(running, "fails-now", "exit 3")
    child = await batch(running, "child-step", "true", dependencies=("fails-now",))
    grandchild = await batch(running, "grand-step", "true", dependencies=("child-step",))
    await running.lifecycle.schedule_pass()
    assert (await wait_status(running, failing, S.TERMINATED)).result == SessionResult.FAILURE
    await running.lifecycle.schedule_pass()
    cancelled = await wait_status(running, child, S.CANCELLED)
    assert cancelled.status_info == (
        f"dependency fails-now ({str(failing.id)[:8]}) ended TERMINATED with FAILURE; cancelled"
    )
    await running.lifecycle.schedule_pass()
    last = await wait_status(running, grandchild, S.CANCELLED)
    assert last.status_info is not None and "child-step" in last.status_info
    assert last.started_at is None and last.agent_id is None


async def test_a_cancelled_dependency_cancels_the_dependent(running: Services) -> None:
    cores = len(os.sched_getaffinity(0))  # the fake agent's CPUs, all held: the next waits
    await enqueue(running, "cpu-holder", resources={"cpu": cores})
    await running.lifecycle.schedule_pass()
    too_big = await enqueue(running, "never-fits", resources={"cpu": 1})
    child = await batch(running, "after-big", "true", dependencies=("never-fits",))
    await running.lifecycle.schedule_pass()
    assert (await running.compute.get(child.id)).status == S.PENDING
    caller = await admin_caller(running)
    await running.compute.destroy(caller, "never-fits")
    assert (await running.compute.get(too_big.id)).status == S.CANCELLED
    await running.lifecycle.schedule_pass()
    cancelled = await wait_status(running, child, S.CANCELLED)
    assert cancelled.status_info is not None and "ended CANCELLED" in cancelled.status_info


async def test_unknown_and_foreign_dependencies_are_refused(
    running: Services, client: httpx.AsyncClient, admin: Signer, user: Signer
) -> None:
    mine = await batch(running, "admins-job", "true")
    body = {"name": "needs-missing", "image": "python", "dependencies": ["no-such-session"]}
    response = await post_session(client, admin, body)
    assert_problem(response, 404, "object-not-found", "No such session to depend on: no-such")
    # Another user's session, even by its full id, is unknown to this user.
    body = {"name": "needs-foreign", "image": "python", "dependencies": [str(mine.id)]}
    response = await post_session(client, user, body)
    assert_problem(response, 404, "object-not-found", str(mine.id))
    body = {"name": "needs-bad", "image": "python", "dependencies": [""]}
    assert_problem(await post_session(client, admin, body), 400, "invalid-api-params", "ids")
    body = {"name": "needs-many", "image": "python", "dependencies": ["x"] * 65}
    assert_problem(await post_session(client, admin, body), 400, "invalid-api-params", "64")
    caller = await admin_caller(running)
    names = {s.name for s in await running.compute.matching(caller, "needs-")}
    assert names == set()


async def test_dependencies_over_the_face_and_in_graphql(
    running: Services, client: httpx.AsyncClient, admin: Signer
) -> None:
    first = await batch(running, "gql-first", "true")
    body = {
        "name": "gql-second", "image": "python", "type": "batch", "startupCommand": "true",
        "enqueueOnly": True, "dependencies": ["gql-first"],
    }  # fmt: skip
    response = await post_session(client, admin, body)
    assert response.status_code == 201, response.text
    second_id = response.json()["sessionId"]
    query = (
        f'query {{ compute_session(id: "{second_id}") '
        "{ name status status_info dependencies { name id } } }"
    )
    headers = admin.headers("POST", "/admin/gql", content_type="application/json")
    answer = await client.post(
        "/admin/gql", content=json.dumps({"query": query, "variables": {}}), headers=headers
    )
    found = answer.json()["data"]["compute_session"]
    assert found["dependencies"] == [{"name": "gql-first", "id": str(first.id)}]
    assert found["status"] == "PENDING"


# starts_at ------------------------------------------------------------------------------


@pytest.mark.parametrize("starts_at", ["1h", "60m", "3600s", "ABSOLUTE"])
async def test_starts_at_holds_the_session_until_then(
    running: Services, clock: FakeClock, starts_at: str
) -> None:
    if starts_at == "ABSOLUTE":
        starts_at = (clock.now() + timedelta(hours=1)).isoformat()
    session = await batch(running, "scheduled-job", "true", starts_at=starts_at)
    expected = clock.now() + timedelta(hours=1)
    assert abs((session.starts_at or clock.now()) - expected) < timedelta(seconds=1)
    await running.lifecycle.schedule_pass()
    waiting = await running.compute.get(session.id)
    assert waiting.status == S.PENDING
    assert waiting.status_info is not None
    assert waiting.status_info.startswith("waiting until ") and "(starts_at)" in waiting.status_info
    clock.advance(3590)
    await running.lifecycle.schedule_pass()
    assert (await running.compute.get(session.id)).status == S.PENDING
    clock.advance(11)
    await running.lifecycle.schedule_pass()
    await wait_status(running, session, S.TERMINATED)


async def test_starts_at_errors(
    running: Services, client: httpx.AsyncClient, admin: Signer
) -> None:
    base = {"image": "python", "type": "batch", "startupCommand": "true", "enqueueOnly": True}
    for name, value, text in (
        ("bad-when", "tomorrow", "neither an ISO 8601 time nor a delay"),
        ("far-when", "400d", "at most one year ahead"),
        ("num-when", 5, "starts_at"),
    ):
        response = await post_session(client, admin, {**base, "name": name, "starts_at": value})
        assert_problem(response, 400, "invalid-api-params", text)
    interactive = {"name": "inter-when", "image": "python", "starts_at": "1h"}
    response = await post_session(client, admin, interactive)
    assert_problem(response, 400, "invalid-api-params", "only for batch")
    response = await post_session(client, admin, {**base, "name": "null-when", "starts_at": None})
    assert response.status_code == 201, response.text


# agentList and resource_opts ------------------------------------------------------------


async def test_agent_list_pins_the_session(
    running: Services, client: httpx.AsyncClient, admin: Signer, user: Signer
) -> None:
    [agent_id] = running.agents.connected
    body = {
        "name": "pinned", "image": "python", "enqueueOnly": True,
        "config": {"agentList": [agent_id]},
    }  # fmt: skip
    response = await post_session(client, admin, body)
    assert response.status_code == 201, response.text
    await running.lifecycle.schedule_pass()
    pinned = await running.compute.get(uuid.UUID(response.json()["sessionId"]))
    pinned = await wait_status(running, pinned, S.RUNNING)
    assert pinned.agent_id == agent_id and pinned.agent_list == (agent_id,)

    body = {"name": "pin-nowhere", "image": "python", "config": {"agentList": ["i-nowhere"]}}
    assert_problem(await post_session(client, admin, body), 404, "object-not-found", "i-nowhere")
    body = {"name": "users-pin", "image": "python", "config": {"agentList": [agent_id]}}
    assert_problem(
        await post_session(client, user, body), 403, "insufficient-privilege", "administrators"
    )
    # `backend.ai run` always sends an empty list: that is no pinning, for anyone.
    body = {
        "name": "users-run",
        "image": "python",
        "enqueueOnly": True,
        "config": {"agentList": []},
    }
    response = await post_session(client, user, body)
    assert response.status_code == 201, response.text


async def test_resource_opts_are_validated_stored_and_shown(
    running: Services, client: httpx.AsyncClient, admin: Signer
) -> None:
    body = {
        "name": "with-shm", "image": "python", "enqueueOnly": True,
        "config": {"resources": {"cpu": 1, "mem": "512m"}, "resource_opts": {"shmem": "64m"}},
    }  # fmt: skip
    response = await post_session(client, admin, body)
    assert response.status_code == 201, response.text
    target = "/session/with-shm"
    info = await client.get(target, headers=admin.headers("GET", target))
    assert json.loads(info.json()["resourceOpts"]) == {"shmem": str(64 << 20)}
    session_id = response.json()["sessionId"]
    query = f'query {{ compute_session(id: "{session_id}") {{ resource_opts }} }}'
    headers = admin.headers("POST", "/admin/gql", content_type="application/json")
    answer = await client.post(
        "/admin/gql", content=json.dumps({"query": query, "variables": {}}), headers=headers
    )
    shown = answer.json()["data"]["compute_session"]["resource_opts"]
    assert json.loads(shown) == {"shmem": str(64 << 20)}

    for opts, text in (
        ({"shmem": "1g"}, "must be less than the requested memory"),
        ({"shmem": "lots"}, "invalid size"),
        ({"gpu_mode": "x"}, "unknown option 'gpu_mode'"),
    ):
        body = {
            "name": "bad-opts", "image": "python",
            "config": {"resources": {"mem": "512m"}, "resource_opts": opts},
        }  # fmt: skip
        assert_problem(await post_session(client, admin, body), 400, "invalid-api-params", text)


# The spec as stored ---------------------------------------------------------------------


async def test_the_spec_keeps_its_restart_policy_and_origin(services: Services) -> None:
    from hangar.core.compute.models import Origin, OriginKind, RestartPolicy

    caller = await admin_caller(services)
    spec = SessionSpec("python", command="true", restart=RestartPolicy.ON_FAILURE)
    origin = Origin(OriginKind.EXPERIMENT_TASK, "task-1")
    request = CreateRequest(name="kept", spec=spec, origin=origin, enqueue_only=True,
                            session_type=SessionType.BATCH)  # fmt: skip
    created = (await services.compute.create(caller, request)).session
    stored = await services.compute.get(created.id)
    assert stored.spec.restart is RestartPolicy.ON_FAILURE
    assert stored.origin == origin
    plain = await enqueue(services, "plain")
    assert (await services.compute.get(plain.id)).spec.restart is RestartPolicy.NEVER
