"""The GPU-cloud face's isolation matrix: one user's API key never reads or changes another
user's objects, the superadmin's key included (a cloud key acts as a plain user).

Alice owns a registry credential and a second API key. Every route that names an object
(the inventory below must classify each route the face registers) is aimed at hers by bob
and by the superadmin: the answer is the not-found code (10007) and nothing changes; alice's
own request is the control. Lists never show her objects to them.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from hangar.api.app import create_app
from hangar.core.endpoints import repo as endpoints_repo
from hangar.core.services import Services, open_services
from hangar.core.vms import repo as vms_repo
from hangar.core.vms.models import VmRequest
from tests.support.asgi import Answer, call
from tests.support.routes import cloud_routes
from tests.support.settings import settings_for
from tests.support.world import diff, probe

CRED = {"name": "aliceReg", "type": "ACR", "username": "alice-user", "password": "alice-pw"}
# route -> (method, path with {cred}/{key}, body) aimed at alice's object
AIMED: dict[str, tuple[str, str, dict[str, str] | None]] = {
    "GET /v2/container-registry-auths/{id}": ("GET", "/v2/container-registry-auths/{cred}", None),
    "PATCH /v2/container-registry-auths/{id}": (
        "PATCH", "/v2/container-registry-auths/{cred}", {"name": "stolen", "password": "x"}
    ),
    "DELETE /v2/container-registry-auths/{id}": (
        "DELETE", "/v2/container-registry-auths/{cred}", None
    ),
    "DELETE /v2/api-keys/{id}": ("DELETE", "/v2/api-keys/{key}", None),
    "GET /v2/pods/{id}": ("GET", "/v2/pods/{pod}", None),
    "GET /v2/pods/{id}/logs": ("GET", "/v2/pods/{pod}/logs", None),
    "POST /v2/pods/{id}/pause": ("POST", "/v2/pods/{pod}/pause", None),
    "POST /v2/pods/{id}/resume": ("POST", "/v2/pods/{pod}/resume", None),
    "DELETE /v2/pods/{id}": ("DELETE", "/v2/pods/{pod}", None),
    "GET /v2/volumes/{id}": ("GET", "/v2/volumes/{vol}", None),
    "POST /v2/volumes/{id}/name": ("POST", "/v2/volumes/{vol}/name", {"name": "stolen"}),
    "POST /v2/volumes/{id}/resize": ("POST", "/v2/volumes/{vol}/resize", {"sizeInGb": 2}),
    "DELETE /v2/volumes/{id}": ("DELETE", "/v2/volumes/{vol}", None),
    "GET /v2/vms/{id}": ("GET", "/v2/vms/{vm}", None),
    "PATCH /v2/vms/{id}": ("PATCH", "/v2/vms/{vm}", {"name": "stolen"}),
    "DELETE /v2/vms/{id}": ("DELETE", "/v2/vms/{vm}", None),
    "GET /v2/serverless/{id}": ("GET", "/v2/serverless/{ep}", None),
    "GET /v2/serverless/{id}/workers": ("GET", "/v2/serverless/{ep}/workers", None),
    "GET /v2/serverless/{id}/workers/{workerId}/logs": (
        "GET", "/v2/serverless/{ep}/workers/{wk}/logs", None
    ),
    "PATCH /v2/serverless/{id}": ("PATCH", "/v2/serverless/{ep}", {
        "name": "stolen", "resources": [{"gpuCount": 0}], "workers": 1,
        "containerVolumeInGb": 20}),
    "PUT /v2/serverless/{id}/workers": ("PUT", "/v2/serverless/{ep}/workers?count=2", None),
    "PUT /v2/serverless/{id}/workers/{count}": ("PUT", "/v2/serverless/{ep}/workers/3", None),
    "POST /v2/serverless/{id}/workers": ("POST", "/v2/serverless/{ep}/workers", {"workers": 2}),
    "POST /v2/serverless/{id}/stop": ("POST", "/v2/serverless/{ep}/stop", None),
    "POST /v2/serverless/{id}/start": ("POST", "/v2/serverless/{ep}/start", None),
    "DELETE /v2/serverless/{id}": ("DELETE", "/v2/serverless/{ep}", None),
    "POST /v2/serverless/{id}/tasks": ("POST", "/v2/serverless/{epq}/tasks", {
        "taskId": "stolen", "input": {"b": 2}, "workerPort": 8080, "processUri": "/run"}),
    "GET /v2/serverless/{id}/tasks": ("GET", "/v2/serverless/{epq}/tasks", None),
    "GET /v2/serverless/{id}/tasks/count": ("GET", "/v2/serverless/{epq}/tasks/count", None),
    "GET /v2/serverless/{id}/tasks/{taskId}": (
        "GET", "/v2/serverless/{epq}/tasks/{task}", None
    ),
}  # fmt: skip
LISTS = ["/v2/container-registry-auths", "/v2/api-keys", "/v2/pods", "/v2/volumes", "/v2/vms",
         "/v2/serverless"]  # fmt: skip
# what others get where it is not 10007 (a pod answers "Pod not found"), and alice's own
# answer where it is not 10000 (her pod waits for an agent: it neither pauses nor resumes)
REFUSED = {route: 13000 for route in AIMED if "/v2/pods/" in route}
REFUSED |= {route: 14000 for route in AIMED if "/v2/serverless/" in route}
REFUSED |= {"GET /v2/vms/{id}": 11000, "PATCH /v2/vms/{id}": 11000, "DELETE /v2/vms/{id}": 11002}
VOLUME = {"name": "aliceVol", "storageType": "CEPH", "sizeInGb": 1}
CONTROL = {"POST /v2/pods/{id}/pause": 12001, "POST /v2/pods/{id}/resume": 12001}
POD = {"name": "alicePod", "image": "python", "resourceType": "CPU"}
TASK = {"taskId": "aliceTask1", "input": {"a": 1}, "workerPort": 8080, "processUri": "/run"}
ENDPOINT = {"name": "aliceEp", "image": "python", "resources": [{"gpuCount": 0}], "workers": 1,
            "containerVolumeInGb": 20, "serviceMode": "CUSTOM"}  # fmt: skip
UNAIMED = {  # no object named: lists (checked below), creation, the shared catalogue
    "GET /v2/container-registry-auths",
    "POST /v2/container-registry-auths",
    "GET /v2/api-keys",
    "POST /v2/api-keys",
    "GET /v2/vms/types",
    "POST /api/v2/resource/gpu/list",
    "GET /v2/pods",
    "POST /v2/pods",
    "GET /v2/volumes",
    "POST /v2/volumes",
    "GET /v2/vms",
    "POST /v2/vms",
    "GET /v2/serverless",
    "POST /v2/serverless",
}


@dataclass
class CloudWorld:
    services: Services
    keys: dict[str, str] = field(default_factory=dict)
    cred: str = ""
    key_id: str = ""
    pod: str = ""
    vol: str = ""
    vm: str = ""
    ep: str = ""
    wk: str = ""
    epq: str = ""  # alice's QUEUE endpoint, with her task "aliceTask1"
    task: str = "aliceTask1"

    def fill(self, template: str) -> str:
        """A route's path aimed at alice's objects."""
        return template.format(cred=self.cred, key=self.key_id, pod=self.pod, vol=self.vol,
                               vm=self.vm, ep=self.ep, wk=self.wk, epq=self.epq,
                               task=self.task)  # fmt: skip

    async def send(self, who: str, method: str, path: str, body: object = None) -> Answer:
        raw = json.dumps(body).encode() if body is not None else b""
        headers = {"Content-Type": "application/json", "X-Api-Key": self.keys[who]}
        return await call(create_app(self.services), method, path, headers, raw, deadline=20)


async def alices_vm(services: Services) -> int:
    """A VM of alice's, stored without a session (this world has no agent to run one)."""
    principal = await services.apikeys.principal_for(
        (await services.apikeys.create(email="alice@iso.test", name="vm")).secret
    )
    request = VmRequest(name="aliceVm", vm_type_id=1, gpu_type="NVIDIA_H100_80G", model="H100",
                        memory_bytes=80 << 30, scaling_group="default")  # fmt: skip
    async with services.sessions() as db, db.begin():
        return (await vms_repo.add(db, principal.user_uuid, request, services.clock.now())).id


