"""Every route of the GPU-cloud face, fed malformed requests by callers with valid API keys.

The routes come from the face's registry, so one added by any module is fuzzed without
anyone listing it. Path ids, query strings, bodies (wrong types, unknown and missing keys,
huge numbers, unicode, NULs, broken JSON) and methods vary; whatever comes in, the answer
comes back in time, never as a 5xx, always as ``{message, code, data}`` with code 10000 only
for HTTP 200; a refused call (HTTP >= 400 or a code other than 10000) changes nothing in the
database or under the data directory.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

from hypothesis import strategies as st
from starlette.types import ASGIApp

from hangar.api.app import create_app
from hangar.core.services import Services
from tests.support.asgi import Answer, call
from tests.support.fuzzing import (
    Case,
    Face,
    assert_fuzzed,
    dumps,
    encode,
    json_envelope,
    json_values,
    services_with_alice,
)
from tests.support.routes import RouteId, cloud_parameter_names, cloud_routes

ALICE, SUPER = "alice", "super"
KEYS = sorted({*cloud_parameter_names(), "page", "size", "id", "statusList", "regionList",
               "storageType", "region", "status"})  # fmt: skip
NASTY = [
    "", " ", "..", "../../etc/passwd", "\x00", "a\x00b", "x" * 5000, "%", "%zz", "☃ünï©ødé",
    "\ud800", "null", "true", "-1", "0", "1e309", "NaN", "99999999999999999999999999",
    "' OR '1'='1", "{}", "[]", "*", "/", "\n\r\t", "DOCKER_HUB", "PRIVATE", "a" * 21,
]  # fmt: skip
IDS = ["0", "1", "2", "-1", "abc", "1.5", "9" * 30, "%00", "%2F", "1%20", "%E2%98%83"]
VALUES = json_values(KEYS, NASTY, edge_integers=False)
TEXT, VALUE, OBJECT = VALUES.text, VALUES.value, VALUES.object
BAD_JSON = [
    b"{", b'{"name":', b"[1, 2", b"nul", b"\xff\xfe\x00", b'{"a": 1}{"b": 2}',
    b'{"name": "\\ud800"}', b"[" * 5000 + b"]" * 5000, b'"just a string"', b"[]",
    b'{"name": "\\u0000", "username": "u", "password": "p"}',
]  # fmt: skip
VALID = {"name": "fuzzCred", "type": "GCR", "username": "u", "password": "p"}
POD = {"name": "fuzzPod", "image": "python", "resourceType": "CPU", "expose": [{"port": 8080}]}
VOLUME = {"name": "fuzzVol", "storageType": "CEPH", "sizeInGb": 1}
ENDPOINT = {"name": "fuzzEp", "image": "python", "resources": [{"gpuCount": 0}], "workers": 1,
            "containerVolumeInGb": 20, "serviceMode": "ALB", "expose": {"port": 8080}}  # fmt: skip
METHODS = ["GET", "POST", "PATCH", "PUT", "DELETE"]


@dataclass
class FuzzWorld:
    app: ASGIApp
    services: Services
    keys: dict[str, str] = field(default_factory=dict)
    ids: list[str] = field(default_factory=list)  # ids of alice's objects

    async def send(self, who: str, method: str, target: str, body: bytes) -> Answer:
        headers = {"Content-Type": "application/json", "X-Api-Key": self.keys[who]}
        return await call(self.app, method, target, headers, body, deadline=20)


@asynccontextmanager
async def open_fuzz_world(database_url: str, tmp_path: Path) -> AsyncIterator[FuzzWorld]:
    async with services_with_alice(database_url, tmp_path) as accounts:
        services = accounts.services
        world = FuzzWorld(create_app(services), services)
        alice = await services.apikeys.create(email="alice@fuzz.test")
        world.keys = {SUPER: accounts.first_admin.api_key, ALICE: alice.secret}
        made = await world.send(ALICE, "POST", "/v2/container-registry-auths",
                                json.dumps(VALID).encode())  # fmt: skip
        world.ids.append(str(made.json()["data"]["id"]))
        world.ids.append(str(alice.key.id))
        pod = await world.send(ALICE, "POST", "/v2/pods", dumps(POD))
        world.ids.append(str(pod.json()["data"]["id"]))
        volume = await world.send(ALICE, "POST", "/v2/volumes", dumps(VOLUME))
        world.ids.append(str(volume.json()["data"]["id"]))
        endpoint = await world.send(ALICE, "POST", "/v2/serverless", dumps(ENDPOINT))
        world.ids.append(str(endpoint.json()["data"]["id"]))
        yield world


def fill(route: RouteId, ident: str) -> str:
    path = route.path.replace("{id}", ident)
    return path.replace("{workerId}", ident).replace("{count}", ident)


@st.composite
def cases(draw: st.DrawFn, route: RouteId, world: FuzzWorld) -> Case:
    ident = draw(st.sampled_from(IDS + world.ids))
    pairs = draw(st.dictionaries(st.sampled_from(KEYS), TEXT, max_size=4))
    query = "&".join(f"{encode(k)}={encode(v)}" for k, v in pairs.items())
    kind = draw(st.sampled_from(["none", "object", "json", "bad", "bytes"]))
    body = b""
    if kind == "object":
        body = dumps(draw(OBJECT))
    elif kind == "json":
        body = dumps(draw(VALUE))
    elif kind == "bad":
        body = draw(st.sampled_from(BAD_JSON))
    elif kind == "bytes":
        body = draw(st.binary(max_size=64))
    method = draw(st.sampled_from([route.method, route.method, *METHODS]))
    target = fill(route, ident) + (f"?{query}" if query else "")
    return Case(draw(st.sampled_from([ALICE, SUPER])), method, target, body)


def explicit_cases(route: RouteId, world: FuzzWorld | None = None) -> list[Case]:
    found = [Case(ALICE, route.method, fill(route, "1"), body) for body in BAD_JSON]
    found += [Case(ALICE, route.method, fill(route, ident), b"") for ident in IDS]
    for value in NASTY:
        found.append(Case(SUPER, route.method, fill(route, "1"), dumps({k: value for k in KEYS})))
    return found


def problems(answer: Answer, case: Case | None = None) -> list[str]:
    wrong, document = json_envelope(answer, {"message", "code", "data"})
    if wrong:
        return wrong
    if document["code"] == 10000 and answer.status != 200:
        return [f"code 10000 with HTTP {answer.status}"]
    if answer.status != 200 and document["code"] == 10000:
        return ["success code on an error"]
    return []


def refused(answer: Answer, case: Case | None = None) -> bool:
    return answer.status >= 400 or answer.json().get("code") != 10000


def fuzz_order(route: RouteId) -> tuple[int, RouteId]:
    """Routes that delete or revoke go last."""
    return (1 if route.method == "DELETE" else 0, route)


ROUTES = sorted(cloud_routes(), key=fuzz_order)


async def send(world: FuzzWorld, case: Case) -> Answer:
    return await world.send(case.who, case.method, case.target, case.body)


FACE = Face(cases=cases, explicit=explicit_cases, send=send, problems=problems, refused=refused)


def test_malformed_calls_get_envelopes_and_change_nothing(
    database_url: str, tmp_path: Path
) -> None:
    assert_fuzzed(open_fuzz_world(database_url, tmp_path), FACE, ROUTES)
