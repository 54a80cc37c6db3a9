"""``/resource/inventory`` and session templates: the core hands typed values (``Inventory``,
``Template`` with its ``SessionParams``) and the Backend.AI face renders its wire form."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import httpx

from hangar.core.compute.models import RestartPolicy
from hangar.core.principal import Principal
from hangar.core.resources.usage import Inventory
from hangar.core.services import Services
from hangar.db.tables.agents import AgentRow
from tests.support.bai import Signer


async def call(
    client: httpx.AsyncClient, signer: Signer, method: str, path: str, body: Any = None
) -> httpx.Response:
    ctype = "application/json" if body is not None else "text/plain"
    headers = signer.headers(method, path, content_type=ctype)
    content = json.dumps(body).encode() if body is not None else b""
    return await client.request(method, path, headers=headers, content=content)


async def admin_principal(services: Services) -> Principal:
    assert services.first_admin is not None
    key = services.first_admin.keypair.keypair.access_key
    return (await services.identity.credentials_for(key)).caller


async def add_agent(services: Services, agent_id: str, devices: list[dict[str, Any]]) -> None:
    now = datetime.now(UTC)
    async with services.sessions() as db, db.begin():
        db.add(AgentRow(
            id=agent_id, status="ALIVE", status_changed=now, scaling_group="default",
            available_slots={"cpu": "8", "mem": str(16 * 2**30), "cuda.device": len(devices)},
            devices=devices, first_contact=now, last_heartbeat=now,
        ))  # fmt: skip


async def test_inventory_is_typed_in_the_core_and_rendered_by_the_face(
    client: httpx.AsyncClient, services: Services, admin: Signer
) -> None:
    gpu = {"model": "FakeGPU", "memory": 16 * 2**30, "index": 0}
    await add_agent(services, "gpu-node", [gpu, {**gpu, "index": 1}])
    await add_agent(services, "cpu-node", [])

    found = await services.admin.resources.inventory(
        await admin_principal(services), services.settings.data_dir
    )
    assert isinstance(found, Inventory)
    assert found.agents == 2
    assert found.capacity["cpu"] == Decimal(16)
    assert [(d.agent_id, d.device["index"]) for d in found.devices] == [
        ("gpu-node", 0), ("gpu-node", 1),
    ]  # fmt: skip
    assert found.storage[0].host == "local" and found.storage[0].capacity_bytes

    response = await call(client, admin, "GET", "/resource/inventory")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["agents"] == 2
    assert body["capacity"]["cpu"] == "16"  # slot amounts as strings, as the reference
    assert body["capacity"]["mem"] == str(32 * 2**30)
    assert body["gpu_count"] == 2
    assert body["gpus"][1] == {"agent": "gpu-node", "status": "ALIVE", **gpu, "index": 1}
    assert body["storage"][0]["host"] == "local"
    assert body["storage"][0]["capacity_bytes"] >= body["storage"][0]["used_bytes"] > 0


TEMPLATE = {
    "api_version": "v1",
    "kind": "taskTemplate",
    "metadata": {"name": "trainer", "tag": "nightly"},
    "spec": {
        "session_type": "batch",
        "kernel": {"image": "python", "environ": {"EPOCHS": "3"},
                   "run": {"startup_command": "python train.py"}},
        "resources": {"cpu": "2", "mem": "2g"},
        "mounts": {"data": "/home/work/input"},
        "x-kept": {"unknown": "keys stay"},
    },
}  # fmt: skip


async def test_templates_carry_typed_params_and_the_stored_document(
    client: httpx.AsyncClient, services: Services, admin: Signer
) -> None:
    created = await call(client, admin, "POST", "/template/session",
                         {"payload": json.dumps(TEMPLATE)})  # fmt: skip
    assert created.status_code == 200, created.text
    template_id = created.json()["id"]

    found = await services.admin.templates.get(await admin_principal(services), template_id)
    params = found.params
    assert (params.image, params.session_type, params.tag) == ("python", "batch", "nightly")
    assert params.startup_command == "python train.py"
    assert params.environ == {"EPOCHS": "3"}
    assert params.resources == {"cpu": "2", "mem": "2g"}
    assert params.mount_map == {"data": "/home/work/input"}
    assert found.document == TEMPLATE  # stored as sent, unknown keys included

    detail = await call(client, admin, "GET", f"/template/session/{template_id}")
    assert detail.status_code == 200, detail.text
    assert detail.json()["template"] == TEMPLATE and detail.json()["name"] == "trainer"
    yaml_detail = await call(client, admin, "GET", f"/template/session/{template_id}?format=yaml")
    assert yaml_detail.headers["content-type"].startswith("text/yaml")
    assert "x-kept:" in yaml_detail.text
    listed = await call(client, admin, "GET", "/template/session")
    assert [(t["id"], t["template"]) for t in listed.json()] == [(template_id, TEMPLATE)]


async def test_a_template_s_restart_policy_goes_into_the_session_spec(
    client: httpx.AsyncClient, services: Services, admin: Signer
) -> None:
    batch: dict[str, Any] = {**TEMPLATE, "spec": {**TEMPLATE["spec"], "restart_policy": "always"}}
    del batch["spec"]["mounts"]
    created = await call(client, admin, "POST", "/template/session",
                         {"payload": json.dumps(batch)})  # fmt: skip
    assert created.status_code == 200, created.text
    started = await call(client, admin, "POST", "/session/_/create-from-template",
                         {"template_id": created.json()["id"], "name": "from-tmpl",
                          "enqueueOnly": True})  # fmt: skip
    assert started.status_code == 201, started.text
    session = await services.compute.get(uuid.UUID(started.json()["sessionId"]))
    assert session.spec.restart is RestartPolicy.ALWAYS

    interactive = {**batch, "spec": {**batch["spec"], "session_type": "interactive"}}
    created = await call(client, admin, "POST", "/template/session",
                         {"payload": json.dumps(interactive)})  # fmt: skip
    refused = await call(client, admin, "POST", "/session/_/create-from-template",
                         {"template_id": created.json()["id"], "name": "from-tmpl-2"})  # fmt: skip
    assert refused.status_code == 400, refused.text
    assert "restart_policy" in refused.text
