"""Registry credentials as the core hands them out: never the password."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class RegistryKind(StrEnum):
    DOCKER_HUB = "DOCKER_HUB"
    GCR = "GCR"
    ECR = "ECR"
    ACR = "ACR"
    PRIVATE = "PRIVATE"


@dataclass(frozen=True, slots=True)
class RegistryAuth:
    id: int
    owner_uuid: uuid.UUID
    name: str
    kind: RegistryKind
    username: str
    created_at: datetime
