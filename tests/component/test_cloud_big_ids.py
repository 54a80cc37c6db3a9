"""An id past the INTEGER columns' range names nothing: the face answers its not-found code,
never a 500 (PostgreSQL refuses such a value in a query on an INTEGER column); a page past
what the databases' OFFSET takes is empty."""

from __future__ import annotations

import httpx
import pytest

from hangar.api.app import create_app
from hangar.core.services import Services

BIG = "99999999999"  # 11 digits: a valid path id, past 2^31


@pytest.mark.parametrize(
    ("method", "path", "body", "code"),
    [
        ("GET", f"/v2/volumes/{BIG}", None, 10007),
        ("DELETE", f"/v2/volumes/{BIG}", None, 10007),
        ("POST", f"/v2/volumes/{BIG}/name", {"name": "x"}, 10007),
        ("POST", f"/v2/volumes/{BIG}/resize", {"sizeInGb": 2}, 10007),
        ("GET", "/v2/volumes?page=999999999999999999&size=1000", None, 10000),
        ("GET", "/v2/vms?page=999999999999999999&size=1000", None, 10000),
        ("GET", f"/v2/vms/{BIG}", None, 11000),
        ("PATCH", f"/v2/vms/{BIG}", {"name": "x"}, 11000),
        ("DELETE", f"/v2/vms/{BIG}", None, 11000),
        ("GET", f"/v2/pods/{BIG}", None, 13000),
        ("DELETE", f"/v2/pods/{BIG}", None, 13000),
        ("POST", f"/v2/pods/{BIG}/pause", None, 13000),
        ("GET", f"/v2/pods/{BIG}/logs", None, 13000),
        ("GET", f"/v2/container-registry-auths/{BIG}", None, 10007),
        ("DELETE", f"/v2/container-registry-auths/{BIG}", None, 10007),
        ("GET", f"/v2/serverless/{BIG}", None, 14000),
        ("DELETE", f"/v2/serverless/{BIG}", None, 14000),
        ("POST", f"/v2/serverless/{BIG}/stop", None, 14000),
        ("GET", f"/v2/serverless/{BIG}/workers", None, 14000),
        ("GET", f"/v2/serverless/{BIG}/tasks", None, 14000),
        ("GET", f"/v2/serverless/{BIG}/tasks/count", None, 14000),
    ],
)
async def test_an_id_past_the_column_range_is_not_found(
    services: Services, method: str, path: str, body: object, code: int
) -> None:
    assert services.first_admin is not None
    transport = httpx.ASGITransport(app=create_app(services))
    async with httpx.AsyncClient(transport=transport, base_url="http://cloud.test") as client:
        answer = await client.request(
            method, path, json=body, headers={"X-Api-Key": services.first_admin.api_key}
        )
    assert (answer.status_code, answer.json()["code"]) == (200, code), answer.text
