"""Every route of the GPU-cloud face, fed malformed requests by callers with valid API keys.

The routes come from the face's registry, so one added by any module is fuzzed without
anyone listing it. Path ids, query strings, bodies (wrong types, unknown and missing keys,
huge numbers, unicode, NULs, broken JSON) and methods vary; whatever comes in, the answer
comes back in time, never as a 5xx, always as ``{message, code, data}`` with code 10000 only
for HTTP 200; a refused call (HTTP >= 400 or a code other than 10000) changes nothing in the
database or under the data directory.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from hypothesis import example, given, settings
from hypothesis import strategies as st
from starlette.types import ASGIApp

from hangar.api.app import create_app
from hangar.core.services import Services, open_services
from tests.support.asgi import Answer, Hang, call
from tests.support.fuzzing import PROFILE
from tests.support.routes import RouteId, cloud_parameter_names, cloud_routes
from tests.support.settings import settings_for
from tests.support.world import diff, probe

ALICE, SUPER = "alice", "super"
KEYS = sorted({*cloud_parameter_names(), "page", "size", "id", "statusList", "regionList",
               "storageType", "region", "status"})  # fmt: skip
NASTY = [
    "", " ", "..", "../../etc/passwd", "\x00", "a\x00b", "x" * 5000, "%", "%zz", "☃ünï©ødé",
    "\ud800", "null", "true", "-1", "0", "1e309", "NaN", "99999999999999999999999999",
    "' OR '1'='1", "{}", "[]", "*", "/", "\n\r\t", "DOCKER_HUB", "PRIVATE", "a" * 21,
]  # fmt: skip
IDS = ["0", "1", "2", "-1", "abc", "1.5", "9" * 30, "%00", "%2F", "1%20", "%E2%98%83"]
TEXT = st.sampled_from(NASTY) | st.text(max_size=24)
SCALAR = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats()
    | TEXT
)
VALUE = st.recursive(
    SCALAR,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(KEYS), inner, max_size=3)
    ),
    max_leaves=6,
)
OBJECT = st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=8), VALUE, max_size=6)
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
    settings_ = settings_for(tmp_path, database_url)
    services = await open_services(settings_)
    try:
        world = FuzzWorld(create_app(services), services)
        first = services.first_admin
        assert first is not None
        await services.identity.create_user(email="alice@fuzz.test", password="a-good-password")
        await services.identity.issue_keypair(email="alice@fuzz.test")
        alice = await services.apikeys.create(email="alice@fuzz.test")
        world.keys = {SUPER: first.api_key, ALICE: alice.secret}
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
    finally:
        await services.close()


def encode(value: str) -> str:
    return quote(value.encode("utf-8", "surrogatepass"), safe="")


def dumps(value: Any) -> bytes:
    return json.dumps(value).encode("utf-8", "surrogatepass")


def fill(route: RouteId, ident: str) -> str:
    path = route.path.replace("{id}", ident)
    return path.replace("{workerId}", ident).replace("{count}", ident)


@dataclass
class Case:
    who: str
    method: str
    target: str
    body: bytes

    def __repr__(self) -> str:
        return f"Case({self.who} {self.method} {self.target[:200]!r} body={self.body[:300]!r})"


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


def explicit_cases(route: RouteId) -> list[Case]:
    found = [Case(ALICE, route.method, fill(route, "1"), body) for body in BAD_JSON]
    found += [Case(ALICE, route.method, fill(route, ident), b"") for ident in IDS]
    for value in NASTY:
        found.append(Case(SUPER, route.method, fill(route, "1"), dumps({k: value for k in KEYS})))
    return found


def problems(answer: Answer) -> list[str]:
    if answer.error is not None:
        return [f"the application raised {answer.error!r}"]
    if answer.status >= 500:
        return [f"answered {answer.status}: {answer.body[:300]!r}"]
    if answer.content_type != "application/json":
        return [f"{answer.status} as {answer.content_type!r}, not the JSON envelope"]
    document = answer.json()
    if not (isinstance(document, dict) and set(document) == {"message", "code", "data"}):
        return [f"not the envelope: {answer.body[:300]!r}"]
    if document["code"] == 10000 and answer.status != 200:
        return [f"code 10000 with HTTP {answer.status}"]
    if answer.status != 200 and document["code"] == 10000:
        return ["success code on an error"]
    return []


def refused(answer: Answer) -> bool:
    return answer.status >= 400 or answer.json().get("code") != 10000


def fuzz_order(route: RouteId) -> tuple[int, RouteId]:
    """Routes that delete or revoke go last."""
    return (1 if route.method == "DELETE" else 0, route)


ROUTES = sorted(cloud_routes(), key=fuzz_order)


def _checker(
    runner: asyncio.Runner, world: FuzzWorld, route: RouteId, state: dict[str, Any]
) -> Callable[[], None]:
    @settings(settings.get_profile(PROFILE))
    @given(case=cases(route, world))
    def check(case: Case) -> None:
        runner.run(one(case))

    async def one(case: Case) -> None:
        try:
            answer = await world.send(case.who, case.method, case.target, case.body)
        except Hang as exc:
            raise AssertionError(f"{case!r}: {exc}") from None
        wrong = problems(answer)
        assert not wrong, f"{case!r}: {'; '.join(wrong)}"
        after = await probe(world.services)
        changed = diff(state["now"], after)
        state["now"] = after
        if refused(answer):
            assert not changed, f"{case!r}: refused ({answer.body[:200]!r}) yet changed {changed}"

    for case in explicit_cases(route):
        check = example(case=case)(check)
    return check


def test_malformed_calls_get_envelopes_and_change_nothing(
    database_url: str, tmp_path: Path
) -> None:
    failures: list[str] = []
    with asyncio.Runner() as runner:
        context = open_fuzz_world(database_url, tmp_path)
        world = runner.run(context.__aenter__())
        state = {"now": runner.run(probe(world.services))}
        try:
            for route in ROUTES:
                try:
                    _checker(runner, world, route, state)()
                except Exception as exc:  # one route's failure must not hide the others'
                    failures.append(f"{route}: {exc}")
        finally:
            runner.run(context.__aexit__(None, None, None))
    assert not failures, "\n\n".join(failures)
