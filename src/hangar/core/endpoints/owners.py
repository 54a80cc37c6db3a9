"""Who an endpoint's workers run as: the principal that created the endpoint, kept with it
so the reconcile loop can start workers for them later."""

from __future__ import annotations

import uuid
from typing import Any

from hangar.core.principal import Credential, CredentialKind, Principal, Role


def owner_to_json(p: Principal) -> dict[str, Any]:
    return {
        "user_uuid": str(p.user_uuid), "email": p.email, "domain": p.domain_name,
        "role": p.role.value, "credential": [p.credential.kind.value, p.credential.id],
        "project_id": None if p.project_id is None else str(p.project_id),
        "resource_policy": p.resource_policy, "rate_limit": p.rate_limit,
    }  # fmt: skip


def owner_from_json(data: dict[str, Any]) -> Principal:
    kind, ident = data["credential"]
    project = data.get("project_id")
    return Principal(
        user_uuid=uuid.UUID(data["user_uuid"]), email=str(data["email"]),
        domain_name=str(data["domain"]), role=Role(data["role"]),
        credential=Credential(CredentialKind(kind), str(ident)),
        project_id=None if project is None else uuid.UUID(project),
        resource_policy=data.get("resource_policy"), rate_limit=int(data.get("rate_limit", 0)),
    )  # fmt: skip
