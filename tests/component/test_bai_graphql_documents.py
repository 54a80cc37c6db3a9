"""Repeated GraphQL texts are answered from the document cache exactly as the first time:
valid queries, queries that fail validation and texts that do not parse."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from hangar.api.bai.graphql import documents
from hangar.core.compute.models import CreateRequest, SessionSpec
from hangar.core.services import Services
from tests.component.test_bai_graphql import post_gql
from tests.support.bai import Signer

QUERIES = [
    "query { keypair { access_key is_active } }",
    "query { keypair { no_such_field } }",  # fails validation
    "query { keypair { access_key ",  # does not parse
    "query($n: Int!) { compute_session_list(limit: $n, offset: 0) { total_count } }",
]


@pytest.mark.parametrize("query", QUERIES)
async def test_a_repeated_text_gets_the_same_answer(
    client: httpx.AsyncClient, admin: Signer, query: str
) -> None:
    answers = [
        (r.status_code, r.json())
        for r in [await post_gql(client, admin, query, {"n": 5}) for _ in range(3)]
    ]
    assert answers[0] == answers[1] == answers[2]
    parses = "access_key " not in query[-12:]
    assert (query in documents._entries) is parses


async def test_a_cached_document_is_validated_once(
    client: httpx.AsyncClient, admin: Signer, monkeypatch: pytest.MonkeyPatch
) -> None:
    import strawberry.schema.schema as strawberry_schema

    calls = []
    validate = strawberry_schema.validate_document

    def counting(*args: object) -> object:
        calls.append(1)
        return validate(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(strawberry_schema, "validate_document", counting)
    query = f"query {{ keypair {{ access_key }} }}  # {uuid.uuid4()}: new to the cache"
    for _ in range(3):
        assert (await post_gql(client, admin, query)).status_code == 200
    assert len(calls) == 1


@pytest.mark.parametrize("settings_overrides", [{"agent_runtime": "none"}])
async def test_a_list_without_dependencies_does_not_look_them_up(
    client: httpx.AsyncClient, services: Services, admin: Signer, monkeypatch: pytest.MonkeyPatch
) -> None:
    caller = (await services.identity.credentials_for(admin.access_key)).caller
    request = CreateRequest(name="plain-list", spec=SessionSpec("python"), enqueue_only=True)
    await services.compute.create(caller, request)
    looked_up = []
    real = services.reads.sessions.dependencies_of

    async def counting(*args: Any, **kwargs: Any) -> Any:
        looked_up.append(1)
        return await real(*args, **kwargs)

    monkeypatch.setattr(services.reads.sessions, "dependencies_of", counting)
    plain = "query { compute_session_list(limit: 5, offset: 0) { items { name } total_count } }"
    deep = "query { compute_session_list(limit: 5, offset: 0) { items { ...deps } } }"
    deep += " fragment deps on ComputeSession { dependencies { name } }"
    for query in (plain, deep):
        response = await post_gql(client, admin, query)
        assert response.status_code == 200 and "errors" not in response.json(), response.text
    assert len(looked_up) == 1  # only the document that asks for them
