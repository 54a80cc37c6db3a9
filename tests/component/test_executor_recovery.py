"""What the executor does with what a dead server left: tasks popped but never started go
back to their queue; runs of other server processes are left alone; a run that died before
its session started fails."""

from __future__ import annotations

from typing import Any

from hangar.core.clock import FakeClock
from hangar.core.queues.executor import workspace as ws
from hangar.core.queues.executor.endings import Endings
from hangar.core.queues.executor.feed import QueueFeedOf
from hangar.core.queues.executor.models import SYSTEM, Run, ServedQueue
from hangar.core.queues.executor.service import Executor
from hangar.core.services import Services
from hangar.core.tracking.tasks.states import TaskStatus
from tests.component.test_queues import tasks, user


def executor(services: Services) -> Executor:
    assert services.executor is not None
    return services.executor


async def test_a_task_popped_but_never_started_goes_back_to_its_queue(
    services: Services, clock: FakeClock
) -> None:
    ada = await user(services, "ada@x.test")
    lost, waiting = await tasks(services, ada, 2)
    default = await services.queues.reads.default(ada)
    await services.queues.queueing.enqueue(ada, waiting, queue_id=default.id)

    def queued(task: Any) -> dict[str, Any]:
        return {"execution": {**task.execution, "queue": default.id}}

    move = services.tracking.experiments.tasks.move
    await move(ada, lost, TaskStatus.QUEUED, extra=queued)  # as if its pop died with a server
    assert await executor(services).requeue_lost() == 0  # too recent: maybe being started
    clock.advance(31)
    assert await executor(services).requeue_lost() == 1
    entries = [e.task_id for e in (await services.queues.reads.get(ada, default.id)).entries]
    assert entries == [waiting, lost]
    clock.advance(31)
    assert await executor(services).requeue_lost() == 0  # in its queue now: left there


async def test_recovery_leaves_other_processes_runs_and_fails_unstarted_ones(
    services: Services,
) -> None:
    ada = await user(services, "ada@x.test")
    elsewhere, unstarted = await tasks(services, ada, 2)
    experiments = services.tracking.experiments
    for task_id in (elsewhere, unstarted):
        await experiments.tasks.started(SYSTEM, task_id)
        await experiments.tasks.change(SYSTEM, task_id, lambda t: {"last_worker": "hangar:x"})
    files = ws.run_files(executor(services).base, unstarted)
    files.root.mkdir(parents=True)  # its directory, but no session yet
    await executor(services).recover()
    found = {t.id: t for t in await experiments.task_reads.find(SYSTEM, [elsewhere, unstarted])}
    assert found[elsewhere].status is TaskStatus.IN_PROGRESS
    assert found[unstarted].status is TaskStatus.FAILED
    assert "before the task's session started" in found[unstarted].status_reason
    assert not files.root.exists()


async def test_a_popped_task_that_is_no_longer_queued_is_skipped(services: Services) -> None:
    ada = await user(services, "ada@x.test")
    (created,) = await tasks(services, ada, 1)  # dequeued between its enqueue's two steps
    queue = ServedQueue("q" * 32, "default")
    assert await executor(services).start(queue, created) is False
    found = await services.tracking.experiments.task_reads.find(SYSTEM, [created])
    assert found[0].status is TaskStatus.CREATED
    assert executor(services).running == {}


async def test_a_session_that_died_before_the_launcher_called_in_is_queued_again(
    services: Services, clock: FakeClock
) -> None:
    ada = await user(services, "ada@x.test")
    (task_id,) = await tasks(services, ada, 1)
    default = await services.queues.reads.default(ada)
    await services.tracking.experiments.tasks.started(SYSTEM, task_id)
    feed = QueueFeedOf(services.queues.service, services.queues.reads)
    endings = Endings(services.tracking.experiments.tasks, services.tracking.metrics, feed, clock)
    files = ws.run_files(executor(services).base, task_id)
    run = Run(task_id, ada, "hangar:default", files, "AK", queue_ids=[default.id])
    for _ in range(2):  # the sandbox could not start: the task's code never ran
        assert await endings.again(run, contacted=False)
        queue = await services.queues.reads.get(ada, default.id)
        assert [e.task_id for e in queue.entries] == [task_id]
        await services.queues.service.pop(default.id)
    assert not await endings.again(run, contacted=False)  # twice is enough: it fails
    assert not await endings.again(run, contacted=True)  # its code ran: its exit code counts
    (found,) = await services.tracking.experiments.task_reads.find(SYSTEM, [task_id])
    assert found.status is TaskStatus.QUEUED
    lines, _ = await services.tracking.metric_reads.log_lines(SYSTEM, task_id, 10, earlier=True)
    assert sum("queued again" in (e.msg or "") for e in lines) == 2


async def test_heartbeat_keeps_running_tasks_alive_and_the_worker_listed(
    services: Services, clock: FakeClock
) -> None:
    ada = await user(services, "ada@x.test")
    (task_id,) = await tasks(services, ada, 1)
    await services.tracking.experiments.tasks.started(SYSTEM, task_id)
    clock.advance(3 * 3600)  # longer than the watchdog lets a silent task run
    default = await services.queues.reads.default(ada)
    files = ws.run_files(executor(services).base, task_id)
    run = Run(task_id, ada, "hangar:default", files, "AK", queue_ids=[default.id])
    executor(services)._runs[task_id] = run  # as if it ran
    await executor(services).heartbeat()
    (found,) = await services.tracking.experiments.task_reads.find(SYSTEM, [task_id])
    assert found.last_update == clock.now()
    assert found.last_worker == "hangar:default"
    workers = await services.queues.workers.all(ada)
    assert [w.name for w in workers] == ["hangar:default"]
