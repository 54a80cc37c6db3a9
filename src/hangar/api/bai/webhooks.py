"""Backend.AI's lifecycle callbacks: the events a ``callback_url`` receives and their body."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from hangar.core.events import Event, EventKind

WEBHOOK_EVENTS = {
    EventKind.SESSION_ENQUEUED: "enqueued",
    EventKind.SESSION_SCHEDULED: "scheduled",
    EventKind.SESSION_PREPARING: "preparing",
    EventKind.SESSION_STARTED: "started",
    EventKind.SESSION_CANCELLED: "cancelled",
    EventKind.SESSION_TERMINATED: "terminated",
    EventKind.SESSION_SUCCEEDED: "success",
    EventKind.SESSION_FAILED: "failure",
}


class BackendAiWebhooks:
    """The callback format (``type``, ``event``, ``session_id``, ``when``)."""

    kinds = frozenset(WEBHOOK_EVENTS)

    def body(self, event: Event, when: datetime) -> dict[str, Any]:
        return {
            "type": "session_lifecycle",
            "event": WEBHOOK_EVENTS[event.kind],
            "session_id": str(event.subject),
            "when": when.isoformat(),
        }
