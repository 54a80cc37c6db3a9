"""Identity domain types: what repos return and services hand to faces."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from hangar.core.principal import Principal, Role


class UserStatus(StrEnum):
    ACTIVE = "active"
    INACTIVE = "inactive"
    DELETED = "deleted"
    BEFORE_VERIFICATION = "before-verification"


class DefaultForUnspecified(StrEnum):
    LIMITED = "LIMITED"
    UNLIMITED = "UNLIMITED"


@dataclass(frozen=True, slots=True)
class Domain:
    name: str
    description: str
    is_active: bool
    created_at: datetime
    total_resource_slots: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Group:
    id: uuid.UUID
    name: str
    domain_name: str
    description: str
    is_active: bool
    created_at: datetime


@dataclass(frozen=True, slots=True)
class User:
    uuid: uuid.UUID
    username: str
    email: str
    full_name: str
    role: Role
    status: UserStatus
    domain_name: str
    need_password_change: bool
    created_at: datetime

    @property
    def is_active(self) -> bool:
        return self.status == UserStatus.ACTIVE


@dataclass(frozen=True, slots=True)
class KeyPair:
    """A keypair without its secret; the secret is only handed out on creation."""

    access_key: str
    user_uuid: uuid.UUID
    user_email: str
    is_active: bool
    is_admin: bool
    resource_policy: str
    rate_limit: int
    num_queries: int
    created_at: datetime
    last_used: datetime | None


@dataclass(frozen=True, slots=True)
class NewKeyPair:
    """A freshly issued keypair: the one moment the secret is shown."""

    keypair: KeyPair
    secret_key: str


@dataclass(frozen=True, slots=True)
class ResourcePolicy:
    name: str
    default_for_unspecified: DefaultForUnspecified
    total_resource_slots: dict[str, Any]
    max_session_lifetime: int
    max_concurrent_sessions: int
    max_containers_per_session: int
    idle_timeout: int
    max_vfolder_count: int
    max_vfolder_size: int
    allowed_vfolder_hosts: list[str]
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Credentials:
    """A verified-active keypair with its clear secret, for signature checks."""

    secret_key: str
    caller: Principal


@dataclass(frozen=True, slots=True)
class LoginResult:
    token: str
    caller: Principal
    status: UserStatus


@dataclass(frozen=True, slots=True)
class Authorized:
    keypair: NewKeyPair
    role: Role
    status: UserStatus
