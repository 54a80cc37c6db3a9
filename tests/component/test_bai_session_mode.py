"""Console (cookie) mode: /server/login, /func/* with the cookie, passwords, /auth/authorize."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from hangar.core.services import Services
from tests.support.bai import Signer

PROBS = "https://api.backend.ai/probs/"


async def login(client: httpx.AsyncClient, username: str, password: str) -> httpx.Response:
    return await client.post("/server/login", json={"username": username, "password": password})


@pytest.fixture
async def user(services: Services) -> dict[str, Any]:
    await services.identity.create_user(email="ada@example.com", password="first-password")
    issued = await services.identity.issue_keypair(email="ada@example.com")
    return {
        "email": "ada@example.com",
        "password": "first-password",
        "access_key": issued.keypair.access_key,
        "secret_key": issued.secret_key,
    }


async def test_login_cookie_works_under_func_only(
    client: httpx.AsyncClient, user: dict[str, Any]
) -> None:
    response = await login(client, user["email"], user["password"])
    assert response.status_code == 200
    body = response.json()
    assert body == {
        "authenticated": True,
        "data": {"access_key": user["access_key"], "role": "user", "status": "active"},
    }
    assert "httponly" in response.headers["set-cookie"].lower()
    echoed = await client.post("/func/auth/test", json={"echo": "cookie"})
    assert echoed.status_code == 200
    assert echoed.json()["echo"] == "cookie"
    # The cookie is not a credential for the signed API.
    assert (await client.post("/auth/test", json={"echo": "x"})).status_code == 401


async def test_func_without_cookie_is_refused(client: httpx.AsyncClient) -> None:
    response = await client.get("/func/auth/test")
    assert response.status_code == 401
    assert response.json()["type"] == PROBS + "auth-failed"


async def test_failed_login_answers_200_unauthenticated(
    client: httpx.AsyncClient, user: dict[str, Any]
) -> None:
    response = await login(client, user["email"], "wrong-password")
    assert response.status_code == 200
    body = response.json()
    assert body["authenticated"] is False
    assert body["data"]["type"] == PROBS + "auth-failed"
    assert "set-cookie" not in response.headers
    response = await login(client, "nobody@example.com", "whatever1")
    assert response.json()["authenticated"] is False


async def test_login_with_missing_fields(client: httpx.AsyncClient) -> None:
    response = await client.post("/server/login", json={"username": "x"})
    assert response.status_code == 400
    assert response.json()["type"] == PROBS + "invalid-api-params"


async def test_already_logged_in(client: httpx.AsyncClient, user: dict[str, Any]) -> None:
    await login(client, user["email"], user["password"])
    response = await login(client, user["email"], user["password"])
    assert response.status_code == 400


@pytest.mark.parametrize("settings_overrides", [{"login_failure_limit": 3}])
async def test_too_many_failures_lock_the_login(
    client: httpx.AsyncClient, user: dict[str, Any]
) -> None:
    for _ in range(3):
        assert (await login(client, user["email"], "bad-password")).json()["authenticated"] is False
    response = await login(client, user["email"], user["password"])
    assert response.status_code == 429
    assert response.json()["type"] == PROBS + "rate-limit-exceeded"


async def test_logout_ends_the_session(client: httpx.AsyncClient, user: dict[str, Any]) -> None:
    await login(client, user["email"], user["password"])
    cookie = dict(client.cookies)
    response = await client.post("/server/logout")
    assert response.status_code == 201
    client.cookies.update(cookie)  # replaying the old cookie must not work
    assert (await client.get("/func/auth/test")).status_code == 401
    client.cookies.clear()
    assert (await client.post("/server/logout")).status_code == 401


async def test_update_password_in_session_mode(
    client: httpx.AsyncClient, user: dict[str, Any]
) -> None:
    await login(client, user["email"], user["password"])
    mismatch = await client.post(
        "/func/auth/update-password",
        json={
            "old_password": user["password"],
            "new_password": "second-password",
            "new_password2": "other-password",
        },
    )
    assert mismatch.status_code == 400
    assert mismatch.json() == {"error_msg": "new password mismitch"}
    wrong_old = await client.post(
        "/func/auth/update-password",
        json={
            "old_password": "not-it-at-all",
            "new_password": "second-password",
            "new_password2": "second-password",
        },
    )
    assert wrong_old.status_code == 401
    assert wrong_old.json()["msg"] == "Old password mismatch"
    ok = await client.post(
        "/func/auth/update-password",
        json={
            "old_password": user["password"],
            "new_password": "second-password",
            "new_password2": "second-password",
        },
    )
    assert ok.status_code == 200
    client.cookies.clear()
    assert (await login(client, user["email"], user["password"])).json()["authenticated"] is False
    client.cookies.clear()
    assert (await login(client, user["email"], "second-password")).json()["authenticated"]


async def test_authorize_returns_the_keypair(
    client: httpx.AsyncClient, user: dict[str, Any]
) -> None:
    body = {
        "type": "keypair",
        "domain": "default",
        "username": user["email"],
        "password": user["password"],
    }
    response = await client.post("/auth/authorize", json=body)
    assert response.status_code == 200
    assert response.json()["data"] == {
        "access_key": user["access_key"],
        "secret_key": user["secret_key"],
        "role": "user",
        "status": "active",
    }
    wrong = await client.post("/auth/authorize", json={**body, "password": "nope-nope"})
    assert wrong.status_code == 401
    other_domain = await client.post("/auth/authorize", json={**body, "domain": "elsewhere"})
    assert other_domain.status_code == 401
    jwt = await client.post("/auth/authorize", json={**body, "type": "jwt"})
    assert jwt.status_code == 400


async def test_signup_is_off_by_default(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/auth/signup", json={"email": "n@example.com", "password": "password1"}
    )
    assert response.status_code == 403


@pytest.mark.parametrize("settings_overrides", [{"signup_enabled": True}])
async def test_signup_when_enabled(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/auth/signup", json={"email": "n@example.com", "password": "password1"}
    )
    assert response.status_code == 201
    keys = response.json()
    signer = Signer(keys["access_key"], keys["secret_key"])
    echoed = await client.get("/auth/test", headers=signer.headers("GET", "/auth/test"))
    assert echoed.status_code == 200
    again = await client.post(
        "/auth/signup", json={"email": "n@example.com", "password": "password1"}
    )
    assert again.status_code == 400


async def test_ssh_keypair(client: httpx.AsyncClient, admin: Signer) -> None:
    assert (
        await client.get("/auth/ssh-keypair", headers=admin.headers("GET", "/auth/ssh-keypair"))
    ).json() == {"ssh_public_key": None}
    fresh = (
        await client.patch("/auth/ssh-keypair", headers=admin.headers("PATCH", "/auth/ssh-keypair"))
    ).json()
    assert fresh["ssh_public_key"].startswith("ssh-ed25519 ")
    assert "PRIVATE KEY" in fresh["ssh_private_key"]
    stored = (
        await client.get("/auth/ssh-keypair", headers=admin.headers("GET", "/auth/ssh-keypair"))
    ).json()
    assert stored == {"ssh_public_key": fresh["ssh_public_key"]}


async def test_manager_status_freeze_round_trip(client: httpx.AsyncClient, admin: Signer) -> None:
    assert (await client.get("/manager/status")).json()["status"] == "running"
    headers = admin.headers("PUT", "/manager/status", content_type="application/json")
    response = await client.put("/manager/status", headers=headers, json={"status": "FROZEN"})
    assert response.status_code == 204
    assert (await client.get("/manager/status")).json()["status"] == "frozen"
    headers = admin.headers("PUT", "/manager/status", content_type="application/json")
    bad = await client.put("/manager/status", headers=headers, json={"status": "sideways"})
    assert bad.status_code == 400
    assert (await client.get("/manager/status")).json()["status"] == "frozen"
