"""``/resource``, ``/scaling-groups`` and ``/manager`` for the admin plane: presets and what a
caller may still launch, usage over a period, freeze and scheduler operations."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from hangar.core.clock import FakeClock
from hangar.core.compute.models import CreateRequest, SessionSpec
from hangar.core.services import Services
from hangar.db.tables.agents import AgentRow
from hangar.db.tables.identity import ResourcePolicyRow
from tests.support.bai import Signer

PROBS = "https://api.backend.ai/probs/"


async def request(
    client: httpx.AsyncClient, signer: Signer, method: str, path: str, body: Any = None
) -> httpx.Response:
    ctype = "application/json" if body is not None else "text/plain"
    headers = signer.headers(method, path, content_type=ctype)
    content = json.dumps(body).encode() if body is not None else b""
    return await client.request(method, path, headers=headers, content=content)


async def gql(client: httpx.AsyncClient, signer: Signer, query: str) -> dict[str, Any]:
    response = await request(client, signer, "POST", "/admin/gql", {"query": query})
    body: dict[str, Any] = response.json()
    assert "errors" not in body, body
    return body["data"]


async def add_agent(services: Services, agent_id: str, cpu: str, mem: str) -> None:
    now = datetime.now(UTC)
    async with services.sessions() as db, db.begin():
        db.add(
            AgentRow(
                id=agent_id,
                status="ALIVE",
                status_changed=now,
                scaling_group="default",
                available_slots={"cpu": cpu, "mem": mem},
                first_contact=now,
                last_heartbeat=now,
            )
        )


async def test_presets_and_check_presets(
    client: httpx.AsyncClient, services: Services, admin: Signer
) -> None:
    await add_agent(services, "node-1", "4", str(8 * 2**30))
    async with services.sessions() as db, db.begin():
        policy = await db.get(ResourcePolicyRow, "default")
        assert policy is not None
        policy.total_resource_slots = {"cpu": "3", "mem": str(6 * 2**30)}
    for name, slots in (("small", '{\\"cpu\\": \\"1\\", \\"mem\\": \\"1g\\"}'),
                        ("huge", '{\\"cpu\\": \\"16\\", \\"mem\\": \\"1g\\"}')):  # fmt: skip
        data = await gql(
            client,
            admin,
            f'mutation {{ create_resource_preset(name: "{name}", props: '
            f'{{resource_slots: "{slots}", shared_memory: "64m"}}) {{ ok msg }} }}',
        )
        assert data["create_resource_preset"]["ok"], data

    listed = (await request(client, admin, "GET", "/resource/presets")).json()
    assert [p["name"] for p in listed["presets"]] == ["huge", "small"]
    assert listed["presets"][1]["resource_slots"] == {"cpu": "1", "mem": "1073741824"}
    assert listed["presets"][1]["shared_memory"] == str(64 * 2**20)

    checked = (await request(client, admin, "POST", "/resource/check-presets", {})).json()
    assert checked["keypair_limits"]["cpu"] == "3"
    assert checked["keypair_remaining"]["cpu"] == "3"
    assert checked["group_limits"]["cpu"] == "Infinity"
    assert checked["scaling_group_remaining"]["cpu"] == "4"
    assert checked["scaling_groups"]["default"]["remaining"]["cpu"] == "4"
    allocatable = {p["name"]: p["allocatable"] for p in checked["presets"]}
    assert allocatable == {"huge": False, "small": True}

    refused = await request(client, admin, "POST", "/resource/check-presets", {"group": "nope"})
    assert refused.status_code == 400 and refused.json()["type"] == PROBS + "invalid-api-params"


async def test_usage_over_a_period(
    client: httpx.AsyncClient, services: Services, admin: Signer, clock: FakeClock
) -> None:
    caller = (await services.identity.credentials_for(admin.access_key)).caller
    await services.compute.create(
        caller, CreateRequest(name="used", spec=SessionSpec("python"), enqueue_only=True)
    )
    groups = (await gql(client, admin, "query { groups { id name } }"))["groups"]
    gid = groups[0]["id"]
    today = clock.now().date()
    body = {
        "group_id": gid,
        "start_date": today.strftime("%Y%m%d"),
        "end_date": (today + timedelta(days=1)).strftime("%Y%m%d"),
    }
    usage = (await request(client, admin, "GET", "/resource/usage/period", body)).json()
    assert [g["g_name"] for g in usage] == ["default"]
    assert [c["name"] for c in usage[0]["c_infos"]] == ["used"]
    earlier = {**body, "start_date": "20200101", "end_date": "20200201"}
    usage = (await request(client, admin, "GET", "/resource/usage/period", earlier)).json()
    assert usage[0]["c_infos"] == []
    bad = await request(client, admin, "GET", "/resource/usage/period", {**body, "end_date": "x"})
    assert bad.status_code == 400


async def test_freeze_refuses_sessions_and_scheduler_operations(
    client: httpx.AsyncClient, services: Services, admin: Signer
) -> None:
    await add_agent(services, "node-1", "4", str(8 * 2**30))
    frozen = await request(client, admin, "PUT", "/manager/status", {"status": "FROZEN"})
    assert frozen.status_code == 204
    create = {"name": "cold", "image": "python", "enqueueOnly": True}
    refused = await request(client, admin, "POST", "/session", create)
    assert refused.status_code == 503 and refused.json()["type"] == PROBS + "server-frozen"
    status = (await request(client, admin, "GET", "/manager/status")).json()
    assert status["status"] == "frozen" and status["active_sessions"] == 0
    await request(client, admin, "PUT", "/manager/status", {"status": "running"})
    assert (await request(client, admin, "POST", "/session", create)).status_code == 201
    status = (await request(client, admin, "GET", "/manager/status")).json()
    assert status["active_sessions"] == 1

    op = {"op": "exclude-agents", "args": ["node-1"]}
    assert (
        await request(client, admin, "POST", "/manager/scheduler/operation", op)
    ).status_code == 204
    agents = (await gql(client, admin, "query { agents { id schedulable } }"))["agents"]
    assert agents == [{"id": "node-1", "schedulable": False}]
    unknown = await request(
        client,
        admin,
        "POST",
        "/manager/scheduler/operation",
        {"op": "exclude-agents", "args": ["x"]},
    )
    assert unknown.status_code == 404 and "agent instance" in unknown.json()["title"]
    bad = await request(client, admin, "POST", "/manager/scheduler/operation", {"op": "reboot"})
    assert bad.status_code == 400
