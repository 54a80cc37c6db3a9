"""Queues over the ClearML API that ``hangar server`` speaks: what waits where and for how
long, and tasks into queues and out of runs, for terminal users.

    async with Experiments(ExperimentsConfig.load()) as x:
        for queue in await queues(x):
            print(queue.name, queue.length, queue.longest_wait)
        await enqueue(x, "train-resnet", "default")
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from hangar.client.experiments import TASK_ID, ClearmlAPIError, Experiments

__all__ = [
    "QueueSummary", "Waiting", "abort", "create_queue", "delete_queue", "enqueue", "queue",
    "queues", "update_queue",
]  # fmt: skip


@dataclass(frozen=True)
class QueueSummary:
    id: str
    name: str
    served_by: str  # "hangar" (Hangar runs its tasks) or "external" (agents do)
    length: int
    longest_wait: float | None  # seconds the first task has waited, None when empty
    default: bool
    tags: list[str]


@dataclass(frozen=True)
class Waiting:
    """A task in a queue: its place (0 = next), how long it has waited."""

    position: int
    task_id: str
    name: str
    status: str
    added: str
    wait: float
    priority: int


def _wait(added: Any, now: datetime) -> float:
    try:
        return max(0.0, (now - datetime.fromisoformat(str(added))).total_seconds())
    except ValueError:
        return 0.0


def _summary(raw: dict[str, Any], now: datetime) -> QueueSummary:
    entries = raw.get("entries") or []
    return QueueSummary(
        id=str(raw["id"]),
        name=str(raw.get("name", "")),
        served_by=str(raw.get("served_by", "hangar")),
        length=len(entries),
        longest_wait=_wait(entries[0].get("added"), now) if entries else None,
        default="default" in (raw.get("system_tags") or []),
        tags=list(raw.get("tags") or []),
    )


async def queues(client: Experiments) -> list[QueueSummary]:
    """Every queue of the caller's domain, in creation order."""
    found = await client.call("queues.get_all", order_by=["created"])
    now = datetime.now(UTC)
    return [_summary(q, now) for q in found.get("queues", [])]


async def _queue_raw(client: Experiments, ref: str) -> dict[str, Any]:
    if TASK_ID.fullmatch(ref):
        try:
            raw: dict[str, Any] = (await client.call("queues.get_by_id", queue=ref))["queue"]
            return raw
        except ClearmlAPIError as exc:
            if exc.subcode != 701:
                raise
    for raw in (await client.call("queues.get_all")).get("queues", []):
        if raw.get("name") == ref:
            return dict(raw)
    raise ClearmlAPIError(400, 400, 701, f"No queue with id or name {ref!r}")


async def queue(client: Experiments, ref: str) -> tuple[QueueSummary, list[Waiting]]:
    """A queue by id or name, and its tasks in the order they will run."""
    raw = await _queue_raw(client, ref)
    now = datetime.now(UTC)
    entries = raw.get("entries") or []
    ids = [str(e["task"]) for e in entries]
    tasks: dict[str, dict[str, Any]] = {}
    if ids:
        found = await client.call(
            "tasks.get_all", id=ids, only_fields=["id", "name", "status"], search_hidden=True
        )
        tasks = {str(t["id"]): t for t in found.get("tasks", [])}
    waiting = [
        Waiting(
            position=i,
            task_id=task_id,
            name=str(tasks.get(task_id, {}).get("name", "")),
            status=str(tasks.get(task_id, {}).get("status", "")),
            added=str(e.get("added", "")),
            wait=_wait(e.get("added"), now),
            priority=int(e.get("priority") or 0),
        )  # fmt: skip
        for i, (task_id, e) in enumerate(zip(ids, entries, strict=True))
    ]
    return _summary(raw, now), waiting


async def enqueue(
    client: Experiments, task_ref: str, queue_ref: str, *, priority: int = 0
) -> tuple[str, str, int]:
    """Puts the task (id or exact name) into the queue (id or name); returns the task's id,
    the queue's name and the task's place in it (0 = next)."""
    task_id = str((await client.task(task_ref))["id"])
    raw = await _queue_raw(client, queue_ref)
    await client.call("tasks.enqueue", task=task_id, queue=raw["id"], priority=priority)
    _, waiting = await queue(client, str(raw["id"]))
    position = next((w.position for w in waiting if w.task_id == task_id), -1)
    return task_id, str(raw.get("name", "")), position


async def abort(client: Experiments, task_ref: str) -> tuple[str, str]:
    """Stops the task: a queued one at once, a running one through its worker. Returns the
    task's id and its status after the request ("stopped", or still "in_progress" while
    its worker ends it)."""
    task_id = str((await client.task(task_ref))["id"])
    await client.call("tasks.stop", task=task_id)
    task = await client.call("tasks.get_by_id", task=task_id)
    return task_id, str(task["task"].get("status", ""))


async def create_queue(client: Experiments, name: str, **fields: Any) -> str:
    """A new queue (administrators); ``fields``: served_by ("hangar" or "external"),
    scaling_group, resource_preset, tags. Returns its id."""
    given = {k: v for k, v in fields.items() if v is not None}
    return str((await client.call("queues.create", name=name, **given))["id"])


async def update_queue(client: Experiments, ref: str, **fields: Any) -> str:
    """Changes the queue (id or name; administrators); returns its id."""
    raw = await _queue_raw(client, ref)
    given = {k: v for k, v in fields.items() if v is not None}
    await client.call("queues.update", queue=raw["id"], **given)
    return str(raw["id"])


async def delete_queue(client: Experiments, ref: str, *, force: bool = False) -> str:
    """Deletes the queue (id or name; administrators); one with tasks only with ``force``."""
    raw = await _queue_raw(client, ref)
    await client.call("queues.delete", queue=raw["id"], force=force)
    return str(raw["id"])
