"""API keys as the core hands them out: never the key itself, except once at creation."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class ApiKey:
    """A stored key: its id, the first characters of the key (to recognise it), a name."""

    id: int
    prefix: str
    name: str
    user_uuid: uuid.UUID
    email: str
    created_at: datetime
    revoked_at: datetime | None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


@dataclass(frozen=True, slots=True)
class NewApiKey:
    """A key just created: ``secret`` is the whole key, shown this once and stored hashed."""

    key: ApiKey
    secret: str
