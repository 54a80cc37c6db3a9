"""Every endpoint of the ClearML face, fed malformed requests by a caller with a valid token.

The endpoints come from the face's registry, so one added by any module is fuzzed without
anyone listing it. Hypothesis builds calls through bare and versioned paths with GET, POST
and PUT; bodies of wrong types, unknown and missing keys, huge numbers, unicode and NULs,
non-object and broken JSON, json-lines batches with junk lines; odd query strings and
headers. Whatever comes in, the answer must come back in time, never as a 5xx, always as the
envelope (HTTP status = result code, ``data`` an object); a refusal must leave the database
and the stored files exactly as they were.

The callers are alice (a plain user who owns a project and a task when the face can make
them, so valid ids reach deep into handlers) and the superadmin.
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from starlette.types import ASGIApp

from hangar.api.app import create_app
from hangar.api.clearml.registry import Endpoint
from hangar.core.services import Services, open_services
from tests.support.asgi import Answer, Hang, call
from tests.support.fuzzing import PROFILE
from tests.support.routes import clearml_endpoints, clearml_parameter_names
from tests.support.settings import settings_for
from tests.support.world import diff, probe

ALICE, SUPER = "alice", "super"
KEYS = sorted({*clearml_parameter_names(), "method", "allow_locked", "id", "queue", "worker"})
NASTY = [
    "", " ", ".", "..", "../", "../../etc/passwd", "\x00", "a\x00b", "x" * 5000, "%", "%zz",
    "☃ünï©ødé", "\ud800", "null", "true", "-1", "0", "1e309", "NaN", "^(", "(a+)+$", "[",
    "99999999999999999999999999", "' OR '1'='1", "{}", "[]", "*", "/", "\n\r\t", "-",
    "__$all", "__$not", "-x", "0" * 32, "f" * 32, "00000000-0000-0000-0000-000000000000",
]  # fmt: skip
SWEEP = ["", "../", "\x00", "x" * 5000, "\ud800", "99999999999999999999999999", "^(", "-1",
         "null", "☃ünï©ødé", "0" * 32, "__$all"]  # fmt: skip
TEXT = st.sampled_from(NASTY) | st.text(max_size=24)
SCALAR = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.sampled_from([2**63, -(2**63) - 1, 2**31, -1, 0, 10**30])
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
    b"{", b'{"task":', b"[1, 2", b"nul", b"\xff\xfe\x00", b'{"a": 1}{"b": 2}',
    b'{"task": "\\ud800"}', b"[" * 5000 + b"]" * 5000, b'{"a": ' * 2000 + b"1" + b"}" * 2000,
    b'"just a string"', b"[]", b"[1, 2]", b'{"task": "\\u0000"}',
]  # fmt: skip
BAD_LINES = [b"", b"\n\n", b"{}\n[]", b"1\n2", b'{"task": 1}\n{', b"{}\n" * 3, b"\xff\n{}"]
CONTENT_TYPES = ["application/json", "application/json-lines", "text/plain", "", "\u00e9/\u00e9"]
VERSIONS = ["", "/v2.23", "/v2.5", "/v2.31", "/v999.0", "/v2.13"]
HEADERS = st.dictionaries(
    st.sampled_from(["X-ClearML-Worker", "X-ClearML-Trx", "X-ClearML-Async", "Accept-Encoding"]),
    st.sampled_from(["", "x" * 3000, "vm:0", "\x7f", "1", "gzip"]),
    max_size=2,
)


@dataclass
class FuzzWorld:
    app: ASGIApp
    services: Services
    tokens: dict[str, str] = field(default_factory=dict)
    ids: list[str] = field(default_factory=list)  # alice's project and task, where made

    async def send(
        self, who: str | None, method: str, target: str, body: bytes, ctype: str, **headers: str
    ) -> Answer:
        sent = {"Content-Type": ctype, **headers}
        if who is not None:
            sent["Authorization"] = f"Bearer {self.tokens[who]}"
        return await call(self.app, method, target, sent, body, deadline=20)

    async def data(self, who: str, name: str, body: dict[str, Any]) -> dict[str, Any] | None:
        answer = await self.send(
            who, "POST", f"/v2.23/{name}", json.dumps(body).encode(), "application/json"
        )
        return answer.json()["data"] if answer.status == 200 else None


@asynccontextmanager
async def open_fuzz_world(database_url: str, tmp_path: Path) -> AsyncIterator[FuzzWorld]:
    settings = settings_for(tmp_path, database_url)
    services = await open_services(settings)
    try:
        world = FuzzWorld(create_app(services), services)
        first = services.first_admin
        assert first is not None
        await services.identity.create_user(email="alice@fuzz.test", password="a-good-password")
        alice = await services.identity.issue_keypair(email="alice@fuzz.test")
        keys = {
            SUPER: (first.keypair.keypair.access_key, first.keypair.secret_key),
            ALICE: (alice.keypair.access_key, alice.secret_key),
        }
        for who, (access, secret) in keys.items():
            basic = base64.b64encode(f"{access}:{secret}".encode()).decode()
            login = await call(world.app, "GET", "/auth.login", {"Authorization": f"Basic {basic}"})
            world.tokens[who] = login.json()["data"]["token"]
        await _populate(world)
        yield world
    finally:
        await services.close()


async def _populate(world: FuzzWorld) -> None:
    """A project and a task of alice's, through the face, when it has the endpoints."""
    names = {e.name for e in clearml_endpoints()}
    if "projects.create" in names:
        made = await world.data(ALICE, "projects.create", {"name": "alice-fuzz"})
        world.ids += [made["id"]] if made else []
    if "tasks.create" in names:
        body: dict[str, Any] = {"name": "alice-task", "type": "training"}
        made = await world.data(
            ALICE, "tasks.create", {**body, "project": (world.ids or [None])[0]}
        )
        world.ids += [made["id"]] if made else []


