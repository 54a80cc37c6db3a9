"""Sessions belong to users, not keypairs: a principal that came with another kind of
credential (a cloud API key here) owns, finds and lists sessions through the core, while the
Backend.AI face keeps showing the owner access key of the sessions a keypair created."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

import httpx
import pytest

from hangar.core.clock import FakeClock
from hangar.core.compute import queries
from hangar.core.compute.models import CreateRequest, SessionSpec
from hangar.core.compute.placement import usage_key
from hangar.core.compute.states import SessionStatus
from hangar.core.errors import Forbidden, NotFound, SessionAlreadyExists
from hangar.core.principal import ADMIN_SCOPE, Credential, CredentialKind, Principal, Role
from hangar.core.services import Services
from tests.component.test_bai_graphql import Account, account, new_session, ps


def api_key_principal(owner: Account, key_id: str) -> Principal:
    """What the cloud face's authentication will produce for one of the user's API keys."""
    return Principal(
        user_uuid=owner.caller.user_uuid,
        email=owner.email,
        domain_name=owner.caller.domain_name,
        role=owner.caller.role,
        credential=Credential(CredentialKind.CLOUD_API_KEY, key_id),
        resource_policy="default",
        rate_limit=100,
    )


async def test_an_api_key_principal_owns_and_lists_sessions_beside_keypair_ones(
    client: httpx.AsyncClient, services: Services, clock: FakeClock
) -> None:
    ada = await account(services, "ada@example.com")
    bob = await account(services, "bob@example.com")
    ada_api = api_key_principal(ada, "ada-key-1")
    from_api = await new_session(services, clock, ada_api, "from-api")
    from_key = await new_session(services, clock, ada.caller, "from-key")

    created = await services.compute.get(from_api)
    assert created.user_uuid == ada.caller.user_uuid and created.access_key is None
    assert created.credential == Credential(CredentialKind.CLOUD_API_KEY, "ada-key-1")
    assert (await services.compute.get(from_key)).access_key == ada.signer.access_key

    # Either credential of Ada finds both sessions: ownership goes by user.
    for who in (ada_api, ada.caller):
        assert (await services.compute.resolve(who, "from-api")).id == from_api
        assert (await services.compute.resolve(who, "from-key")).id == from_key
        listed = await queries.session_list(services.sessions, who)
        assert {view.session.name for view in listed} == {"from-api", "from-key"}
    # A session name is taken for the user, whichever credential asks.
    with pytest.raises(SessionAlreadyExists):
        await services.compute.create(
            ada.caller,
            CreateRequest(
                name="from-api", spec=SessionSpec("python"), enqueue_only=True,
                reuse_if_exists=False,
            ),
        )  # fmt: skip

    # Bob sees none of them, whichever credential he comes with.
    for who in (api_key_principal(bob, "bob-key-1"), bob.caller):
        with pytest.raises(NotFound):
            await services.compute.resolve(who, "from-api")
        assert await queries.session_list(services.sessions, who) == []

    # The Backend.AI face: Ada's keypair lists both, with the owner access key where a
    # keypair made the session and none where another credential did.
    result = await ps(client, ada.signer, "name access_key")
    owners = {item["name"]: item["access_key"] for item in result["items"]}
    assert owners == {"from-key": ada.signer.access_key, "from-api": None}
    assert (await ps(client, bob.signer, "name"))["items"] == []

    # The API key principal ends the session its keypair started.
    await services.compute.destroy(ada_api, "from-key")
    assert (await services.compute.get(from_key)).status.value == "CANCELLED"


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"agent_runtime": "fake", "idle_timeout_seconds": 0}


async def test_a_session_made_with_an_api_key_is_scheduled_under_the_users_policy(
    services: Services,
) -> None:
    """No keypair carries its policy: it counts against its user under the default policy,
    and runs and ends like any other."""
    await services.start_loops()
    ada = await account(services, "ada@example.com")
    ada_api = api_key_principal(ada, "ada-key-1")
    created = await services.compute.create(
        ada_api, CreateRequest(name="via-api", spec=SessionSpec("python"), max_wait_seconds=30)
    )
    assert created.session.status == SessionStatus.RUNNING
    assert usage_key(created.session) == f"user:{ada.caller.user_uuid}"
    await services.compute.destroy(ada.caller, "via-api")
    for _ in range(100):
        if (await services.compute.get(created.session.id)).status == SessionStatus.TERMINATED:
            break
        await asyncio.sleep(0.05)
    assert (await services.compute.get(created.session.id)).status == SessionStatus.TERMINATED


async def test_the_core_lets_an_admin_act_for_a_user_whatever_credential_names_them(
    services: Services, clock: FakeClock
) -> None:
    """Acting for someone is decided on principals: an admin API-key principal reaches a
    user's session with ``owner=``, a plain user cannot, and no access key is involved."""
    ada = await account(services, "ada@example.com")
    bob = await account(services, "bob@example.com")
    boss = await account(services, "boss@example.com", role=Role.ADMIN, is_admin=True)
    boss_api = dataclasses.replace(
        api_key_principal(boss, "boss-key-1"), scopes=frozenset({ADMIN_SCOPE})
    )
    made = await services.compute.create(
        boss_api,
        CreateRequest(
            name="for-ada", spec=SessionSpec("python"), enqueue_only=True, owner=ada.caller
        ),
    )
    assert made.session.user_uuid == ada.caller.user_uuid
    assert made.session.access_key == ada.signer.access_key  # as the owner's keypair made it
    found = await services.compute.resolve(boss_api, "for-ada", owner=ada.caller)
    assert found.id == made.session.id
    with pytest.raises(NotFound):  # without owner=, the admin looks among their own
        await services.compute.resolve(boss_api, "for-ada")
    for stranger in (bob.caller, api_key_principal(bob, "bob-key-1")):
        with pytest.raises(Forbidden):
            await services.compute.resolve(stranger, "for-ada", owner=ada.caller)
