"""``/ui/sessions/events``: the viewer's session status changes as server-sent events.

Each bus event of one of the viewer's sessions becomes ``event: session`` with the session's
id, name and status as the core has it now (a scoped read), so the page shows what a reload
would; right after subscribing, ``event: snapshot`` frames give the live sessions' statuses.
A ``: ping`` comment keeps idle connections open; the stream ends when the browser goes away
or the server shuts down.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from hangar.core.compute.views import SessionView
from hangar.core.errors import AuthError
from hangar.core.events import Event, EventBus, Matcher, SessionChange, Subscription
from hangar.core.services import Services
from hangar.ui.context import Viewer, page, ui_of
from hangar.ui.sessions_data import LIVE, my_session, my_sessions

PING_SECONDS = 15.0
PING = ": ping\n\n"


def viewer_matcher(viewer: Viewer) -> Matcher:
    """Session events of the viewer's own sessions, from every server process."""
    user = viewer.principal.user_uuid
    return Matcher(
        tenant=lambda tenant: tenant.user_id == user,
        where=lambda event: isinstance(event.payload, SessionChange),
        everywhere=True,
    )


def _frame(name: str, view: SessionView) -> str:
    session = view.session
    data = {"id": str(session.id), "name": session.name, "status": session.status.value}
    return f"event: {name}\ndata: {json.dumps(data)}\n\n"


async def frame(services: Services, viewer: Viewer, event: Event) -> str:
    view = await my_session(services, viewer, str(event.subject))
    return "" if view is None else _frame("session", view)


async def snapshot(services: Services, viewer: Viewer) -> str:
    """The live sessions' statuses as of now (``snapshot`` events): what changed between the
    page's rendering and the subscription reaches the page too."""
    views = await my_sessions(services, viewer, status=LIVE)
    return "".join(_frame("snapshot", view) for view in views)


class BusClosed(Exception):
    """The server is shutting down: the stream ends."""


async def _next(events: Subscription, bus: EventBus) -> Event | None:
    """The next event, None after PING_SECONDS; raises BusClosed when the bus closes."""
    getter = asyncio.ensure_future(events.get())
    closing = asyncio.ensure_future(bus.wait_closed())
    try:
        done, _ = await asyncio.wait({getter, closing}, timeout=PING_SECONDS,
                                     return_when=asyncio.FIRST_COMPLETED)  # fmt: skip
    finally:
        getter.cancel()
        closing.cancel()
    if getter in done:
        return getter.result()
    if closing in done:
        raise BusClosed
    return None


async def _still_signed_in(services: Services, viewer: Viewer) -> bool:
    try:
        await services.identity.caller_for_login(viewer.token)
    except AuthError:
        return False
    return True


async def stream(services: Services, viewer: Viewer) -> AsyncIterator[str]:
    async with services.bus.subscribe(viewer_matcher(viewer)) as events:
        yield ": subscribed\n\n" + await snapshot(services, viewer)
        while True:
            try:
                event = await _next(events, services.bus)
            except BusClosed:
                return
            if event is None and not await _still_signed_in(services, viewer):
                return  # signed out (or expired) in another tab: nothing more for this one
            yield PING if event is None else await frame(services, viewer, event)


@page
async def session_events(request: Request, viewer: Viewer) -> Response:
    services = ui_of(request).services
    headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    body = stream(services, viewer)
    return StreamingResponse(body, media_type="text/event-stream", headers=headers)
