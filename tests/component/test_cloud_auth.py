"""API keys of the GPU-cloud face in-process, on both databases: the rate limit of the
user's keypair applies to the key's calls (429 in the envelope), a revoked key or one of a
deactivated user is refused, and only the key's hash is stored."""

from __future__ import annotations

import httpx
from sqlalchemy import select

from hangar.core.services import Services
from hangar.db.tables.identity import CloudApiKeyRow

TYPES = "/v2/vms/types"


async def test_calls_count_against_the_users_rate_limit(
    services: Services, client: httpx.AsyncClient
) -> None:
    await services.identity.create_user(email="rl@cloud.test", password="a-good-password")
    await services.identity.issue_keypair(email="rl@cloud.test", rate_limit=3)
    key = {"X-Api-Key": (await services.apikeys.create(email="rl@cloud.test")).secret}
    answers = [await client.get(TYPES, headers=key) for _ in range(4)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert answers[-1].json()["code"] == 429 and int(answers[-1].headers["retry-after"]) >= 1


async def test_revoked_keys_and_inactive_users_are_refused(
    services: Services, client: httpx.AsyncClient
) -> None:
    await services.identity.create_user(email="gone@cloud.test", password="a-good-password")
    kp = await services.identity.issue_keypair(email="gone@cloud.test")
    created = await services.apikeys.create(email="gone@cloud.test")
    key = {"X-Api-Key": created.secret}
    assert (await client.get(TYPES, headers=key)).status_code == 200
    await services.identity.set_keypair_active(kp.keypair.access_key, False)
    refused = await client.get(TYPES, headers=key)  # no active keypair: no limits to act with
    assert (refused.status_code, refused.json()["code"]) == (401, 40101)
    await services.identity.set_keypair_active(kp.keypair.access_key, True)
    await services.apikeys.revoke(created.key.id)
    refused = await client.get(TYPES, headers=key)
    assert (refused.status_code, refused.json()["code"], refused.json()["data"]) == (
        401,
        40101,
        None,
    )


async def test_only_the_hash_is_stored(services: Services) -> None:
    created = await services.apikeys.create(email="admin@hangar.local")
    async with services.sessions() as db:
        stored = [
            (r.key_hash, r.prefix) for r in (await db.execute(select(CloudApiKeyRow))).scalars()
        ]
    assert all(created.secret not in (h, p) for h, p in stored)
    assert created.secret[:10] in {p for _, p in stored}
