"""The ClearML face's inventory of endpoints and its door: every endpoint in the registry
(whoever registered it) is reached at bare and versioned paths, and refuses a caller without
a valid token with a 401 envelope, changing nothing. The endpoints open without a login are
listed here, so that a new one cannot open silently."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from hangar.api.app import create_app
from hangar.api.clearml import tokens
from hangar.api.clearml.auth import authenticate
from hangar.api.clearml.errors import ClearmlError
from hangar.core.principal import Credential, CredentialKind, Principal
from hangar.core.services import Services, open_services
from tests.support.asgi import Answer, call
from tests.support.routes import clearml_endpoints
from tests.support.settings import settings_for
from tests.support.world import diff, probe

PUBLIC = {"auth.login", "server.info", "debug.ping"}


@pytest.fixture
async def services(database_url: str, tmp_path: Path) -> AsyncIterator[Services]:
    settings = settings_for(tmp_path, database_url)
    services = await open_services(settings)
    yield services
    await services.close()


def basic(access_key: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{access_key}:{secret}".encode()).decode()


def meta_of(answer: Answer, code: int, subcode: int) -> dict[str, Any]:
    body = answer.json()
    assert answer.status == body["meta"]["result_code"] == code, body
    assert body["meta"]["result_subcode"] == subcode, body
    assert body["data"] == {}
    meta: dict[str, Any] = body["meta"]
    return meta


def test_only_the_listed_endpoints_are_open_without_a_login() -> None:
    assert {e.name for e in clearml_endpoints() if not e.auth} == PUBLIC


async def test_every_endpoint_refuses_callers_without_a_valid_token(
    services: Services,
) -> None:
    app = create_app(services)
    first = services.first_admin
    assert first is not None
    access = first.keypair.keypair.access_key
    key = services.identity.signing_key(tokens.PURPOSE)
    principal = (await services.identity.credentials_for(access)).caller
    expired = tokens.issue(
        key, tokens.Holder(principal, access, "admin"), now=services.clock.time() - 100, lifetime=10
    )
    revoked = await _revoked_token(services, key, principal)
    refusals = [
        ({}, 20),
        ({"Authorization": "Bearer junk"}, 30),
        ({"Authorization": f"Bearer {expired}"}, 30),
        ({"Authorization": f"Bearer {revoked}"}, 30),
        ({"Authorization": basic(access, "wrong")}, 22),
        ({"Authorization": "Token abc"}, 21),
    ]
    body = json.dumps({"task": "0" * 32, "project": "0" * 32, "name": "x", "ids": ["0" * 32]})
    before = await probe(services)
    guarded = [e for e in clearml_endpoints() if e.auth]
    assert guarded
    for endpoint in guarded:
        for prefix, method in (("", "GET"), ("/v2.23", "POST"), ("/v2.5", "PUT")):
            target = f"{prefix}/{endpoint.name}"
            for headers, subcode in refusals:
                sent = {"Content-Type": "application/json", **headers}
                answer = await call(app, method, target, sent, body.encode())
                meta = meta_of(answer, 401, subcode)
                assert meta["endpoint"]["name"] == endpoint.name
    assert not diff(before, await probe(services))


async def _revoked_token(services: Services, key: bytes, admin: Principal) -> str:
    """A token of a credential that has since been revoked."""
    issued = await services.identity.issue_keypair(email=admin.email)
    holder = tokens.Holder(admin, issued.keypair.access_key, "admin")
    token = tokens.issue(key, holder, now=services.clock.time(), lifetime=3600)
    await services.identity.revoke_own_keypair(admin, issued.keypair.access_key)
    return token


async def test_the_open_endpoints_answer_at_every_path(services: Services) -> None:
    app = create_app(services)
    first = services.first_admin
    assert first is not None
    login = {"Authorization": basic(first.keypair.keypair.access_key, first.keypair.secret_key)}
    for name in sorted(PUBLIC):
        for target in (f"/{name}", f"/v2.31/{name}", f"/v2.5/{name}/"):
            answer = await call(app, "GET", target, login if name == "auth.login" else {})
            assert answer.status == 200, (target, answer.body)
            assert answer.json()["meta"]["endpoint"]["name"] == name


async def test_a_token_gives_its_users_principal_as_a_clearml_credential(
    services: Services,
) -> None:
    first = services.first_admin
    assert first is not None
    access, secret = first.keypair.keypair.access_key, first.keypair.secret_key
    answer = await call(
        create_app(services), "GET", "/auth.login", {"Authorization": basic(access, secret)}
    )
    token = answer.json()["data"]["token"]
    by_token = await authenticate(services, f"Bearer {token}")
    assert by_token.credential == Credential(CredentialKind.CLEARML_JWT, access)
    by_secret = await authenticate(services, basic(access, secret))
    assert by_secret.credential == Credential(CredentialKind.CLEARML_CREDENTIAL, access)
    assert by_token.user_uuid == by_secret.user_uuid and by_token.domain_name == "default"
    assert by_token.email == first.email and by_token.is_superadmin


async def test_calls_count_against_the_keypairs_rate_limit(services: Services) -> None:
    app = create_app(services)
    await services.identity.create_user(email="rita@limits.test", password="a-good-password")
    issued = await services.identity.issue_keypair(email="rita@limits.test", rate_limit=3)
    login = {"Authorization": basic(issued.keypair.access_key, issued.secret_key)}
    answer = await call(app, "GET", "/auth.login", login)
    bearer = {"Authorization": f"Bearer {answer.json()['data']['token']}"}
    for _ in range(2):
        assert (await call(app, "GET", "/v2.23/auth.get_credentials", bearer)).status == 200
    refused = await call(app, "GET", "/v2.23/auth.get_credentials", bearer)
    meta_of(refused, 429, 0)
    assert int(refused.headers["retry-after"]) >= 1


async def test_a_remembered_token_still_expires_and_ends_with_its_credential(
    services: Services,
) -> None:
    first = services.first_admin
    assert first is not None
    key = services.identity.signing_key(tokens.PURPOSE)
    now = services.clock.time()
    issued = await services.identity.issue_keypair(email=first.email)
    principal = (await services.identity.credentials_for(issued.keypair.access_key)).caller
    holder = tokens.Holder(principal, issued.keypair.access_key, "admin")
    token = tokens.issue(key, holder, now=now, lifetime=60)
    assert (await authenticate(services, f"Bearer {token}")).user_uuid == principal.user_uuid
    assert (await authenticate(services, f"Bearer {token}")).user_uuid == principal.user_uuid

    remembered = tokens.VerifiedTokens()
    assert remembered.verify(key, token, now=now).access_key == issued.keypair.access_key
    with pytest.raises(ClearmlError) as expired:  # remembered, yet past its expiry
        remembered.verify(key, token, now=now + 61)
    assert (expired.value.result_code, expired.value.subcode) == (401, 30) and len(remembered) == 0
    with pytest.raises(ClearmlError):  # another installation's key: checked, refused
        tokens.VERIFIED.verify(b"another installation's key", token, now=now)

    await services.identity.revoke_own_keypair(principal, issued.keypair.access_key)
    with pytest.raises(ClearmlError) as revoked:  # remembered, but its credential is gone
        await authenticate(services, f"Bearer {token}")
    assert (revoked.value.result_code, revoked.value.subcode) == (401, 30)


async def test_the_memory_of_tokens_is_bounded(services: Services) -> None:
    first = services.first_admin
    assert first is not None
    principal = (await services.identity.credentials_for(first.keypair.keypair.access_key)).caller
    remembered = tokens.VerifiedTokens(size=2)
    key = b"k" * 32
    signed = [tokens.issue(key, tokens.Holder(principal, access, "x"), now=1000, lifetime=60)
              for access in ("a", "b", "c")]  # fmt: skip
    assert [remembered.verify(key, t, now=1001).access_key for t in signed] == ["a", "b", "c"]
    assert len(remembered) == 2