@dataclass
class Case:
    who: str
    method: str
    target: str
    body: bytes
    content_type: str
    headers: dict[str, str] = field(default_factory=dict)

    def __repr__(self) -> str:
        where = f"{self.who} {self.method} {self.target[:200]!r} {self.content_type!r}"
        return f"Case({where} body={self.body[:300]!r})"


def encode(value: str) -> str:
    return quote(value.encode("utf-8", "surrogatepass"), safe="")


def query_of(pairs: dict[str, str]) -> str:
    return "&".join(f"{encode(k)}={encode(v)}" for k, v in pairs.items())


def dumps(value: Any) -> bytes:
    return json.dumps(value).encode("utf-8", "surrogatepass")


@st.composite
def cases(draw: st.DrawFn, endpoint: Endpoint, world: FuzzWorld) -> Case:
    text = TEXT | st.sampled_from(world.ids or [""])
    query = draw(
        st.one_of(
            st.just(""),
            st.dictionaries(st.sampled_from(KEYS), text | st.integers().map(str), max_size=4).map(
                query_of
            ),
            st.sampled_from(["%zz=%", "a=%00", "&&&=", "a.b.c=1&a.b=2", "k[]=1&k[]=x", "=", "?=?"]),
        )
    )
    target = draw(st.sampled_from(VERSIONS)) + "/" + endpoint.name + (f"?{query}" if query else "")
    kind = draw(st.sampled_from(["none", "object", "ids", "json", "bad", "lines", "bytes"]))
    content_type, body = "application/json", b""
    if kind == "object":
        body = dumps(draw(OBJECT))
    elif kind == "ids":  # valid references in every key that names one, junk around them
        ref = draw(st.sampled_from(world.ids or ["x"]))
        body = dumps({**draw(OBJECT), "task": ref, "project": ref, "tasks": [ref], "id": [ref]})
    elif kind == "json":
        body = dumps(draw(VALUE))
    elif kind == "bad":
        body = draw(st.sampled_from(BAD_JSON))
    elif kind == "lines":
        lines = draw(st.lists(OBJECT.map(dumps) | st.sampled_from(BAD_LINES), max_size=4))
        body, content_type = b"\n".join(lines), "application/json-lines"
    elif kind == "bytes":
        body = draw(st.binary(max_size=64))
    if draw(st.integers(0, 4)) == 0:
        content_type = draw(st.sampled_from(CONTENT_TYPES))
    return Case(
        who=draw(st.sampled_from([ALICE, SUPER])),
        method=draw(st.sampled_from(["GET", "POST", "PUT"])),
        target=target,
        body=body,
        content_type=content_type,
        headers=draw(HEADERS),
    )


