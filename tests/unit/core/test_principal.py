"""Principals: what a face's authentication hands the core, and whom it may act for."""

from __future__ import annotations

import uuid

import pytest

from hangar.core.compute.states import HOLDS_RESOURCES
from hangar.core.principal import (
    ADMIN_SCOPE,
    Credential,
    CredentialKind,
    Principal,
    Role,
)
from hangar.db.tables.base import HOLDING_STATUSES


def principal(
    role: Role = Role.USER,
    *,
    admin: bool = False,
    domain: str = "default",
    kind: CredentialKind = CredentialKind.BAI_KEYPAIR,
    cred: str = "AKTEST",
    user: uuid.UUID | None = None,
) -> Principal:
    return Principal(
        user_uuid=user or uuid.uuid4(),
        email="someone@example.com",
        domain_name=domain,
        role=role,
        credential=Credential(kind, cred),
        scopes=frozenset({ADMIN_SCOPE}) if admin else frozenset(),
    )


def test_a_keypair_principal_reports_its_access_key_and_others_none() -> None:
    keypair = principal(cred="AKIAKEY")
    assert keypair.access_key == "AKIAKEY"
    assert str(keypair.credential) == "bai_keypair:AKIAKEY"
    for kind in CredentialKind:
        if kind is not CredentialKind.BAI_KEYPAIR:
            assert principal(kind=kind, cred="x").access_key is None


def test_admin_rights_need_the_admin_scope_on_the_credential() -> None:
    assert principal(Role.ADMIN, admin=True).is_admin
    assert not principal(Role.ADMIN).is_admin  # an admin's credential without the scope
    assert principal(Role.SUPERADMIN).is_superadmin
    assert not principal(Role.ADMIN, admin=True).is_superadmin


def test_everyone_acts_for_themselves_whatever_credential_they_came_with() -> None:
    user = uuid.uuid4()
    via_key = principal(user=user)
    via_api_key = principal(user=user, kind=CredentialKind.CLOUD_API_KEY, cred="k1")
    assert via_key.may_act_for(via_api_key) and via_api_key.may_act_for(via_key)
    assert via_api_key.owns(user) and not via_api_key.owns(uuid.uuid4())


@pytest.mark.parametrize(
    ("actor", "target", "allowed"),
    [
        (principal(), principal(), False),
        (principal(Role.ADMIN), principal(), False),  # no admin scope
        (principal(Role.ADMIN, admin=True), principal(), True),
        (principal(Role.ADMIN, admin=True), principal(domain="other"), False),
        (principal(Role.ADMIN, admin=True), principal(Role.SUPERADMIN), False),
        (principal(Role.SUPERADMIN, admin=True), principal(domain="other"), True),
        (principal(Role.SUPERADMIN, admin=True), principal(Role.SUPERADMIN), True),
    ],
)
def test_who_may_act_for_another_user(actor: Principal, target: Principal, allowed: bool) -> None:
    assert actor.may_act_for(target) is allowed


def test_the_database_knows_the_same_resource_holding_statuses_as_compute() -> None:
    assert set(HOLDING_STATUSES) == {status.value for status in HOLDS_RESOURCES}
