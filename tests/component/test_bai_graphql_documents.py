"""Repeated GraphQL texts are answered from the document cache exactly as the first time:
valid queries, queries that fail validation and texts that do not parse."""

from __future__ import annotations

import uuid

import httpx
import pytest

from hangar.api.bai.graphql import documents
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