async def alices_worker(services: Services, endpoint_id: int) -> int:
    """A worker record of alice's endpoint (no loop runs here to start one)."""
    async with services.sessions() as db, db.begin():
        worker = await endpoints_repo.add_worker(
            db, endpoint_id=endpoint_id, generation=1, scaling_group="default", gpu_type="",
            gpu_count=0, now=services.clock.now(),
        )  # fmt: skip
    return worker.id


@pytest.fixture
async def world(database_url: str, tmp_path: Path) -> AsyncIterator[CloudWorld]:
    settings = settings_for(tmp_path, database_url)
    services = await open_services(settings)
    try:
        assert services.first_admin is not None
        built = CloudWorld(services, {"super": services.first_admin.api_key})
        for who in ("alice", "bob"):
            email = f"{who}@iso.test"
            await services.identity.create_user(email=email, password="a-good-password")
            await services.identity.issue_keypair(email=email)
            built.keys[who] = (await services.apikeys.create(email=email)).secret
        made = await built.send("alice", "POST", "/v2/container-registry-auths", CRED)
        built.cred = str(made.json()["data"]["id"])
        second = await services.apikeys.create(email="alice@iso.test", name="second")
        built.key_id = str(second.key.id)
        made = await built.send("alice", "POST", "/v2/pods", POD)
        built.pod = str(made.json()["data"]["id"])
        made = await built.send("alice", "POST", "/v2/volumes", VOLUME)
        built.vol = str(made.json()["data"]["id"])
        built.vm = str(await alices_vm(services))
        made = await built.send("alice", "POST", "/v2/serverless", ENDPOINT)
        built.ep = made.json()["data"]["id"]
        built.wk = str(await alices_worker(services, int(built.ep)))
        queue = {**ENDPOINT, "name": "aliceQueue", "serviceMode": "QUEUE"}
        made = await built.send("alice", "POST", "/v2/serverless", queue)
        built.epq = made.json()["data"]["id"]
        made = await built.send("alice", "POST", f"/v2/serverless/{built.epq}/tasks", TASK)
        assert made.json()["code"] == 10000, made.body
        yield built
    finally:
        await services.close()


