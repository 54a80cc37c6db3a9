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

import base64
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hypothesis import strategies as st
from starlette.types import ASGIApp

from hangar.api.app import create_app
from hangar.api.clearml.registry import Endpoint
from hangar.core.services import Services
from tests.support.asgi import Answer, call
from tests.support.fuzzing import (
    Case,
    Face,
    assert_fuzzed,
    dumps,
    half,
    halves,
    json_envelope,
    json_values,
    other_content_type,
    query_of,
    services_with_alice,
)
from tests.support.routes import clearml_endpoints, clearml_parameter_names

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
VALUES = json_values(KEYS, NASTY)
TEXT, VALUE, OBJECT = VALUES.text, VALUES.value, VALUES.object
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
    async with services_with_alice(database_url, tmp_path) as accounts:
        world = FuzzWorld(create_app(accounts.services), accounts.services)
        first, alice = accounts.first_admin.keypair, accounts.alice
        keys = {
            SUPER: (first.keypair.access_key, first.secret_key),
            ALICE: (alice.keypair.access_key, alice.secret_key),
        }
        for who, (access, secret) in keys.items():
            basic = base64.b64encode(f"{access}:{secret}".encode()).decode()
            login = await call(world.app, "GET", "/auth.login", {"Authorization": f"Basic {basic}"})
            world.tokens[who] = login.json()["data"]["token"]
        await _populate(world)
        yield world


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
    content_type = other_content_type(draw, content_type, CONTENT_TYPES)
    return Case(
        who=draw(st.sampled_from([ALICE, SUPER])),
        method=draw(st.sampled_from(["GET", "POST", "PUT"])),
        target=target,
        body=body,
        content_type=content_type,
        headers=draw(HEADERS),
    )


def explicit_cases(endpoint: Endpoint, world: FuzzWorld | None = None) -> list[Case]:
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
    wrong, document = json_envelope(answer, {"meta", "data"})
    if wrong:
        return wrong
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


async def send(world: FuzzWorld, case: Case) -> Answer:
    return await world.send(
        case.who, case.method, case.target, case.body, case.content_type, **case.headers
    )


FACE = Face(
    cases=cases,
    explicit=explicit_cases,
    send=send,
    problems=lambda answer, case: problems(answer),
    refused=lambda answer, case: answer.status >= 400,
    label=lambda endpoint: endpoint.name,
)


@halves
def test_malformed_calls_get_envelopes_and_change_nothing(
    database_url: str, tmp_path: Path, part: int
) -> None:
    assert_fuzzed(open_fuzz_world(database_url, tmp_path), FACE, half(ENDPOINTS, part))
