"""``GET /events/background-task``: a background task's progress as Server-Sent Events (§6.3).

While the task runs: ``bgtask_updated`` events, then one of ``bgtask_done`` /
``bgtask_failed`` / ``bgtask_cancelled`` and ``server_close``. A task that had already
ended when the client connected gets one ``task_done`` / ``task_failed`` /
``task_cancelled`` event with its final state, then ``server_close``.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from hangar.api.bai.auth import user
from hangar.api.bai.params import raw_params
from hangar.api.common.context import services_of
from hangar.core.bgtasks.states import TaskState
from hangar.core.errors import InvalidRequest

PING = b": ping\n\n"
RETRY_SECONDS = 5


def _frame(name: str, data: dict[str, Any], retry: bool = False) -> bytes:
    head = f"event: {name}\n" + (f"retry: {RETRY_SECONDS}\n" if retry else "")
    return f"{head}data: {json.dumps(data)}\n\n".encode()


def _updated(state: TaskState) -> bytes:
    return _frame(
        "bgtask_updated",
        {
            "task_id": str(state.id),
            "message": state.message,
            "current_progress": state.current,
            "total_progress": state.total,
        },
        retry=True,
    )


def _ended(state: TaskState, *, late: bool) -> bytes:
    if late:
        return _frame(
            f"task_{state.status.value}",
            {
                "task_id": str(state.id),
                "status": state.status.value,
                "current_progress": state.current,
                "total_progress": state.total,
                "message": state.message,
            },
        )
    data = {"task_id": str(state.id), "message": state.message}
    return _frame(f"bgtask_{state.status.value}", data)


async def _frames(states: AsyncIterator[TaskState], first: TaskState) -> AsyncIterator[bytes]:
    previous = first
    if first.finished:
        yield _ended(first, late=True)
    else:
        yield _updated(first)
        async for state in states:
            if state.finished:
                yield _ended(state, late=False)
                break
            yield PING if state == previous else _updated(state)
            previous = state
    yield _frame("server_close", {})


def task_id_of(params: dict[str, Any]) -> uuid.UUID:
    raw = params.get("task_id") or params.get("taskId")
    if not raw:
        raise InvalidRequest("task_id: the background task id is required")
    try:
        return uuid.UUID(str(raw))
    except ValueError:
        raise InvalidRequest("task_id: a background task id (UUID)") from None


async def background_task_events(request: Request) -> Response:
    caller = user(request)
    task_id = task_id_of(await raw_params(request))
    states = services_of(request).bgtasks.watch(caller, task_id)
    first = await anext(states)  # NotFound surfaces here, before the stream starts
    return StreamingResponse(
        _frames(states, first),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
