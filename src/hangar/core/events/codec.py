"""Events as JSON text, for buses that carry them between processes (a NOTIFY payload, a
Redis message). In-process delivery never encodes."""

from __future__ import annotations

import dataclasses
import json
import uuid
from datetime import datetime
from typing import Any

from hangar.core.events.envelope import PAYLOAD_TYPES, Event, EventKind, Tenant


def encode(event: Event) -> str:
    return json.dumps(
        {
            "kind": event.kind.value,
            "subject": str(event.subject),
            "tenant": {
                "user_id": str(event.tenant.user_id),
                "project_id": _text(event.tenant.project_id),
                "domain": event.tenant.domain,
            },
            "at": event.at.isoformat(),
            "payload": dataclasses.asdict(event.payload),
        },
        separators=(",", ":"),
    )


def decode(text: str) -> Event:
    """The event ``encode`` wrote. Raises ValueError (or KeyError, TypeError) on other text."""
    data: dict[str, Any] = json.loads(text)
    kind = EventKind(data["kind"])
    tenant = data["tenant"]
    return Event(
        kind=kind,
        subject=uuid.UUID(data["subject"]),
        tenant=Tenant(uuid.UUID(tenant["user_id"]), _uuid(tenant["project_id"]), tenant["domain"]),
        payload=PAYLOAD_TYPES[kind](**data["payload"]),
        at=datetime.fromisoformat(data["at"]),
    )


def _text(value: uuid.UUID | None) -> str | None:
    return str(value) if value is not None else None


def _uuid(value: str | None) -> uuid.UUID | None:
    return uuid.UUID(value) if value is not None else None
