"""Requests no agent could ever satisfy are refused at creation, naming the slot and the
largest agent's capacity; capacity that exists but is busy still queues. Error texts name
the thing: the image asked for (with the closest names) and memory in MiB/GiB.

The embedded agent runs on the fake runtime (it reports this machine's CPUs and memory, no
GPU); errors are checked through the Backend.AI face, where a user sees them.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from hangar.core.compute.states import SessionStatus
from hangar.core.services import Services
from tests.support.bai import Signer

PROBS = "https://api.backend.ai/probs/"
CORES = len(os.sched_getaffinity(0))


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"agent_runtime": "fake", "idle_timeout_seconds": 0}


@pytest.fixture
async def running(services: Services) -> AsyncIterator[Services]:
    await services.start_embedded_agent()
    yield services


async def create(
    client: httpx.AsyncClient, signer: Signer, name: str, resources: dict[str, Any], **extra: Any
) -> httpx.Response:
    body = {
        "name": name,
        "image": "python",
        "enqueueOnly": True,
        "config": {"resources": resources},
    }
    body.update(extra)
    headers = signer.headers("POST", "/session", content_type="application/json")
    return await client.post("/session", content=json.dumps(body), headers=headers)


def refusal(response: httpx.Response) -> str:
    assert response.status_code == 400, response.text
    problem = response.json()
    assert problem["type"] == PROBS + "invalid-api-params", problem
    return str(problem["msg"])


@pytest.mark.parametrize(
    ("resources", "names"),
    [
        ({"foo": "1"}, "resource slot 'foo'"),
        ({"gpu": "1"}, "resource slot 'gpu'"),
        ({"cuda.device": "1"}, "resource slot 'cuda.device'"),
        ({"cuda.shares": "0.5"}, "resource slot 'cuda.shares'"),
        ({"cpu": str(CORES * 32)}, f"can ever hold cpu={CORES * 32}"),
        ({"mem": "64t"}, "can ever hold mem=65536 GiB"),
    ],
)
async def test_a_request_no_agent_could_hold_is_refused(
    running: Services, client: httpx.AsyncClient, admin: Signer,
    resources: dict[str, str], names: str,
) -> None:  # fmt: skip
    [agent_id] = running.agents.connected
    message = refusal(await create(client, admin, "never", resources))
    assert names in message
    assert "scaling group 'default'" in message
    assert f"the largest agent, {agent_id}, has cpu={CORES}, mem=" in message
    assert " GiB" in message or " MiB" in message  # its memory, in units people read
    if "gpu" in resources:
        assert "cuda.device" in message  # says how GPUs are asked for
    assert await running.compute.matching(await caller_of(running), "never") == []


async def caller_of(services: Services) -> Any:
    assert services.first_admin is not None
    ak = services.first_admin.keypair.keypair.access_key
    return (await services.identity.credentials_for(ak)).caller


async def test_busy_capacity_still_queues_with_a_reason(
    running: Services, client: httpx.AsyncClient, admin: Signer
) -> None:
    holder = await create(client, admin, "holder", {"cpu": str(CORES)})
    assert holder.status_code == 201, holder.text
    await running.lifecycle.schedule_pass()
    waiting = await create(client, admin, "waiting", {"cpu": "1"})
    assert waiting.status_code == 201, waiting.text
    await running.lifecycle.schedule_pass()
    session = await running.compute.get(uuid.UUID(waiting.json()["sessionId"]))
    assert session.status is SessionStatus.PENDING
    assert session.status_info is not None and "cpu" in session.status_info


async def test_with_no_alive_agent_a_request_queues(
    services: Services, client: httpx.AsyncClient, admin: Signer
) -> None:
    # No agent to judge by (none joined yet, or all are LOST): one may join later.
    response = await create(client, admin, "later", {"cpu": str(CORES * 32), "foo": "1"})
    assert response.status_code == 201, response.text


async def test_a_pinned_agent_too_small_is_named(
    running: Services, client: httpx.AsyncClient, admin: Signer
) -> None:
    [agent_id] = running.agents.connected
    config = {"resources": {"cpu": str(CORES * 32)}, "agentList": [agent_id]}
    body = {"name": "pinned", "image": "python", "enqueueOnly": True, "config": config}
    headers = admin.headers("POST", "/session", content_type="application/json")
    message = refusal(await client.post("/session", content=json.dumps(body), headers=headers))
    assert f"the largest agent, {agent_id}" in message


async def test_an_unknown_image_names_the_closest_ones(
    running: Services, client: httpx.AsyncClient, admin: Signer
) -> None:
    body = {"name": "typo", "image": "pyton:3", "enqueueOnly": True}
    headers = admin.headers("POST", "/session", content_type="application/json")
    response = await client.post("/session", content=json.dumps(body), headers=headers)
    assert response.status_code == 404, response.text
    message = response.json()["title"]
    assert message.startswith("No such environment image: pyton:3 (did you mean python:3")


async def test_the_image_minimum_is_in_mib(
    running: Services, client: httpx.AsyncClient, admin: Signer
) -> None:
    message = refusal(await create(client, admin, "small", {"mem": "64m"}))
    assert "needs at least mem=128 MiB (asked: 64 MiB)" in message
    assert "134217728" not in message
