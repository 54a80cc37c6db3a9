"""Tasks of QUEUE endpoints in the face's words: the Task object (§2.6) and the webhook
body (§3.5.5: the v1 snake_case keys ``Skywalker.validate_notify_payload`` checks, plus
the camelCase keys of v2)."""

from __future__ import annotations

import json
from typing import Any

from hangar.api.cloud.pagination import epoch_ms
from hangar.core.endpoint_tasks.models import Notice, Task, TaskStatus


def task_wire(task: Task, *, whole: bool = True) -> dict[str, Any]:
    """A task; list items (``whole=False``) leave out input, output and headers."""
    wire: dict[str, Any] = {
        "taskId": task.key, "endpointId": task.endpoint_id, "endpointName": task.endpoint_name,
        "status": task.status.value, "workerUrl": task.worker_url, "webhook": task.webhook,
        "deliveryStatus": task.delivery_status.value,
        "deliveryAttempts": task.delivery_attempts, "error": task.error,
        "createdAt": epoch_ms(task.created_at), "updatedAt": epoch_ms(task.updated_at),
        "deliveredAt": epoch_ms(task.delivered_at) if task.delivered_at else None,
    }  # fmt: skip
    if whole:
        wire.update(input=task.input, output=task.output, headers=task.headers)
    return wire


class CloudNotices:
    """The webhook body of a finished task (the core's NoticeFormat)."""

    def body(self, notice: Notice) -> bytes:
        success = notice.status is TaskStatus.SUCCESS
        word = "Success" if success else "Failed"
        sent = notice.sent_at
        stamp = sent.strftime("%Y-%m-%d %H:%M:%S.") + f"{sent.microsecond // 1000:03d}"
        wire = {
            "task_id": notice.task_id, "user_task_id": notice.key,
            "endpoint_id": str(notice.endpoint_id), "status": word, "success": success,
            "timestamp": stamp, "retry_count": notice.attempt, "result": notice.output,
            "failed_reason": notice.error,
            "taskId": notice.key, "endpointId": notice.endpoint_id, "output": notice.output,
            "error": notice.error, "taskStatus": notice.status.value,
        }  # fmt: skip
        return json.dumps(wire).encode()
