"""Queues and workers: each queue with its length and waiting tasks (dequeue, reorder),
the workers serving them with their current task.

A queue is the domain's (every user sees it); its entries name tasks, and a task another
user may not read shows as "another user's task", without its name or a link.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from hangar.core.errors import InvalidRequest
from hangar.core.queues.models import Queue, Worker
from hangar.core.queues.service import Move
from hangar.ui import queues_charts
from hangar.ui.context import Viewer, mutation, page, ui_of

REFRESH_S = 3  # the page asks for its queues and workers again this often
MOVES = {"up": Move.FORWARD, "down": Move.BACKWARD, "top": Move.TO_FRONT, "bottom": Move.TO_BACK}


@dataclass(frozen=True)
class Waiting:
    task_id: str
    name: str | None  # None: a task the viewer may not read
    added: datetime
    position: int


@dataclass(frozen=True)
class QueueRow:
    queue: Queue
    waiting: list[Waiting]
    workers: list[str]

    @property
    def label(self) -> str:
        return self.queue.display_name or self.queue.name


def _rows(queues: list[Queue], names: dict[str, str], workers: list[Worker]) -> list[QueueRow]:
    rows = []
    for queue in queues:
        waiting = [Waiting(e.task_id, names.get(e.task_id), e.added, i)
                   for i, e in enumerate(queue.entries, start=1)]  # fmt: skip
        serving = [w.name for w in workers if queue.id in w.queues]
        rows.append(QueueRow(queue, waiting, serving))
    return sorted(rows, key=lambda row: row.label.lower())


@page
async def queue_list(request: Request, viewer: Viewer) -> Response:
    ui = ui_of(request)
    services, principal = ui.services, viewer.principal
    queues = await services.queues.reads.all(principal)
    waiting = [e.task_id for queue in queues for e in queue.entries]
    workers = await services.queues.workers.all(principal)
    running = [w.task for w in workers if w.task]
    seen = await services.tracking.experiments.task_reads.find(principal, [*waiting, *running])
    names = {task.id: task.name for task in seen}
    queue_names = {queue.id: queue.display_name or queue.name for queue in queues}
    return ui.render(request, "queues.html", viewer, rows=_rows(queues, names, workers),
                     workers=sorted(workers, key=lambda w: w.name), names=names,
                     queue_names=queue_names, refresh_s=REFRESH_S)  # fmt: skip


def _ids(request: Request) -> tuple[str, str]:
    return str(request.path_params["queue_id"]), str(request.path_params["task_id"])


@mutation
async def dequeue(request: Request, viewer: Viewer) -> Response:
    """Takes the task out of its queue (back to the status it had before it was queued)."""
    ui = ui_of(request)
    queue_id, task_id = _ids(request)
    queue = await ui.services.queues.reads.get(viewer.principal, queue_id)
    if task_id not in {entry.task_id for entry in queue.entries}:
        raise InvalidRequest("The task is no longer in this queue.")
    await ui.services.queues.queueing.dequeue(viewer.principal, task_id)
    return RedirectResponse(ui.url("/queues"), status_code=303)


@mutation
async def move(request: Request, viewer: Viewer) -> Response:
    ui = ui_of(request)
    queue_id, task_id = _ids(request)
    how = MOVES.get(str(request.path_params["how"]))
    if how is None:
        raise InvalidRequest(f"Move: one of {', '.join(MOVES)}.")
    await ui.services.queues.service.move(viewer.principal, queue_id, task_id, how)
    return RedirectResponse(ui.url("/queues"), status_code=303)


routes = [
    Route("/queues", queue_list, methods=["GET"]),
    Route("/queues/{queue_id}/tasks/{task_id}/dequeue", dequeue, methods=["POST"]),
    Route("/queues/{queue_id}/tasks/{task_id}/move/{how}", move, methods=["POST"]),
    *queues_charts.routes,
]
