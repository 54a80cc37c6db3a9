"""An acknowledged stop is never lost: a stop that reaches a task after a worker popped it,
or after the worker started it but before the task's own ``Task.init``, survives every
later move to in_progress (the agent's forced ``tasks.started`` calls, its ``tasks.dequeue
{new_status: in_progress}``, the SDK's ``tasks.started``) until the task ends stopped; a
popped task that was stopped meanwhile is skipped and stays stopped."""

from __future__ import annotations

from hangar.core.clock import FakeClock
from hangar.core.queues.executor import plan as p
from hangar.core.queues.executor.models import SYSTEM, ServedQueue
from hangar.core.services import Services
from hangar.core.tracking.tasks.states import STOPPING, TaskStatus
from tests.component.test_executor_recovery import executor
from tests.component.test_queues import tasks, user


async def test_a_stop_after_the_executor_started_the_task_outlives_task_init(
    services: Services,
) -> None:
    exp, q = services.tracking.experiments, services.queues
    ada = await user(services, "ada@stop.test")
    (task_id,) = await tasks(services, ada, 1)
    await exp.tasks.started(SYSTEM, task_id)
    await exp.tasks.change(SYSTEM, task_id, lambda t: {"last_worker": "hangar:default"})

    asked = await q.queueing.stop(ada, task_id)
    assert asked.values["status_message"] == STOPPING
    await exp.tasks.started(ada, task_id)  # the task's own Task.init (force false)
    task = await exp.task_reads.get(ada, task_id)
    assert (task.status, task.status_message) == (TaskStatus.IN_PROGRESS, STOPPING)
    assert p.stop_requested(task.status.value, task.status_message)  # the executor acts
    await exp.tasks.finished(SYSTEM, task_id, TaskStatus.STOPPED, force=True, message="done")
    assert (await exp.task_reads.get(ada, task_id)).status_message == "done"


async def test_a_stop_between_an_agents_pop_and_its_start_wins(services: Services) -> None:
    exp, q = services.tracking.experiments, services.queues
    ada = await user(services, "ada@stop.test")
    (task_id,) = await tasks(services, ada, 1)
    queue = (await q.queueing.enqueue(ada, task_id)).queue.id
    assert (await q.service.pop(queue)) is not None  # an agent holds it now

    asked = await q.queueing.stop(ada, task_id)
    assert asked.values["status_message"] == STOPPING
    assert (await exp.task_reads.get(ada, task_id)).status is TaskStatus.QUEUED
    # the agent's sequence (spec 5.2): none of it may clear the request
    await exp.tasks.started(ada, task_id, force=True, message="pulled by agent")
    await q.queueing.dequeue(ada, task_id, new_status=TaskStatus.IN_PROGRESS)
    await exp.tasks.started(ada, task_id, force=True, reason="worker started execution",
                            message="Changed by clearml-agent box:0")  # fmt: skip
    await exp.tasks.started(ada, task_id)  # the SDK inside the run
    task = await exp.task_reads.get(ada, task_id)
    assert (task.status, task.status_message) == (TaskStatus.IN_PROGRESS, STOPPING)
    await exp.tasks.finished(ada, task_id, TaskStatus.STOPPED, reason="task was stopped")
    assert (await exp.task_reads.get(ada, task_id)).status is TaskStatus.STOPPED


async def test_a_task_stopped_after_the_executors_pop_never_runs(services: Services) -> None:
    exp, q = services.tracking.experiments, services.queues
    ada = await user(services, "ada@stop.test")
    (task_id,) = await tasks(services, ada, 1)
    queue = (await q.queueing.enqueue(ada, task_id)).queue.id
    await q.service.pop(queue)
    await q.queueing.stop(ada, task_id)

    assert await executor(services).start(ServedQueue(queue, "default"), task_id) is False
    task = await exp.task_reads.get(ada, task_id)
    assert task.status is TaskStatus.STOPPED and task.status_message != STOPPING
    assert executor(services).running == {}


async def test_a_stopped_pop_that_nobody_started_ends_stopped(
    services: Services, clock: FakeClock
) -> None:
    exp, q = services.tracking.experiments, services.queues
    ada = await user(services, "ada@stop.test")
    (task_id,) = await tasks(services, ada, 1)
    queue = (await q.queueing.enqueue(ada, task_id)).queue.id
    await q.service.pop(queue)  # and the server that popped it died
    await q.queueing.stop(ada, task_id)
    clock.advance(31)

    assert await executor(services).requeue_lost() == 0  # not put back: it was stopped
    assert (await exp.task_reads.get(ada, task_id)).status is TaskStatus.STOPPED
    assert await q.reads.num_entries(ada, queue) == 0


async def test_a_popped_task_stopped_meanwhile_is_skipped_for_the_next(
    services: Services,
) -> None:
    exp, q = services.tracking.experiments, services.queues
    ada = await user(services, "ada@stop.test")
    stopped, asked, waiting = await tasks(services, ada, 3)
    queue = (await q.queueing.enqueue(ada, stopped)).queue.id
    for task_id in (asked, waiting):
        await q.queueing.enqueue(ada, task_id)
    await exp.tasks.finished(ada, stopped, TaskStatus.STOPPED)  # its entry stays
    await exp.tasks.move(ada, asked, TaskStatus.QUEUED, message=STOPPING)  # a stop that
    # came between its enqueue's status move and its entry

    claimed = []
    while (entry := await q.service.pop(queue)) is not None:
        claimed.append(await q.queueing.claim(ada, entry))
    assert [t.id if t else None for t in claimed] == [None, None, waiting]
    for task_id in (stopped, asked):
        task = await exp.task_reads.get(ada, task_id)
        assert task.status is TaskStatus.STOPPED and task.status_message != STOPPING


async def test_a_stop_after_an_agents_first_start_before_its_report_wins(
    services: Services,
) -> None:
    exp, q = services.tracking.experiments, services.queues
    ada = await user(services, "ada@stop.test")
    (task_id,) = await tasks(services, ada, 1)
    queue = (await q.queueing.enqueue(ada, task_id)).queue.id
    assert (await q.service.pop(queue)) is not None
    await exp.tasks.started(ada, task_id, force=True, message="pulled by agent")  # no
    # last_worker yet: the agent's status report comes next

    asked = await q.queueing.stop(ada, task_id)
    assert asked.values["status_message"] == STOPPING
    await exp.tasks.started(ada, task_id, force=True, message="launch by agent")
    task = await exp.task_reads.get(ada, task_id)
    assert (task.status, task.status_message) == (TaskStatus.IN_PROGRESS, STOPPING)


async def test_a_worker_less_task_that_never_was_queued_stops_now(services: Services) -> None:
    exp, q = services.tracking.experiments, services.queues
    ada = await user(services, "ada@stop.test")
    (task_id,) = await tasks(services, ada, 1)
    await exp.tasks.started(ada, task_id)

    await q.queueing.stop(ada, task_id)
    assert (await exp.task_reads.get(ada, task_id)).status is TaskStatus.STOPPED
