"""Queues and workers in the core over a real database (SQLite and PostgreSQL): order and
priorities, moves, the atomic pop under concurrency, enqueue/dequeue/stop status rules,
permissions, and workers' timeouts and stats."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from hangar.core.clock import FakeClock
from hangar.core.errors import Conflict
from hangar.core.principal import Principal, Role
from hangar.core.queues.models import (
    QueueAdminOnly,
    QueueNotEmpty,
    QueueNotFound,
    ServedBy,
    TaskNotQueued,
)
from hangar.core.queues.plane import QueuePlane
from hangar.core.queues.service import Move
from hangar.core.services import Services
from hangar.core.tracking.tasks.models import TaskNotFound
from hangar.core.tracking.tasks.states import InvalidStatusChange, TaskStatus
from tests.component.test_bai_graphql import account


async def user(services: Services, email: str, **kw: Any) -> Principal:
    return (await account(services, email, **kw)).caller


async def admin(services: Services) -> Principal:
    return await user(services, "boss@q.test", role=Role.ADMIN, is_admin=True)


async def tasks(services: Services, owner: Principal, n: int) -> list[str]:
    create = services.tracking.experiments.tasks.create
    return [await create(owner, name=f"t{i}", type="training") for i in range(n)]


def order(plane: QueuePlane, queue: Any) -> list[str]:
    return [e.task_id for e in queue.entries]


async def test_each_domain_has_a_default_queue_and_admins_run_queues(services: Services) -> None:
    q = services.queues
    boss, ada = await admin(services), await user(services, "ada@q.test")

    default = await q.reads.default(ada)
    assert default.name == "default" and default.is_default
    assert default.served_by is ServedBy.HANGAR
    with pytest.raises(QueueAdminOnly):
        await q.service.create(ada, "gpu")
    gpu = await q.service.create(boss, "gpu", tags=["fast"], served_by="external")
    assert [x.name for x in await q.reads.all(ada)] == ["default", "gpu"]
    assert (await q.reads.get(ada, gpu)).served_by is ServedBy.EXTERNAL
    with pytest.raises(QueueNotFound):
        await q.reads.get(ada, "gpu")  # a name is not an id
    with pytest.raises(QueueAdminOnly):
        await q.service.update(ada, gpu, {"name": "x"})
    with pytest.raises(QueueAdminOnly):
        await q.service.delete(ada, gpu)
    await q.service.update(boss, gpu, {"served_by": "hangar", "display_name": "GPUs"})
    assert [x.id for x in await q.reads.served_by(ServedBy.HANGAR)] == [default.id, gpu]

    other = await user(services, "eve@q.test", domain_name="default")
    assert (await q.reads.default(other)).id == default.id


async def test_priorities_order_and_moves(services: Services) -> None:
    q = services.queues
    ada = await user(services, "ada@q.test")
    queue = (await q.reads.default(ada)).id
    a, b, c, d, e = await tasks(services, ada, 5)
    for task, priority in ((a, 0), (b, 0), (c, 5), (d, 1), (e, 5)):
        await q.service.add_task(ada, queue, task, priority=priority)

    assert order(q, await q.reads.get(ada, queue)) == [c, e, d, a, b]
    assert await q.service.move(ada, queue, b, Move.FORWARD, 2) == 2
    assert await q.service.move(ada, queue, a, Move.TO_FRONT) == 0
    assert await q.service.move(ada, queue, c, Move.TO_BACK) == 4
    assert await q.service.move(ada, queue, e, Move.BACKWARD, 10) == 4
    assert order(q, await q.reads.get(ada, queue)) == [a, b, d, c, e]
    assert await q.service.remove_task(ada, queue, d) == 1
    with pytest.raises(TaskNotQueued):
        await q.service.remove_task(ada, queue, d)
    assert [(await q.service.pop(queue)) for _ in range(5)][-1] is None
    assert await q.reads.num_entries(ada, queue) == 0


async def test_concurrent_pops_never_share_an_entry(services: Services) -> None:
    q = services.queues
    ada = await user(services, "ada@q.test")
    queue = (await q.reads.default(ada)).id
    ids = await tasks(services, ada, 40)
    for task in ids:
        await q.service.put(queue, task)

    popped = await asyncio.gather(*(q.service.pop(queue) for _ in range(60)))

    got = [p.task_id for p in popped if p is not None]
    assert sorted(got) == sorted(ids) and len(set(got)) == len(ids)
    assert sum(p is None for p in popped) == 20


async def test_pop_only_the_named_task_when_asked(services: Services) -> None:
    q = services.queues
    ada = await user(services, "ada@q.test")
    queue = (await q.reads.default(ada)).id
    a, b = await tasks(services, ada, 2)
    await q.service.put(queue, a)
    await q.service.put(queue, b)

    assert await q.service.pop(queue, task_id=b) is None
    entry = await q.service.pop(queue, task_id=a)
    assert entry is not None and (entry.task_id, entry.queue_id) == (a, queue)


async def test_enqueue_dequeue_stop_follow_the_status_rules(services: Services) -> None:
    q, exp = services.queues, services.tracking.experiments
    ada = await user(services, "ada@q.test")
    a, b = await tasks(services, ada, 2)

    done = await q.queueing.enqueue(ada, a)
    task = await exp.task_reads.get(ada, a)
    assert task.status is TaskStatus.QUEUED and task.enqueue_status == "created"
    assert task.execution["queue"] == done.queue.id and done.position == 0
    assert (await q.reads.position(ada, a)) is not None

    out = await q.queueing.dequeue(ada, a)
    assert out.removed == 1 and out.changed.updated == 1
    assert (await exp.task_reads.get(ada, a)).status is TaskStatus.CREATED
    assert await q.reads.num_entries(ada, done.queue.id) == 0

    await q.queueing.enqueue(ada, b)
    await q.queueing.stop(ada, b)
    assert (await exp.task_reads.get(ada, b)).status is TaskStatus.STOPPED
    assert await q.service.pop(done.queue.id) is None  # a stopped task left the queue

    await exp.tasks.started(ada, a)
    with pytest.raises(InvalidStatusChange):
        await q.queueing.enqueue(ada, a)  # in progress: no
    assert await q.reads.num_entries(ada, done.queue.id) == 0


async def test_a_deleted_or_reset_task_leaves_its_queue(services: Services) -> None:
    q, exp = services.queues, services.tracking.experiments
    ada = await user(services, "ada@q.test")
    a, b = await tasks(services, ada, 2)
    queue = (await q.queueing.enqueue(ada, a)).queue.id
    await q.queueing.enqueue(ada, b)

    await exp.tasks.reset(ada, a, force=True)
    await exp.tasks.delete(ada, [b], force=True)

    assert await q.reads.num_entries(ada, queue) == 0


async def test_users_cannot_queue_others_tasks(services: Services) -> None:
    q = services.queues
    ada, bob = await user(services, "ada@q.test"), await user(services, "bob@q.test")
    (task,) = await tasks(services, ada, 1)
    queue = (await q.reads.default(ada)).id

    for attempt in (
        q.queueing.enqueue(bob, task),
        q.queueing.dequeue(bob, task),
        q.queueing.stop(bob, task),
        q.service.add_task(bob, queue, task),
    ):
        with pytest.raises(TaskNotFound):
            await attempt
    await q.queueing.enqueue(ada, task)
    with pytest.raises(TaskNotFound):
        await q.service.move(bob, queue, task, Move.TO_BACK)
    with pytest.raises(QueueNotFound):
        await q.queueing.enqueue(ada, task, queue_name="nope")  # only admins create by name


async def test_delete_a_queue_with_tasks_needs_force(services: Services) -> None:
    q = services.queues
    boss = await admin(services)
    queue = await q.service.create(boss, "tmp")
    (task,) = await tasks(services, boss, 1)
    await q.queueing.enqueue(boss, task, queue_id=queue)

    with pytest.raises(QueueNotEmpty):
        await q.queueing.delete_queue(boss, queue, force=False)
    assert await q.queueing.delete_queue(boss, queue, force=True) == 1
    with pytest.raises(QueueNotFound):
        await q.reads.get(boss, queue)
    got = await services.tracking.experiments.task_reads.get(boss, task)
    assert got.status is TaskStatus.CREATED


async def test_workers_time_out_and_keep_stats(services: Services, clock: FakeClock) -> None:
    w = services.queues.workers
    ada = await user(services, "ada@q.test")
    (task,) = await tasks(services, ada, 1)
    await w.register(ada, "host:0", timeout_seconds=60, queues=["q1"])
    await w.register(ada, "host:1")
    for i in range(3):
        clock.advance(10)
        await w.report(ada, "host:0", task=task if i else None,
                       machine_stats={"cpu_usage": [10.0 * i, 30.0], "memory_used": 100 + i,
                                      "junk": "x"})  # fmt: skip

    assert {x.name for x in await w.all(ada)} == {"host:0", "host:1"}
    running = (await w.all(ada, names=["host:0"]))[0]
    assert running.task == task and running.queues == ["q1"]
    assert (await services.tracking.experiments.task_reads.get(ada, task)).last_worker == "host:0"
    since = clock.now().replace(year=2000)
    stats = await w.stats(ada, ["host:0"], since, clock.now(), 10**9,  # one bucket
                          [("cpu_usage", "max"), ("memory_used", "avg")])  # fmt: skip
    series = {(s.metric, s.variant): s for s in stats["host:0"]}
    assert series["cpu_usage", "total"].values["max"] == [25.0]
    assert series["memory_used", "total"].values["avg"] == [101.0]
    activity = await w.activity(ada, since, clock.now(), 10**9)
    assert activity.total == [1] and activity.active == [1]

    clock.advance(61)
    assert [x.name for x in await w.all(ada)] == ["host:1"]  # host:0 went silent
    await w.unregister(ada, "host:1")
    await w.unregister(ada, "never-was")
    assert await w.all(ada) == []
    with pytest.raises(TaskNotFound):
        await w.report(ada, "host:0", task="0" * 32)


async def test_queue_metrics_follow_length_and_wait(services: Services, clock: FakeClock) -> None:
    q = services.queues
    ada = await user(services, "ada@q.test")
    queue = (await q.reads.default(ada)).id
    start = clock.now()
    a, b = await tasks(services, ada, 2)
    await q.service.put(queue, a)
    clock.advance(100)
    await q.service.put(queue, b)
    clock.advance(100)
    await q.service.pop(queue)

    (series,) = await q.reads.metrics(ada, [queue], start, clock.now(), 10**9)  # one bucket
    assert series.queue_id == queue and len(series.dates) == 1
    assert series.lengths == [1] and series.wait_seconds == [100.0]  # the largest wait: b's
    (fine,) = await q.reads.metrics(ada, [queue], start, clock.now(), 1)
    assert fine.lengths == [1, 2, 1]
    assert fine.wait_seconds == [0.0, 50.0, 100.0]


async def test_racing_first_reports_make_one_worker(services: Services) -> None:
    w = services.queues.workers
    ada = await user(services, "ada@q.test")

    await asyncio.gather(*(w.report(ada, "new:0", machine_stats={"cpu_usage": [i]})
                           for i in range(8)))  # fmt: skip

    assert [x.name for x in await w.all(ada)] == ["new:0"]


async def test_discarding_many_tasks_across_queues(services: Services) -> None:
    q = services.queues
    boss = await admin(services)
    other = await q.service.create(boss, "other")
    default = (await q.reads.default(boss)).id
    ids = await tasks(services, boss, 6)
    for i, task in enumerate(ids):
        await q.service.put(default if i % 2 else other, task)

    removed = await asyncio.gather(q.service.discard(ids[:4]), q.service.discard(ids[::-1]))

    assert sum(removed) == 6
    assert await q.reads.num_entries(boss, default) == await q.reads.num_entries(boss, other) == 0


async def test_racing_enqueues_of_one_task_leave_one_entry(services: Services) -> None:
    q, exp = services.queues, services.tracking.experiments
    boss = await admin(services)
    other = await q.service.create(boss, "other")
    default = (await q.reads.default(boss)).id
    (task,) = await tasks(services, boss, 1)

    results = await asyncio.gather(
        *(q.queueing.enqueue(boss, task, queue_id=(default, other)[i % 2]) for i in range(8)),
        return_exceptions=True,
    )

    assert all(not isinstance(r, Exception) or isinstance(r, Conflict) for r in results), results
    counts = [await q.reads.num_entries(boss, x) for x in (default, other)]
    assert sorted(counts) == [0, 1]
    assert (await exp.task_reads.get(boss, task)).status is TaskStatus.QUEUED
