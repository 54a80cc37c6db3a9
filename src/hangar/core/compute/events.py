"""Session lifecycle events: the envelope a session's transitions publish on the bus."""

from __future__ import annotations

from datetime import datetime

from hangar.core.compute.models import ComputeSession
from hangar.core.events import Event, EventKind, SessionChange, Tenant


def tenant_of(session: ComputeSession) -> Tenant:
    return Tenant(session.user_uuid, session.group_id, session.domain_name)


def session_event(
    kind: EventKind,
    session: ComputeSession,
    at: datetime,
    reason: str = "",
    exit_code: int | None = None,
) -> Event:
    payload = SessionChange(
        session.name, session.credential.id, reason, exit_code, session.callback_url
    )
    return Event(kind, session.id, tenant_of(session), payload, at)
