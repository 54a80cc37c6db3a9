"""Every way a Backend.AI request can fail authentication, and the ways it succeeds."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from hangar.core.clock import FakeClock
from hangar.core.principal import Role
from hangar.core.services import Services
from tests.support.bai import Signer

PROBS = "https://api.backend.ai/probs/"


def problem(response: httpx.Response, status: int, slug: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["type"] == PROBS + slug
    assert body["title"]
    return body


async def echo(
    client: httpx.AsyncClient, headers: dict[str, str], target: str = "/auth/test"
) -> httpx.Response:
    return await client.get(target, headers=headers)


async def test_version_negotiation_is_public(client: httpx.AsyncClient) -> None:
    for path in ("/", "/func/"):
        response = await client.get(path)
        assert response.status_code == 200
        assert response.json()["version"] == "v6.20220315"
        assert response.json()["manager"]


async def test_signed_request_passes(client: httpx.AsyncClient, admin: Signer) -> None:
    response = await echo(client, admin.headers("GET", "/auth/test?echo=hi"), "/auth/test?echo=hi")
    assert response.status_code == 200, response.text
    assert response.json() == {"authorized": "yes", "echo": "hi"}
    assert int(response.headers["x-ratelimit-remaining"]) < int(
        response.headers["x-ratelimit-limit"]
    )


async def test_json_body_on_get_and_post(client: httpx.AsyncClient, admin: Signer) -> None:
    headers = admin.headers("POST", "/auth/test", content_type="application/json")
    response = await client.post("/auth/test", headers=headers, content=b'{"echo": "body"}')
    assert response.json()["echo"] == "body"


async def test_missing_authorization(client: httpx.AsyncClient, admin: Signer) -> None:
    headers = admin.headers("GET", "/auth/test")
    del headers["Authorization"]
    body = problem(await echo(client, headers), 401, "auth-failed")
    assert body["msg"] == "Unauthorized access"


async def test_wrong_secret(client: httpx.AsyncClient, admin: Signer) -> None:
    headers = admin.headers("GET", "/auth/test", secret_key="x" * 40)
    body = problem(await echo(client, headers), 401, "auth-failed")
    assert body["msg"] == "Signature mismatch"


@pytest.mark.parametrize(
    ("signed", "sent"),
    [
        ("/auth/test", "/auth/test?echo=1"),
        ("/auth/test?echo=1", "/auth/test?echo=2"),
        ("/auth", "/auth/test"),
    ],
)
async def test_tampered_target(
    client: httpx.AsyncClient, admin: Signer, signed: str, sent: str
) -> None:
    problem(await echo(client, admin.headers("GET", signed), sent), 401, "auth-failed")


async def test_tampered_method_and_content_type(client: httpx.AsyncClient, admin: Signer) -> None:
    headers = admin.headers("GET", "/auth/test")
    problem(await client.post("/auth/test", headers=headers), 401, "auth-failed")
    headers = admin.headers("POST", "/auth/test", content_type="text/plain")
    headers["Content-Type"] = "application/json"
    response = await client.post("/auth/test", headers=headers, content=b"{}")
    problem(response, 401, "auth-failed")


async def test_unknown_access_key_looks_like_a_wrong_secret(
    client: httpx.AsyncClient, services: Services, admin: Signer
) -> None:
    """Nobody can learn whether an access key exists: unknown, inactive and wrongly signed
    keys get the same answer (only the holder of an inactive key's secret is told why)."""
    stranger = Signer("AKIANOSUCHKEY0000000", admin.secret_key)
    unknown = problem(await echo(client, stranger.headers("GET", "/auth/test")), 401, "auth-failed")
    wrong = problem(
        await echo(client, admin.headers("GET", "/auth/test", secret_key="x" * 40)),
        401,
        "auth-failed",
    )
    await services.identity.create_user(email="idle@example.com", password="password1")
    issued = await services.identity.issue_keypair(email="idle@example.com")
    await services.identity.set_keypair_active(issued.keypair.access_key, False)
    idle = Signer(issued.keypair.access_key, issued.secret_key)
    guessed = idle.headers("GET", "/auth/test", secret_key="x" * 40)
    inactive = problem(await echo(client, guessed), 401, "auth-failed")
    assert unknown["msg"] == wrong["msg"] == inactive["msg"] == "Signature mismatch"


async def test_the_holder_of_a_deactivated_key_is_told_it_is_inactive(
    client: httpx.AsyncClient, services: Services
) -> None:
    await services.identity.create_user(email="idle@example.com", password="password1")
    issued = await services.identity.issue_keypair(email="idle@example.com")
    ak = issued.keypair.access_key
    idle = Signer(ak, issued.secret_key)
    await services.identity.set_keypair_active(ak, False)
    refused = problem(await echo(client, idle.headers("GET", "/auth/test")), 401, "auth-failed")
    assert refused["msg"] == f"The access key {ak} is inactive."
    await services.identity.set_keypair_active(ak, True)
    creds = await services.identity.credentials_for(ak)
    await services.identity.signout(creds.caller, email="idle@example.com", password="password1")
    refused = problem(await echo(client, idle.headers("GET", "/auth/test")), 401, "auth-failed")
    assert refused["msg"].startswith(f"The user of access key {ak} is ")


async def test_deactivated_keypair_then_reactivated(
    client: httpx.AsyncClient, services: Services, admin: Signer
) -> None:
    await services.identity.create_user(email="u@example.com", password="password1")
    issued = await services.identity.issue_keypair(email="u@example.com")
    user = Signer(issued.keypair.access_key, issued.secret_key)
    assert (await echo(client, user.headers("GET", "/auth/test"))).status_code == 200
    await services.identity.set_keypair_active(issued.keypair.access_key, False)
    problem(await echo(client, user.headers("GET", "/auth/test")), 401, "auth-failed")
    await services.identity.set_keypair_active(issued.keypair.access_key, True)
    assert (await echo(client, user.headers("GET", "/auth/test"))).status_code == 200


async def test_change_by_another_process_is_seen_after_the_cache_time(
    client: httpx.AsyncClient, services: Services, clock: FakeClock, admin: Signer
) -> None:
    other = await _another_process_view(services)
    assert (await echo(client, admin.headers("GET", "/auth/test"))).status_code == 200
    await other.identity.set_keypair_active(admin.access_key, False)
    clock.advance(services.settings.auth.cache_seconds + 0.01)
    problem(await echo(client, admin.headers("GET", "/auth/test")), 401, "auth-failed")
    await other.close()


async def _another_process_view(services: Services) -> Services:
    from hangar.core.services import open_services

    return await open_services(services.settings, clock=services.clock, run_bootstrap=False)


@pytest.mark.parametrize("minutes", [-16, 16])
async def test_clock_skew(client: httpx.AsyncClient, admin: Signer, minutes: int) -> None:
    when = datetime.now(UTC) + timedelta(minutes=minutes)
    body = problem(
        await echo(client, admin.headers("GET", "/auth/test", date=when)),
        400,
        "invalid-auth-params",
    )
    assert body["msg"] == "Date/time sync error"


@pytest.mark.parametrize("minutes", [-14, 14])
async def test_small_skew_is_fine(client: httpx.AsyncClient, admin: Signer, minutes: int) -> None:
    when = datetime.now(UTC) + timedelta(minutes=minutes)
    assert (await echo(client, admin.headers("GET", "/auth/test", date=when))).status_code == 200


@pytest.mark.parametrize("settings_overrides", [{"clock_skew_seconds": 60}])
async def test_the_replay_window_is_the_configured_skew(
    client: httpx.AsyncClient, admin: Signer
) -> None:
    """A captured request is accepted again while its Date is within the window (the
    signature has no nonce), and refused once it is older than the configured skew."""
    captured = admin.headers("GET", "/auth/test", date=datetime.now(UTC) - timedelta(seconds=30))
    assert (await echo(client, captured)).status_code == 200
    assert (await echo(client, captured)).status_code == 200  # replayed within the window
    stale = admin.headers("GET", "/auth/test", date=datetime.now(UTC) - timedelta(seconds=90))
    body = problem(await echo(client, stale), 400, "invalid-auth-params")
    assert body["msg"] == "Date/time sync error"


@pytest.mark.parametrize("offset", ["+24:00", "-24:00", "+99:59", "-30:00"])
async def test_date_with_an_impossible_offset_is_a_clean_400(
    client: httpx.AsyncClient, admin: Signer, offset: str
) -> None:
    headers = admin.headers("GET", "/auth/test")
    headers["Date"] = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S") + offset
    body = problem(await echo(client, headers), 400, "invalid-auth-params")
    assert body["msg"].startswith("Date/time sync error")


async def test_missing_or_garbled_date(client: httpx.AsyncClient, admin: Signer) -> None:
    headers = admin.headers("GET", "/auth/test")
    del headers["Date"]
    problem(await echo(client, headers), 400, "invalid-auth-params")
    headers = admin.headers("GET", "/auth/test")
    headers["Date"] = "not a date"
    problem(await echo(client, headers), 400, "invalid-auth-params")


@pytest.mark.parametrize(
    "authorization",
    [
        "BackendAI nonsense",
        "Bearer abc",
        "BackendAI signMethod=HMAC-NOPE, credential=AKIA:abc",
        "BackendAI signMethod=HMAC-SHA256, credential=nocolon",
    ],
)
async def test_malformed_authorization(
    client: httpx.AsyncClient, admin: Signer, authorization: str
) -> None:
    headers = admin.headers("GET", "/auth/test")
    headers["Authorization"] = authorization
    problem(await echo(client, headers), 400, "invalid-auth-params")


async def test_missing_version_header(client: httpx.AsyncClient, admin: Signer) -> None:
    headers = admin.headers("GET", "/auth/test")
    del headers["X-BackendAI-Version"]
    problem(await echo(client, headers), 400, "invalid-auth-params")


async def test_unsupported_version(client: httpx.AsyncClient, admin: Signer) -> None:
    headers = admin.headers("GET", "/auth/test", version="v9.20990101")
    body = problem(await echo(client, headers), 400, "generic-bad-request")
    assert "version" in body["msg"].lower()
    response = await client.get("/", headers={"X-BackendAI-Version": "v1.2"})
    problem(response, 400, "generic-bad-request")


async def test_older_supported_version_and_other_hashes(
    client: httpx.AsyncClient, admin: Signer
) -> None:
    headers = admin.headers("GET", "/auth/test", version="v4.20190615", hash_name="sha512")
    assert (await echo(client, headers)).status_code == 200


async def test_legacy_sorna_headers(client: httpx.AsyncClient, admin: Signer) -> None:
    headers = admin.headers("GET", "/auth/test")
    date = headers.pop("Date")
    headers["X-Sorna-Date"] = date
    assert (await echo(client, headers)).status_code == 200


async def test_default_port_leniency(services: Services, admin: Signer) -> None:
    from hangar.api.app import create_app

    transport = httpx.ASGITransport(app=create_app(services))
    async with httpx.AsyncClient(transport=transport, base_url="http://hangar.test") as client:
        signed_with_port = Signer(admin.access_key, admin.secret_key, host="hangar.test:80")
        assert (
            await echo(client, signed_with_port.headers("GET", "/auth/test"))
        ).status_code == 200
        wrong_port = Signer(admin.access_key, admin.secret_key, host="hangar.test:81")
        problem(await echo(client, wrong_port.headers("GET", "/auth/test")), 401, "auth-failed")


async def test_inactive_user_cannot_authenticate(
    client: httpx.AsyncClient, services: Services
) -> None:
    await services.identity.create_user(email="gone@example.com", password="password1")
    issued = await services.identity.issue_keypair(email="gone@example.com")
    signer = Signer(issued.keypair.access_key, issued.secret_key)
    creds = await services.identity.credentials_for(signer.access_key)
    await services.identity.signout(creds.caller, email="gone@example.com", password="password1")
    problem(await echo(client, signer.headers("GET", "/auth/test")), 401, "auth-failed")


@pytest.mark.parametrize("settings_overrides", [{"default_rate_limit": 3}])
async def test_rate_limit(client: httpx.AsyncClient, services: Services) -> None:
    await services.identity.create_user(email="busy@example.com", password="password1")
    issued = await services.identity.issue_keypair(email="busy@example.com")
    signer = Signer(issued.keypair.access_key, issued.secret_key)
    statuses = [
        (await echo(client, signer.headers("GET", "/auth/test"))).status_code for _ in range(3)
    ]
    assert statuses == [200, 200, 200]
    response = await echo(client, signer.headers("GET", "/auth/test"))
    problem(response, 429, "rate-limit-exceeded")
    assert response.headers["x-ratelimit-remaining"] == "0"
    assert int(response.headers["retry-after"]) >= 1


async def test_query_counter_and_last_used(
    client: httpx.AsyncClient, services: Services, admin: Signer
) -> None:
    for _ in range(3):
        assert (await echo(client, admin.headers("GET", "/auth/test"))).status_code == 200
    problem(
        await echo(client, admin.headers("GET", "/auth/test", secret_key="y" * 40)),
        401,
        "auth-failed",
    )
    await services.identity.flush_usage()
    [keypair] = await services.identity.list_keypairs(email=services.settings.auth.admin_email)
    assert keypair.num_queries == 3
    assert keypair.last_used is not None


async def test_privilege_levels(
    client: httpx.AsyncClient, services: Services, admin: Signer
) -> None:
    await services.identity.create_user(email="plain@example.com", password="password1")
    issued = await services.identity.issue_keypair(email="plain@example.com")
    user = Signer(issued.keypair.access_key, issued.secret_key)
    body = b'{"enabled": true, "message": "maintenance at 5"}'
    target = "/manager/announcement"
    response = await client.post(
        target, content=body, headers=user.headers("POST", target, content_type="application/json")
    )
    problem(response, 401, "auth-failed")
    response = await client.post(
        target, content=body, headers=admin.headers("POST", target, content_type="application/json")
    )
    assert response.status_code == 204
    assert (await client.get(target)).json() == {"enabled": True, "message": "maintenance at 5"}


async def test_role_endpoint(client: httpx.AsyncClient, admin: Signer, services: Services) -> None:
    response = await client.get(
        "/auth/role?group=default", headers=admin.headers("GET", "/auth/role?group=default")
    )
    assert response.json() == {
        "global_role": "superadmin",
        "domain_role": "admin",
        "group_role": "user",
    }
    await services.identity.create_user(email="r@example.com", password="password1", role=Role.USER)
    issued = await services.identity.issue_keypair(email="r@example.com")
    user = Signer(issued.keypair.access_key, issued.secret_key)
    response = await client.get(
        "/auth/role?group=nope", headers=user.headers("GET", "/auth/role?group=nope")
    )
    assert response.json() == {"global_role": "user", "domain_role": "user", "group_role": None}


async def test_request_id_and_errors_for_unknown_routes(client: httpx.AsyncClient) -> None:
    response = await client.get("/no/such/route")
    problem(response, 404, "url-not-found")
    assert len(response.headers["x-request-id"]) == 32
    echoed = await client.get("/", headers={"X-Request-ID": "trace-123"})
    assert echoed.headers["x-request-id"] == "trace-123"
    problem(await client.delete("/"), 405, "method-not-allowed")


async def test_malformed_body_is_a_clean_400(client: httpx.AsyncClient, admin: Signer) -> None:
    headers = admin.headers("POST", "/auth/test", content_type="application/json")
    response = await client.post("/auth/test", headers=headers, content=b"{not json")
    problem(response, 400, "invalid-api-params")
    headers = admin.headers("POST", "/auth/test", content_type="application/json")
    response = await client.post("/auth/test", headers=headers, content=b"[1, 2]")
    problem(response, 400, "invalid-api-params")


async def test_health_and_metrics(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz")).json()["status"] == "ok"
    await client.get("/")
    metrics = (await client.get("/metrics")).text
    assert "hangar_http_requests_total" in metrics
    assert 'face="bai"' in metrics
