"""What the directory and keypair listings return: domains, groups, users, keypairs."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from hangar.core.identity.models import KeyPair


@dataclass(frozen=True, slots=True)
class DomainView:
    name: str
    description: str
    is_active: bool
    created_at: datetime
    modified_at: datetime
    total_resource_slots: dict[str, Any]
    allowed_vfolder_hosts: list[str]
    allowed_docker_registries: list[str]
    integration_id: str | None
    scaling_groups: list[str]


@dataclass(frozen=True, slots=True)
class GroupView:
    id: uuid.UUID
    name: str
    description: str
    is_active: bool
    created_at: datetime
    modified_at: datetime
    domain_name: str
    total_resource_slots: dict[str, Any]
    allowed_vfolder_hosts: list[str]
    integration_id: str | None
    scaling_groups: list[str]


@dataclass(frozen=True, slots=True)
class GroupRef:
    id: uuid.UUID
    name: str


@dataclass(frozen=True, slots=True)
class UserView:
    uuid: uuid.UUID
    username: str
    email: str
    need_password_change: bool
    full_name: str
    description: str
    status: str
    status_info: str | None
    created_at: datetime
    modified_at: datetime
    domain_name: str
    role: str
    groups: list[GroupRef]

    @property
    def is_active(self) -> bool:
        return self.status == "active"


@dataclass(frozen=True, slots=True)
class KeyPairView:
    """A keypair as listings show it: with its owner and how many sessions it runs."""

    keypair: KeyPair
    user_full_name: str
    domain_name: str
    modified_at: datetime
    ssh_public_key: str | None
    concurrency_used: int

    @property
    def access_key(self) -> str:
        return self.keypair.access_key