def test_every_route_is_classified() -> None:
    registered = {str(route) for route in cloud_routes()}
    assert not set(AIMED) & UNAIMED
    assert registered == set(AIMED) | UNAIMED, (
        f"classify: {sorted(registered - set(AIMED) - UNAIMED)}; "
        f"stale: {sorted((set(AIMED) | UNAIMED) - registered)}"
    )


async def test_others_keys_never_reach_alices_objects(world: CloudWorld) -> None:
    failures: list[str] = []
    for route, (method, template, body) in AIMED.items():
        path = world.fill(template)
        for who in ("bob", "super"):
            before = await probe(world.services)
            answer = await world.send(who, method, path, body)
            if (answer.status, answer.json()["code"]) != (200, REFUSED.get(route, 10007)):
                failures.append(f"{route} as {who}: {answer.status} {answer.body[:200]!r}")
            if changed := diff(before, await probe(world.services)):
                failures.append(f"{route} as {who} changed {changed}")
    for path in LISTS:
        for who in ("bob", "super"):
            answer = await world.send(who, "GET", path)
            text = answer.body.decode()
            named = ("aliceReg", "alicePod", "aliceVol", "aliceVm", "aliceEp", "aliceQueue")
            if any(n in text for n in named) or f'"id":{world.key_id},' in text:
                failures.append(f"{path} as {who} shows alice's: {text[:200]}")
    for route, (method, template, body) in AIMED.items():  # the controls, destructive last
        path = world.fill(template)
        answer = await world.send("alice", method, path, body)
        if answer.json()["code"] != CONTROL.get(route, 10000):
            failures.append(f"control {route}: {answer.status} {answer.body[:200]!r}")
    assert not failures, "\n".join(failures)
