"""Parameter bodies are bounded: an oversized JSON or GraphQL body gets 413 problem+json,
announced by Content-Length or discovered while streaming, and changes nothing."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx

from hangar.api.common.params import MAX_BODY_BYTES
from tests.component.test_bai_auth import problem
from tests.support.bai import Signer


def _oversized_echo() -> bytes:
    return b'{"echo": "' + b"x" * (MAX_BODY_BYTES + 1) + b'"}'


async def test_an_oversized_json_body_is_refused(client: httpx.AsyncClient, admin: Signer) -> None:
    headers = admin.headers("POST", "/auth/test", content_type="application/json")
    response = await client.post("/auth/test", headers=headers, content=_oversized_echo())
    body = problem(response, 413, "generic-bad-request")
    assert str(MAX_BODY_BYTES) in body["msg"]


async def test_an_oversized_chunked_body_is_refused_while_streaming(
    client: httpx.AsyncClient, admin: Signer
) -> None:
    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: sent chunked
        data = _oversized_echo()
        for at in range(0, len(data), 1 << 20):
            yield data[at : at + (1 << 20)]

    headers = admin.headers("POST", "/auth/test", content_type="application/json")
    response = await client.post("/auth/test", headers=headers, content=chunks())
    problem(response, 413, "generic-bad-request")


async def test_an_oversized_graphql_document_is_refused_and_a_normal_one_works(
    client: httpx.AsyncClient, admin: Signer
) -> None:
    headers = admin.headers("POST", "/admin/gql", content_type="application/json")
    padding = " " * (MAX_BODY_BYTES + 1)
    big = ('{"query": "{ keypair { access_key } }' + padding + '"}').encode()
    problem(await client.post("/admin/gql", headers=headers, content=big), 413,
            "generic-bad-request")  # fmt: skip
    small = b'{"query": "{ keypair { access_key } }"}'
    response = await client.post("/admin/gql", headers=headers, content=small)
    assert response.status_code == 200, response.text
    assert response.json()["data"]["keypair"]["access_key"] == admin.access_key
