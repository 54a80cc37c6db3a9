"""The signed-in user's compute sessions, through the compute service's scoped reads."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from hangar.core.compute.views import SessionView
from hangar.core.services import Services
from hangar.ui.context import Viewer

LIVE = "PENDING,SCHEDULED,PREPARING,PULLING,RUNNING,RESTARTING,SUSPENDED,TERMINATING,ERROR"
ENDED = "TERMINATED,CANCELLED"
STATUS_FILTERS = {"live": LIVE, "ended": ENDED, "all": None}
PAGE = 100
MAX_PAGE = 1000


@dataclass(frozen=True)
class Filters:
    """The list page's filters as the query string gives them (unknown values: defaults)."""

    status: str = "live"
    name: str = ""
    kind: str = ""
    limit: int = PAGE

    @classmethod
    def parse(cls, query: dict[str, str]) -> Filters:
        status = query.get("status", "live")
        kind = query.get("type", "")
        limit = query.get("limit", "")
        return cls(
            status=status if status in STATUS_FILTERS else "live",
            name=query.get("q", "").strip()[:64],
            kind=kind if kind in ("interactive", "batch") else "",
            limit=min(int(limit), MAX_PAGE) if limit.isdigit() and int(limit) > 0 else PAGE,
        )

    def keep(self, view: SessionView) -> bool:
        session = view.session
        if self.name and self.name.lower() not in session.name.lower():
            return False
        return not self.kind or session.session_type.value == self.kind


async def my_sessions(
    services: Services, viewer: Viewer, *, status: str | None, limit: int = PAGE
) -> list[SessionView]:
    """The viewer's own sessions (those of their keypair), newest first. An administrator
    sees only their own here too: other users' sessions belong on administration pages."""
    principal = viewer.principal
    page = await services.reads.sessions.session_page(
        principal, limit=limit, offset=0, status=status, access_key=principal.access_key
    )
    return [v for v in page.items if v.session.user_uuid == principal.user_uuid]


async def filtered(services: Services, viewer: Viewer, filters: Filters) -> list[SessionView]:
    status = STATUS_FILTERS[filters.status]
    found = await my_sessions(services, viewer, status=status, limit=filters.limit)
    return [v for v in found if filters.keep(v)]


async def my_session(services: Services, viewer: Viewer, session_id: str) -> SessionView | None:
    """One of the viewer's own sessions by id, None otherwise (another user's too)."""
    try:
        wanted = uuid.UUID(session_id)
    except ValueError:
        return None
    view = await services.reads.sessions.session(viewer.principal, wanted)
    if view is None or view.session.user_uuid != viewer.principal.user_uuid:
        return None
    return view
