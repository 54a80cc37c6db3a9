"""Tasks of QUEUE endpoints, ``/v2/serverless/{id}/tasks`` (T1-T4).

A task is stored at once (PROCESSING), sent FIFO to an idle RUNNING worker as
``POST <processUri>`` on ``workerPort`` with ``input`` as the JSON body and ``headers``
added (DELIVERED), and ends SUCCESS (2xx; the answer is ``output``) or FAILED (``error``).
The same ``taskId`` submitted again returns it and adds nothing. Another user's endpoint
answers 14000; an ALB or CUSTOM endpoint 10001; a stopped or failed one 24000; an unknown
task 24011.
"""

from __future__ import annotations

import json
import re
from typing import Annotated, Any

from pydantic import Field, StringConstraints, field_validator

from hangar.api.cloud.pagination import page_of, page_request
from hangar.api.cloud.registry import Call, WireModel, route
from hangar.api.cloud.taskwire import task_wire
from hangar.core.endpoint_tasks.models import TaskRequest, TaskStatus
from hangar.core.errors import InvalidRequest

URI = r"^/[A-Za-z0-9._~!$&'()*+,;=:@/\-]*$"
STATUS_NUMBERS = {"0": "PROCESSING", "1": "DELIVERED", "2": "SUCCESS", "3": "FAILED"}
Webhook = Annotated[str, StringConstraints(pattern=r"^https?://[^\s/]+\S*$", max_length=512)]


class SubmitTask(WireModel):
    task_id: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_]*$", max_length=255)] = ""
    input: Any = None
    worker_port: Annotated[int, Field(ge=1, le=65535)]
    process_uri: Annotated[str, StringConstraints(min_length=1, max_length=255)]
    webhook: Webhook | None = None
    webhook_auth_key: Annotated[str, StringConstraints(max_length=255)] | None = None
    headers: Annotated[dict[str, Annotated[str, Field(max_length=8192)]],
                       Field(max_length=64)] | None = None  # fmt: skip

    @field_validator("input")
    @classmethod
    def _input(cls, value: Any) -> Any:
        if value is None or (isinstance(value, dict | list | str) and not value):
            raise ValueError("input is required and must not be empty")
        return value

    @field_validator("process_uri")
    @classmethod
    def _uri(cls, value: str) -> str:
        value = value if value.startswith("/") else "/" + value
        if " " in value or len(value) > 255 or not re.match(URI, value):
            raise ValueError("must be a URI path (no spaces, at most 255 characters)")
        return value

    @field_validator("headers")
    @classmethod
    def _headers(cls, value: dict[str, str] | None) -> dict[str, str] | None:
        for name in value or {}:
            if not name or any(c in name for c in ":\r\n \t") or len(name) > 256:
                raise ValueError(f"{name!r} is not a header name")
        for text in (value or {}).values():
            if "\r" in text or "\n" in text:
                raise ValueError("header values must be one line")
        return value


def _status(raw: str | None) -> TaskStatus | None:
    if raw is None or not raw.strip():
        return None
    word = STATUS_NUMBERS.get(raw.strip(), raw.strip().upper())
    if word not in TaskStatus.__members__:
        raise InvalidRequest("status: must be PROCESSING, DELIVERED, SUCCESS or FAILED",
                             data={"status": "invalid"})  # fmt: skip
    return TaskStatus(word)


@route("POST", "/v2/serverless/{id}/tasks")
async def submit_task(call: Call) -> dict[str, str]:
    body = await call.body(SubmitTask)
    req = TaskRequest(
        input_json=json.dumps(body.input, separators=(",", ":")), worker_port=body.worker_port,
        process_uri=body.process_uri, key=body.task_id or None, webhook=body.webhook,
        webhook_key=body.webhook_auth_key, headers=dict(body.headers or {}),
    )  # fmt: skip
    key = await call.services.endpoint_tasks.submit(call.principal, call.path_id(), req)
    return {"taskId": key}


@route("GET", "/v2/serverless/{id}/tasks/count")
async def count_tasks(call: Call) -> dict[str, int]:
    counts = await call.services.endpoint_tasks.counts(call.principal, call.path_id())
    return {"processing": counts.processing, "total": counts.total,
            "delivered": counts.delivered, "success": counts.success,
            "failed": counts.failed}  # fmt: skip


@route("GET", "/v2/serverless/{id}/tasks/{taskId}")
async def get_task(call: Call) -> dict[str, Any]:
    key = str(call.request.path_params.get("taskId", ""))
    task = await call.services.endpoint_tasks.get(call.principal, call.path_id(), key)
    return task_wire(task)


@route("GET", "/v2/serverless/{id}/tasks")
async def list_tasks(call: Call) -> dict[str, Any]:
    want = page_request(call.query, style="pageNumber")
    status = _status(call.query.get("status"))
    found = await call.services.endpoint_tasks.page(
        call.principal, call.path_id(), status=status, offset=want.offset, limit=want.limit
    )
    return page_of([task_wire(t, whole=False) for t in found.items], found.total, want)
