"""Who acts: the principal every face's authentication produces.

A principal is a user (with their domain and role), maybe bound to a project, and the
credential the request came with. The core authorizes on the user and the project; the
credential only narrows that (its scopes) and names the policy that limits it. A Backend.AI
keypair is one kind of credential among several: the faces translate their wire ids (such as
``owner_access_key``) to and from principals. This module imports nothing else of the core's
domains, so every domain may depend on it. See docs/design/principals.md.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from enum import StrEnum


class Role(StrEnum):
    SUPERADMIN = "superadmin"
    ADMIN = "admin"
    USER = "user"
    MONITOR = "monitor"


class CredentialKind(StrEnum):
    """How a principal proved who it is (one kind per face's way to sign in)."""

    BAI_KEYPAIR = "bai_keypair"
    CLEARML_CREDENTIAL = "clearml_credential"
    CLEARML_JWT = "clearml_jwt"
    CLOUD_API_KEY = "cloud_api_key"
    WEB_SESSION = "web_session"


ADMIN_SCOPE = "admin"
"""The scope that lets a credential use its user's administrator role (a Backend.AI keypair's
``is_admin`` flag). Without it an admin's credential acts as a plain user."""


@dataclass(frozen=True, slots=True)
class Credential:
    """The credential a request came with: its kind and its id within that kind (an access
    key, a ClearML access key, a token's id, an API key's id, a web session's id)."""

    kind: CredentialKind
    id: str

    def __str__(self) -> str:
        return f"{self.kind.value}:{self.id}"


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is making a request, as resolved by a face's authentication.

    ``project_id`` is the project (group) the credential is bound to, None when the request
    names one itself (Backend.AI keypairs). ``resource_policy`` and ``rate_limit`` are the
    limits that apply to this principal: the credential's when a policy is attached to it (a
    keypair's resource policy), else the user's or project's.
    """

    user_uuid: uuid.UUID
    email: str
    domain_name: str
    role: Role
    credential: Credential
    scopes: frozenset[str] = field(default_factory=frozenset)
    project_id: uuid.UUID | None = None
    resource_policy: str | None = None
    rate_limit: int = 0

    @property
    def is_admin(self) -> bool:
        """Whether the credential may use administrator rights (the role says which)."""
        return ADMIN_SCOPE in self.scopes

    @property
    def is_superadmin(self) -> bool:
        return self.role == Role.SUPERADMIN

    @property
    def access_key(self) -> str | None:
        """The Backend.AI access key this principal came with, None for other credentials."""
        if self.credential.kind is CredentialKind.BAI_KEYPAIR:
            return self.credential.id
        return None

    def may_act_for(self, other: Principal) -> bool:
        """Whether this principal may act on behalf of ``other`` (itself always; an admin
        credential for users of its own domain below superadmin; a superadmin for anyone)."""
        if other.user_uuid == self.user_uuid:
            return True
        if not self.is_admin:
            return False
        if self.is_superadmin:
            return True
        return other.domain_name == self.domain_name and other.role != Role.SUPERADMIN

    def owns(self, user_uuid: uuid.UUID) -> bool:
        """Whether something owned by ``user_uuid`` is this principal's own."""
        return user_uuid == self.user_uuid
