"""Serverless endpoints of the signed-in user: the list (status, workers running/total,
cost), an endpoint's page (its workers with their cost, a QUEUE endpoint's tasks with their
delivery status) and stop/start/scale/delete; a worker's log paged by the search-after
cursor as ``GET /v2/serverless/{id}/workers/{workerId}/logs`` pages it.

The same core calls as the GPU-cloud face's routes (api/cloud/routes/endpoints.py,
workers.py, tasks.py) with the viewer's principal: another user's endpoint is "not found".
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from hangar.core.billing.models import Metered
from hangar.core.endpoint_tasks.models import TaskStatus
from hangar.core.endpoints.models import Endpoint, LogQuery, ServiceMode
from hangar.core.errors import HangarError, InvalidRequest
from hangar.ui.cloud_endpoint_edit import edit_routes
from hangar.ui.cloud_endpoint_new import new_endpoint_routes
from hangar.ui.cloud_forms import MAX_ID
from hangar.ui.context import Viewer, mutation, page, status_of, ui_of

TASK_PAGE = 20
LOG_PAGE = 100
MAX_LOG_PAGE = 1000


def _int(raw: object, name: str, *, low: int = 0, high: int | None = None) -> int:
    text = str(raw).strip()
    if not text.isdigit() or len(text) > 18 or int(text) < low or (high and int(text) > high):
        raise InvalidRequest(f"{name}: must be a whole number from {low}" +
                             (f" to {high}" if high else ""))  # fmt: skip
    return int(text)


def _id(request: Request, name: str = "id") -> int:
    value = _int(request.path_params[name], name)
    return value if value <= MAX_ID else 0  # past the INTEGER id column: names nothing


async def _costs(request: Request, endpoints: list[Endpoint]) -> dict[int, Any]:
    services = ui_of(request).services
    return dict(await services.billing.cost(Metered.ENDPOINT, [e.id for e in endpoints]))


@page
async def list_endpoints(request: Request, viewer: Viewer) -> Response:
    ui = ui_of(request)
    found = await ui.services.endpoints.owned(viewer.principal)
    return ui.render(request, "cloud_endpoints.html", viewer, endpoints=found,
                     cost=await _costs(request, found))  # fmt: skip


async def _detail(
    request: Request, viewer: Viewer, *, status_code: int = 200, message: str = ""
) -> Response:
    ui = ui_of(request)
    services, me = ui.services, viewer.principal
    endpoint_id = _id(request)
    endpoint = await services.endpoints.get(me, endpoint_id)
    workers = await services.endpoints.workers(me, endpoint_id)
    sessions = [w.session_id for w in workers if w.session_id is not None]
    worker_cost = await services.billing.cost(Metered.SESSION, sessions)
    values: dict[str, Any] = {"tasks": None, "counts": None, "task_status": ""}
    if endpoint.mode is ServiceMode.QUEUE:
        raw_status = (request.query_params.get("status") or "").strip().upper()
        if raw_status and raw_status not in TaskStatus.__members__:
            raise InvalidRequest("status: must be PROCESSING, DELIVERED, SUCCESS or FAILED")
        number = _int(request.query_params.get("page") or "1", "page", low=1)
        tasks = await services.endpoint_tasks.page(
            me, endpoint_id, status=TaskStatus(raw_status) if raw_status else None,
            offset=(number - 1) * TASK_PAGE, limit=TASK_PAGE,
        )  # fmt: skip
        values.update(
            tasks=tasks, counts=await services.endpoint_tasks.counts(me, endpoint_id),
            task_status=raw_status, task_page=number,
            task_pages=max(1, math.ceil(tasks.total / TASK_PAGE)),
        )  # fmt: skip
    return ui.render(request, "cloud_endpoint.html", viewer, status_code, message=message,
                     endpoint=endpoint, workers=workers, worker_cost=worker_cost,
                     cost=(await _costs(request, [endpoint])).get(endpoint.id, 0),
                     as_json=_as_json, **values)  # fmt: skip


def _as_json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)[:2000]


@page
async def endpoint_page(request: Request, viewer: Viewer) -> Response:
    return await _detail(request, viewer)


def _instant(raw: str) -> datetime:
    return datetime.fromtimestamp(_int(raw, "searchAfterTime") / 1000, UTC)


@page
async def worker_logs(request: Request, viewer: Viewer) -> Response:
    """One page of a worker's log, as the API pages it: ``direction`` Forward (oldest first,
    after the cursor) or Backward (newest first, before it); the cursor is the last line's
    ``searchAfterTime`` (epoch ms) and ``searchAfterOffset``."""
    ui, q = ui_of(request), request.query_params
    endpoint_id, worker_id = _id(request), _id(request, "worker")
    backward = (q.get("direction") or "Forward").strip().lower() == "backward"
    size = _int(q.get("pageSize") or LOG_PAGE, "pageSize", low=1, high=MAX_LOG_PAGE)
    after_offset = q.get("searchAfterOffset") or None
    after_time = q.get("searchAfterTime") or None
    keyword = (q.get("keyword") or "").strip() or None
    query = LogQuery(
        limit=size, backward=backward, keyword=keyword,
        after_offset=_int(after_offset, "searchAfterOffset") if after_offset else None,
        after_time=_instant(after_time) if after_time else None,
    )  # fmt: skip
    endpoint = await ui.services.endpoints.get(viewer.principal, endpoint_id)
    found = await ui.services.endpoints.logs(viewer.principal, endpoint_id, worker_id, query)
    last = found.entries[-1] if found.entries and found.has_more else None
    next_cursor = None
    if last is not None:
        next_cursor = {"direction": "Backward" if backward else "Forward", "pageSize": size,
                       "searchAfterTime": int(last.time.timestamp() * 1000),
                       "searchAfterOffset": last.offset, "keyword": keyword or ""}  # fmt: skip
    return ui.render(request, "cloud_endpoint_logs.html", viewer, endpoint=endpoint,
                     worker_id=worker_id, entries=found.entries, backward=backward,
                     keyword=keyword or "", next_cursor=next_cursor)  # fmt: skip


def _back(request: Request, anchor: str = "") -> Response:
    url = ui_of(request).url(f"/cloud/endpoints/{_id(request)}{anchor}")
    return RedirectResponse(url, status_code=303)


async def _act(request: Request, viewer: Viewer, verb: str) -> Response:
    endpoints, me, endpoint_id = ui_of(request).services.endpoints, viewer.principal, _id(request)
    try:
        if verb == "stop":
            await endpoints.stop(me, endpoint_id)
        elif verb == "start":
            await endpoints.start(me, endpoint_id)
        else:
            form = await request.form()
            count = _int(form.get("workers") or "", "workers", high=64)
            await endpoints.scale(me, endpoint_id, count)
    except HangarError as exc:
        await endpoints.get(me, endpoint_id)  # another user's: 404, not their message
        return await _detail(request, viewer, status_code=status_of(exc), message=str(exc))
    return _back(request)


@mutation
async def stop_endpoint(request: Request, viewer: Viewer) -> Response:
    return await _act(request, viewer, "stop")


@mutation
async def start_endpoint(request: Request, viewer: Viewer) -> Response:
    return await _act(request, viewer, "start")


@mutation
async def scale_endpoint(request: Request, viewer: Viewer) -> Response:
    return await _act(request, viewer, "scale")


@mutation
async def delete_endpoint(request: Request, viewer: Viewer) -> Response:
    await ui_of(request).services.endpoints.delete(viewer.principal, _id(request))
    return RedirectResponse(ui_of(request).url("/cloud/endpoints"), status_code=303)


endpoint_routes = [
    *new_endpoint_routes,  # /cloud/endpoints/new before /cloud/endpoints/{id}
    *edit_routes,
    Route("/cloud/endpoints", list_endpoints, methods=["GET"]),
    Route("/cloud/endpoints/{id}", endpoint_page, methods=["GET"]),
    Route("/cloud/endpoints/{id}/workers/{worker}/logs", worker_logs, methods=["GET"]),
    Route("/cloud/endpoints/{id}/stop", stop_endpoint, methods=["POST"]),
    Route("/cloud/endpoints/{id}/start", start_endpoint, methods=["POST"]),
    Route("/cloud/endpoints/{id}/scale", scale_endpoint, methods=["POST"]),
    Route("/cloud/endpoints/{id}/delete", delete_endpoint, methods=["POST"]),
]
