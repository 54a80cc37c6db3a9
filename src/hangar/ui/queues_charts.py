"""The series behind the queues page's charts: each queue's length and wait over the last
day, each worker's machine stats (CPU, memory, GPU) over the last hour, as columns."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from hangar.ui.context import Viewer, page, ui_of
from hangar.ui.experiments import json_response

QUEUE_WINDOW = timedelta(days=1)
WORKER_WINDOW = timedelta(hours=1)
WORKER_STATS = (("cpu_usage", "avg"), ("memory_used", "avg"), ("gpu_usage", "avg"))


@page
async def charts(request: Request, viewer: Viewer) -> Response:
    """``{"queues": [{"id", "dates", "lengths", "waits"}], "workers": [{"name", "metric",
    "variant", "dates", "values"}]}``; dates in epoch seconds."""
    plane = ui_of(request).services.queues
    now = datetime.now(UTC)
    found = await plane.reads.metrics(viewer.principal, [], now - QUEUE_WINDOW, now, 60)
    queues = [{"id": s.queue_id, "dates": s.dates, "lengths": s.lengths,
               "waits": s.wait_seconds} for s in found]  # fmt: skip
    stats = await plane.workers.stats(
        viewer.principal, None, now - WORKER_WINDOW, now, 10, WORKER_STATS
    )
    workers: list[dict[str, Any]] = [
        {"name": name, "metric": s.metric, "variant": s.variant, "dates": s.dates,
         "values": s.values.get("avg", [])}
        for name, series in sorted(stats.items()) for s in series
    ]  # fmt: skip
    return json_response({"queues": queues, "workers": workers})


routes = [Route("/queues/charts", charts, methods=["GET"])]
