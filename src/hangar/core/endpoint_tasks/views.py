"""Stored task rows as the core's values."""

from __future__ import annotations

import json
from typing import Any

from hangar.core.endpoint_tasks.models import Notice, Task
from hangar.core.endpoint_tasks.repo import TaskRecord


def loads(text: str | None) -> Any:
    return None if text is None else json.loads(text)


def task_of(record: TaskRecord, endpoint_name: str) -> Task:
    return Task(
        id=record.id, key=record.key, endpoint_id=record.endpoint_id,
        endpoint_name=endpoint_name, status=record.status, worker_url=record.worker_url,
        webhook=record.webhook, delivery_status=record.delivery_status,
        delivery_attempts=record.delivery_attempts, error=record.error,
        input=loads(record.input_json), output=loads(record.output_json),
        headers=record.headers, created_at=record.created_at, updated_at=record.updated_at,
        delivered_at=record.delivered_at,
    )  # fmt: skip


def notice_of(record: TaskRecord, attempt: int, now: Any) -> Notice:
    return Notice(
        task_id=record.id, key=record.key, endpoint_id=record.endpoint_id,
        status=record.status, output=loads(record.output_json), error=record.error,
        attempt=attempt, sent_at=now,
    )  # fmt: skip