def explicit_cases(endpoint: Endpoint) -> list[Case]:
    """What every endpoint gets on every run: each broken body and batch, and each nasty
    value in every known key, in the body and in the query string."""
    target = f"/v2.23/{endpoint.name}"
    found = [Case(ALICE, "GET", target, body, "application/json") for body in BAD_JSON]
    found += [Case(ALICE, "POST", target, b, "application/json-lines") for b in BAD_LINES]
    for value in SWEEP:
        found.append(
            Case(ALICE, "GET", target, dumps({key: value for key in KEYS}), "application/json")
        )
        found.append(
            Case(SUPER, "POST", target, dumps({key: [value] for key in KEYS}), "application/json")
        )
        if value in SWEEP[:6]:
            query = query_of({key: value for key in KEYS[:40]})
            found.append(Case(SUPER, "GET", f"{target}?{query}", b"", "application/json"))
    return found


def problems(answer: Answer) -> list[str]:
    """What is wrong with this answer to a malformed call, if anything."""
    if answer.error is not None:
        return [f"the application raised {answer.error!r}"]
    if answer.status >= 500:
        return [f"answered {answer.status}: {answer.body[:300]!r}"]
    if answer.content_type != "application/json":
        return [f"{answer.status} as {answer.content_type!r}, not the JSON envelope"]
    document = answer.json()
    if not (isinstance(document, dict) and set(document) == {"meta", "data"}):
        return [f"not the envelope: {answer.body[:300]!r}"]
    meta, data = document["meta"], document["data"]
    found = []
    if meta.get("result_code") != answer.status:
        found.append(f"HTTP {answer.status} but result_code {meta.get('result_code')}")
    if not isinstance(data, dict) or (answer.status != 200 and data):
        found.append(f"data {str(data)[:200]} with status {answer.status}")
    return found


def fuzz_order(endpoint: Endpoint) -> tuple[int, str]:
    """Endpoints that destroy or revoke what the others rely on go last."""
    destructive = any(word in endpoint.name for word in ("delete", "revoke", "reset", "archive"))
    return (1 if destructive else 0, endpoint.name)


ENDPOINTS = sorted(clearml_endpoints(), key=fuzz_order)


def run_fuzz(database_url: str, tmp_path: Path, endpoints: list[Endpoint]) -> list[str]:
    failures: list[str] = []
    with asyncio.Runner() as runner:
        context = open_fuzz_world(database_url, tmp_path)
        world = runner.run(context.__aenter__())
        state = {"now": runner.run(probe(world.services))}
        try:
            for endpoint in endpoints:
                try:
                    _checker(runner, world, endpoint, state)()
                except Exception as exc:  # one endpoint's failure must not hide the others'
                    failures.append(f"{endpoint.name}: {exc}")
        finally:
            runner.run(context.__aexit__(None, None, None))
    return failures


def _checker(
    runner: asyncio.Runner, world: FuzzWorld, endpoint: Endpoint, state: dict[str, Any]
) -> Callable[[], None]:
    @settings(settings.get_profile(PROFILE))
    @given(case=cases(endpoint, world))
    def check(case: Case) -> None:
        runner.run(one(case))

    async def one(case: Case) -> None:
        try:
            answer = await world.send(
                case.who, case.method, case.target, case.body, case.content_type, **case.headers
            )
        except Hang as exc:
            raise AssertionError(f"{case!r}: {exc}") from None
        wrong = problems(answer)
        assert not wrong, f"{case!r}: {'; '.join(wrong)}"
        after = await probe(world.services)
        if answer.status >= 400:
            changed = diff(state["now"], after)
            state["now"] = after
            assert not changed, f"{case!r}: refused with {answer.status} yet changed {changed}"
        state["now"] = after

    for case in explicit_cases(endpoint):
        check = example(case=case)(check)
    return check


@pytest.mark.parametrize("part", [0, 1], ids=["first-half", "second-half"])
def test_malformed_calls_get_envelopes_and_change_nothing(
    database_url: str, tmp_path: Path, part: int
) -> None:
    half = len(ENDPOINTS) // 2
    endpoints = ENDPOINTS[:half] if part == 0 else ENDPOINTS[half:]
    failures = run_fuzz(database_url, tmp_path, endpoints)
    assert not failures, "\n\n".join(failures)
