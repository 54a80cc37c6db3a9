"""GraphQL (``/admin/gql`` and the legacy ``/admin/graphql``) under malformed documents.

Broken syntax, unknown fields and arguments, wrong variable types, fragment cycles, deep
nesting, alias and token floods and huge limits must each get a clear GraphQL error, in
bounded time, never an internal error, and change nothing. Then Hypothesis writes random
queries and mutations against every root field of the schema, with arguments of random
types, as a plain user and as the superadmin.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from graphql import (
    GraphQLField,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLScalarType,
    get_named_type,
)
from hypothesis import given, settings
from hypothesis import strategies as st

from hangar.api.bai.graphql.schema import schema
from tests.support.fuzzing import PROFILE, fuzz_run
from tests.support.world import ALICE, SUPER, World, diff, open_world, probe

INTERNAL = "Internal server error."
SECONDS = 5.0  # the most any one of these documents may take

LIST = "compute_session_list(limit: 10, offset: 0) { items { id name } total_count }"
MALFORMED: dict[str, tuple[str, Any]] = {
    "empty": ("", None),
    "syntax": ("query {", None),
    "garbage": ("\x00\ud7ff☃ }}}{{{", None),
    "unknown field": ("query { no_such_field }", None),
    "unknown subfield": ("query { compute_session_list(limit: 1, offset: 0) { nope } }", None),
    "unknown argument": (
        "query { compute_session_list(limit: 1, offset: 0, x: 1) { total_count } }",
        None,
    ),  # noqa: E501
    "missing argument": ("query { compute_session_list { total_count } }", None),
    "wrong literal type": (
        'query { compute_session_list(limit: "ten", offset: 0) { total_count } }',
        None,
    ),  # noqa: E501
    "int overflow": (
        "query { compute_session_list(limit: 99999999999, offset: 0) { total_count } }",
        None,
    ),  # noqa: E501
    "huge limit": (
        "query { compute_session_list(limit: 2147483647, offset: 0) { total_count } }",
        None,
    ),  # noqa: E501
    "negative limit": (
        "query { compute_session_list(limit: -1, offset: -1) { total_count } }",
        None,
    ),  # noqa: E501
    "huge vfolder limit": (
        "query { vfolder_list(limit: 2147483647, offset: 0) { total_count } }",
        None,
    ),  # noqa: E501
    "huge user limit": ("query { user_list(limit: 2147483647, offset: 0) { total_count } }", None),
    "huge keypair limit": (
        "query { keypair_list(limit: 2147483647, offset: 0) { total_count } }",
        None,
    ),  # noqa: E501
    "variable of wrong type": (
        "query($l: Int!) { compute_session_list(limit: $l, offset: 0) { total_count } }",
        {"l": "x"},
    ),  # noqa: E501
    "variable too big": (
        "query($l: Int!) { compute_session_list(limit: $l, offset: 0) { total_count } }",
        {"l": 2**80},
    ),  # noqa: E501
    "variable null": (
        "query($l: Int!) { compute_session_list(limit: $l, offset: 0) { total_count } }",
        {"l": None},
    ),  # noqa: E501
    "variable missing": (
        "query($l: Int!) { compute_session_list(limit: $l, offset: 0) { total_count } }",
        {},
    ),  # noqa: E501
    "undeclared variable": (
        "query { compute_session_list(limit: $l, offset: 0) { total_count } }",
        {"l": 1},
    ),  # noqa: E501
    "input object of wrong shape": (
        'mutation { create_domain(name: "x", props: {nope: 1}) { ok msg } }',
        None,
    ),  # noqa: E501
    "JSONString not JSON": (
        'mutation { create_keypair_resource_policy(name: "p", props: {default_for_unspecified: "LIMITED", total_resource_slots: "{", max_concurrent_sessions: 1, max_containers_per_session: 1, idle_timeout: 1, max_vfolder_count: 1, max_vfolder_size: 1, allowed_vfolder_hosts: []}) { ok msg } }',  # noqa: E501
        None,
    ),  # noqa: E501
    "JSONString nested deep": (
        'mutation($p: KeyPairResourcePolicyInput!) { create_keypair_resource_policy(name: "p", props: $p) { ok msg } }',  # noqa: E501
        {
            "p": {
                "default_for_unspecified": "LIMITED",
                "total_resource_slots": "[" * 3000 + "]" * 3000,
                "max_concurrent_sessions": 1,
                "max_containers_per_session": 1,
                "idle_timeout": 1,
                "max_vfolder_count": 1,
                "max_vfolder_size": 1,
                "allowed_vfolder_hosts": [],
            }
        },
    ),  # noqa: E501
    "fragment cycle": (
        "query { ...A } fragment A on Query { ...B } fragment B on Query { ...A }",
        None,
    ),  # noqa: E501
    "unknown operation name": ("query a { __typename }", None),
    "subscription": ("subscription { __typename }", None),
    "deep nesting": (
        "query { "
        + "__schema { types { fields { type { ofType { " * 6
        + "name"
        + " } } } } }" * 6
        + " }",
        None,
    ),  # noqa: E501
    "alias flood": ("query { " + " ".join(f"a{i}: {LIST}" for i in range(3000)) + " }", None),
    "token flood": ("query { " + "__typename " * 100_000 + "}", None),
    "directive flood": ("query { __typename " + "@skip(if: false) " * 5000 + "}", None),
}


async def gql(world: World, who: str, path: str, body: Any) -> tuple[int, Any, float]:
    started = time.monotonic()
    answer = await world.request(who, "POST", path, body, deadline=30)
    return answer.status, answer.json() if answer.body else None, time.monotonic() - started


def refused_as_params(status: int, body: Any) -> bool:
    """A 400 invalid-api-params problem (NUL characters are refused before parsing)."""
    kind = body.get("type", "") if isinstance(body, dict) else ""
    return status == 400 and kind.endswith("/invalid-api-params")


def messages(body: Any) -> list[str]:
    if isinstance(body, dict) and "errors" in body:
        return [str(e.get("message")) for e in body["errors"]]
    if isinstance(body, dict) and isinstance(body.get("data"), list):  # legacy problem
        return [str(e.get("message")) for e in body["data"]]
    return []


@pytest.fixture
async def world(database_url: str, tmp_path: Path):  # type: ignore[no-untyped-def]
    async with open_world(database_url, tmp_path) as built:
        yield built


@pytest.mark.serial  # each document must answer within SECONDS
async def test_malformed_documents_get_graphql_errors(world: World) -> None:
    failures: list[str] = []
    for name, (document, variables) in MALFORMED.items():
        body: dict[str, Any] = {"query": document}
        if variables is not None:
            body["variables"] = variables
        if name == "unknown operation name":
            body["operation_name"] = "zzz"
        for who in (ALICE, SUPER):
            before = await probe(world.services)
            status, answer, took = await gql(world, who, "/admin/gql", body)
            legacy, legacy_answer, legacy_took = await gql(world, who, "/admin/graphql", body)
            after = await probe(world.services)
            found = messages(answer)
            if refused_as_params(status, answer) and refused_as_params(legacy, legacy_answer):
                pass  # a NUL in the document: refused before GraphQL sees it
            else:
                if status != 200 or not found:
                    failures.append(f"{name} as {who}: {status} {json.dumps(answer)[:300]}")
                if INTERNAL in found or INTERNAL in messages(legacy_answer):
                    failures.append(f"{name} as {who}: internal error {answer} {legacy_answer}")
                legacy_type = legacy_answer.get("type", "").rpartition("/")[2]
                if legacy != 400 or legacy_type != "graphql-error":
                    failures.append(f"{name} as {who}: legacy {legacy} {str(legacy_answer)[:300]}")
            if max(took, legacy_took) > SECONDS:
                failures.append(f"{name} as {who}: took {took:.1f}s / {legacy_took:.1f}s")
            if changed := diff(before, after):
                failures.append(f"{name} as {who}: changed {changed}")
    assert not failures, "\n".join(failures)


async def test_bodies_that_are_not_graphql_requests(world: World) -> None:
    for raw in (b"[]", b"null", b'"query"', b"{", b'{"query": 1}', b'{"query": "{ __typename }", "variables": []}',  # noqa: E501
                b'{"query": "{ __typename }", "operation_name": 5}', b"[" * 5000 + b"]" * 5000,
                b'{"query": "\\ud800"}'):  # fmt: skip
        for path in ("/admin/gql", "/admin/graphql"):
            answer = await world.request(ALICE, "POST", path, raw, content_type="application/json")
            assert answer.status == 400, (path, raw[:40], answer.status, answer.body[:300])
            assert answer.content_type == "application/problem+json"


# Random documents against every root field ---------------------------------------------

SCHEMA = schema._schema
NASTY_STRINGS = ["", "\x00", "../..", "x" * 3000, "☃", "00000000-0000-0000-0000-000000000000",
                 "alice@default.test", "default", "'; DROP TABLE users; --"]  # fmt: skip


def literal() -> st.SearchStrategy[str]:
    scalars = st.one_of(
        st.integers(-(2**40), 2**40).map(str),
        st.sampled_from(["2147483647", "-2147483648", "0", "-1", "1.5", "1e400"]),
        st.sampled_from(NASTY_STRINGS).map(json.dumps),
        st.text(max_size=10).map(lambda t: json.dumps(t, ensure_ascii=True)),
        st.sampled_from(["null", "true", "false", "ENUM_VALUE", '"{}"', '"[1, 2]"']),
    )
    return st.recursive(
        scalars,
        lambda inner: st.lists(inner, max_size=3).map(lambda xs: "[" + ", ".join(xs) + "]")
        | st.dictionaries(st.sampled_from(["name", "props", "is_active", "x", "domain_name"]),
                          inner, max_size=3).map(
            lambda d: "{" + ", ".join(f"{k}: {v}" for k, v in d.items()) + "}"),
        max_leaves=5,
    )  # fmt: skip


def selection(field: GraphQLField, depth: int = 0) -> str:
    named = get_named_type(field.type)
    if not isinstance(named, GraphQLObjectType):
        return ""
    parts = []
    for name, sub in named.fields.items():
        inner = get_named_type(sub.type)
        if isinstance(inner, GraphQLScalarType) or not isinstance(inner, GraphQLObjectType):
            parts.append(name)
        elif depth < 1 and not any(a for a in sub.args.values()):
            nested = selection(sub, depth + 1)
            if nested:
                parts.append(f"{name} {nested}")
    return "{ " + " ".join(parts[:12] or ["__typename"]) + " }"


def _required(field: GraphQLField) -> list[str]:
    return [n for n, a in field.args.items() if isinstance(a.type, GraphQLNonNull)]


@st.composite
def documents(draw: st.DrawFn) -> tuple[str, str, str]:
    kind = draw(st.sampled_from(["query", "mutation"]))
    root = SCHEMA.query_type if kind == "query" else SCHEMA.mutation_type
    assert root is not None
    name = draw(st.sampled_from(sorted(root.fields)))
    field = root.fields[name]
    names = list(field.args)
    chosen = set(_required(field)) if draw(st.booleans()) else set()
    chosen |= set(draw(st.lists(st.sampled_from(names), max_size=3))) if names else set()
    if draw(st.integers(0, 5)) == 0:
        chosen.add("unknown_argument")
    args = ", ".join(f"{a}: {draw(literal())}" for a in sorted(chosen))
    call = f"{name}({args})" if args else name
    is_list = isinstance(field.type, GraphQLList) or isinstance(
        getattr(field.type, "of_type", None), GraphQLList
    )
    del is_list
    return kind, f"{kind} {{ {call} {selection(field)} }}", draw(st.sampled_from([ALICE, SUPER]))


def _acknowledged(body: Any) -> bool:
    """Whether a mutation said it did something (``ok: true``)."""
    data = body.get("data") if isinstance(body, dict) else None
    if not isinstance(data, dict):
        return False
    return any(isinstance(v, dict) and v.get("ok") is True for v in data.values())


@pytest.mark.serial  # each document must answer within SECONDS
def test_random_documents(database_url: str, tmp_path: Path) -> None:
    failures: list[str] = []
    with fuzz_run(open_world(database_url, tmp_path)) as run:

        @settings(
            settings.get_profile(PROFILE),
            max_examples=settings.get_profile(PROFILE).max_examples * 15,
        )  # noqa: E501
        @given(case=documents())
        def check(case: tuple[str, str, str]) -> None:
            kind, document, who = case

            async def one() -> None:
                status, body, took = await gql(run.world, who, "/admin/gql", {"query": document})
                assert status == 200 or refused_as_params(status, body), (document, body)
                assert INTERNAL not in messages(body), (document, body)
                assert took < SECONDS, (document, took)
                changed = await run.state.advance()
                if kind == "query" or not _acknowledged(body):
                    assert not changed, (document, body, changed)

            run.runner.run(one())

        try:
            check()
        except Exception as exc:
            failures.append(str(exc))
    assert not failures, "\n".join(failures)
