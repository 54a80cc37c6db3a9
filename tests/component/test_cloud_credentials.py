"""Registry credentials on the GPU-cloud face, in-process on both databases: stored sealed,
never returned, owned, and refused (12001) for deletion while a workload pulls with them."""

from __future__ import annotations

import uuid

import httpx
import pytest
from sqlalchemy import select

from hangar.core.images.auths.service import RegistryAuthService
from hangar.core.services import Services, secret_box_for
from hangar.db.tables.registry_auths import RegistryAuthRow

BASE = "/v2/container-registry-auths"


@pytest.fixture
def key(services: Services) -> dict[str, str]:
    assert services.first_admin is not None and services.first_admin.api_key
    return {"X-Api-Key": services.first_admin.api_key}


class Holding:
    """A workload pulls with every credential whose id is in ``ids``."""

    def __init__(self) -> None:
        self.ids: set[int] = set()

    async def holders(self, owner: uuid.UUID, auth_id: int) -> int:
        return int(auth_id in self.ids)


async def test_password_is_sealed_and_never_returned(
    services: Services, client: httpx.AsyncClient, key: dict[str, str]
) -> None:
    body = {"name": "ghcrTeam", "type": "GCR", "username": "ci-bot", "password": "tok_x9secret"}
    created = await client.post(BASE, json=body, headers=key)
    assert created.status_code == 200, created.text
    data = created.json()["data"]
    assert set(data) == {"id", "name", "type", "createdAt"}
    assert (data["name"], data["type"]) == ("ghcrTeam", "GCR")
    assert data["createdAt"].endswith("Z")
    for response in (
        await client.get(BASE, headers=key),
        await client.get(f"{BASE}/{data['id']}", headers=key),
        await client.patch(f"{BASE}/{data['id']}", json={"password": "tok_y2new"}, headers=key),
    ):
        assert response.json()["code"] == 10000
        assert "tok_" not in response.text and "ci-bot" not in response.text
    async with services.sessions() as db:
        row = (await db.execute(select(RegistryAuthRow))).scalar_one()
    assert "tok_" not in row.password_sealed
    pulled = await services.registry_auths.credentials(row.owner_uuid, row.id)
    assert (pulled.username, pulled.password) == ("ci-bot", "tok_y2new")


async def test_delete_in_use_is_12001_then_succeeds(
    services: Services, client: httpx.AsyncClient, key: dict[str, str]
) -> None:
    holding = Holding()
    services.__dict__["registry_auths"] = RegistryAuthService(
        services.sessions, secret_box_for(services.settings), services.clock, holding
    )
    body = {"name": "hub", "type": "DOCKER_HUB", "username": "u", "password": "p"}
    auth_id = (await client.post(BASE, json=body, headers=key)).json()["data"]["id"]
    holding.ids.add(auth_id)
    refused = await client.delete(f"{BASE}/{auth_id}", headers=key)
    assert refused.status_code == 200 and refused.json()["code"] == 12001
    assert (await client.get(f"{BASE}/{auth_id}", headers=key)).json()["code"] == 10000
    holding.ids.clear()
    deleted = await client.delete(f"{BASE}/{auth_id}", headers=key)
    assert deleted.json() == {"message": "success", "code": 10000, "data": True}
    gone = await client.get(f"{BASE}/{auth_id}", headers=key)
    assert gone.status_code == 200 and gone.json()["code"] == 10007 and gone.json()["data"] is None


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "1abc", "username": "u", "password": "p"}, "name"),
        ({"name": "a" * 21, "username": "u", "password": "p"}, "name"),
        ({"name": "ok", "type": "QUAY", "username": "u", "password": "p"}, "type"),
        ({"name": "ok", "username": "", "password": "p"}, "username"),
        ({"name": "ok", "username": "u", "password": "p" * 256}, "password"),
        ({"name": "ok", "username": "u"}, "password"),
        ({"name": ["x"], "username": "u", "password": "p"}, "name"),
    ],
)
async def test_bad_bodies_name_the_field(
    client: httpx.AsyncClient, key: dict[str, str], body: dict[str, object], field: str
) -> None:
    response = await client.post(BASE, json=body, headers=key)
    assert response.status_code == 400
    answer = response.json()
    assert answer["code"] == 10001 and field in answer["message"] and field in answer["data"]
    assert (await client.get(BASE, headers=key)).json()["data"] == []


async def test_type_defaults_to_private_and_bad_ids_are_refused(
    client: httpx.AsyncClient, key: dict[str, str]
) -> None:
    created = await client.post(BASE, json={"name": "p", "username": "u", "password": "p"},
                                headers=key)  # fmt: skip
    assert created.json()["data"]["type"] == "PRIVATE"
    for bad in ("abc", "-1", "1" * 40, "1.5"):
        response = await client.get(f"{BASE}/{bad}", headers=key)
        assert response.status_code == 400 and response.json()["code"] == 10001, bad
    assert (await client.get(f"{BASE}/999999", headers=key)).json()["code"] == 10007
