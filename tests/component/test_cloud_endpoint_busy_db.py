"""An endpoint created or read while the database cannot take the billing meters' writes
(SQLite's lock wait ran out under load): the request is answered with the cost accrued so
far, not with a 500 (the answer's cost was brought up to date by a write first)."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy.exc import OperationalError

from hangar.api.app import create_app
from hangar.core.services import Services


async def test_create_and_get_answer_while_the_meters_cannot_be_written(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def locked() -> None:
        raise OperationalError("UPDATE billing_meters", {}, Exception("database is locked"))

    monkeypatch.setattr(services.billing, "sync", locked)
    assert services.first_admin is not None
    resources = [{"region": "local", "gpuCount": 0}]
    body = {"name": "busy", "image": "python:3", "serviceMode": "CUSTOM", "workers": 1,
            "resources": resources, "containerVolumeInGb": 20}  # fmt: skip
    transport = httpx.ASGITransport(app=create_app(services))
    headers = {"X-Api-Key": services.first_admin.api_key}
    async with httpx.AsyncClient(transport=transport, base_url="http://cloud.test",
                                 headers=headers) as client:  # fmt: skip
        created = await client.post("/v2/serverless", json=body)
        assert (created.status_code, created.json()["code"]) == (200, 10000), created.text
        shown = await client.get(f"/v2/serverless/{created.json()['data']['id']}")
    assert (shown.status_code, shown.json()["code"]) == (200, 10000), shown.text
    assert shown.json()["data"]["cost"] == 0.0
