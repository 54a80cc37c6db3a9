"""An endpoint's workers (W1) and a worker's log (W2, spec §3.8).

W1 lists the live workers and those that ended in the last hour (``statusList`` filters;
``INITIALIZE`` is an alias). W2 pages the worker's log (its init command's output, and
Hangar's own ``[hangar] ...`` lines) by the search-after cursor: ``direction=Forward``
after the cursor oldest first, ``Backward`` before it newest first; ``keyword``,
``startTime``/``endTime`` filter first. An unknown worker is 10007.
"""

from __future__ import annotations

from typing import Any

from hangar.api.cloud.endpointwire import gpu_names, iso, worker_statuses, worker_wire
from hangar.api.cloud.pagination import Direction, cursor_page, cursor_request
from hangar.api.cloud.registry import Call, route
from hangar.core.billing.models import Metered
from hangar.core.endpoints.models import LogQuery


@route("GET", "/v2/serverless/{id}/workers")
async def list_workers(call: Call) -> list[dict[str, Any]]:
    statuses = worker_statuses(call.request.query_params.getlist("statusList"))
    found = await call.services.endpoints.workers(call.principal, call.path_id(),
                                                  statuses=statuses)  # fmt: skip
    sessions = [w.session_id for w in found if w.session_id is not None]
    costs = await call.services.billing.cost(Metered.SESSION, sessions)
    names, now = await gpu_names(call), call.services.clock.now()
    return [worker_wire(w, now, names, float(costs.get(w.session_id, 0)) if w.session_id else 0.0)
            for w in found]  # fmt: skip


@route("GET", "/v2/serverless/{id}/workers/{workerId}/logs")
async def worker_logs(call: Call) -> dict[str, Any]:
    endpoint_id, worker_id = call.path_id(), call.path_id("workerId")
    cursor = cursor_request(call.query)
    query = LogQuery(
        limit=cursor.page_size, after_offset=cursor.after_offset, after_time=cursor.after_time,
        backward=cursor.direction is Direction.BACKWARD, start=cursor.start, end=cursor.end,
        keyword=cursor.keyword,
    )  # fmt: skip
    page = await call.services.endpoints.logs(call.principal, endpoint_id, worker_id, query)
    entries = [{"timestamp": iso(e.time), "log": e.text, "offset": e.offset}
               for e in page.entries]  # fmt: skip
    last = (page.entries[-1].time, page.entries[-1].offset) if page.entries else None
    return cursor_page(entries, has_more=page.has_more, last=last if page.has_more else None)
