"""Two server processes on one database never both follow a queued task's run, and when
the one running it dies (its lease runs out) the other takes the run over and ends it
(SQLite and PostgreSQL)."""

from __future__ import annotations

import json
import uuid

from hangar.core.clock import FakeClock
from hangar.core.queues.executor import workspace as ws
from hangar.core.queues.executor.feed import QueueFeedOf
from hangar.core.queues.executor.ledger import RunLedger
from hangar.core.queues.executor.models import SYSTEM, Run, RunRecord
from hangar.core.queues.executor.service import Executor
from hangar.core.reconcile import Leases
from hangar.core.services import Services
from hangar.core.tracking.tasks.states import TaskStatus
from tests.component.test_executor_recovery import executor
from tests.component.test_queues import tasks, user


def other_process(services: Services, name: str) -> Executor:
    """An executor as another server process on another host would have it."""
    return Executor(
        services.settings, services.clock,
        feed=QueueFeedOf(services.queues.service, services.queues.reads),
        experiments=services.tracking.experiments, metrics=services.tracking.metrics,
        identity=services.identity, compute=services.compute,
        resources=services.admin.resources, bus=services.bus,
        ledger=RunLedger(services.sessions, services.clock, Leases(name), f"{name}:/data"),
    )  # fmt: skip


async def test_a_dead_processes_run_is_taken_over_by_one_other(
    services: Services, clock: FakeClock
) -> None:
    exp = services.tracking.experiments
    ada = await user(services, "ada@handoff.test")
    (task_id,) = await tasks(services, ada, 1)
    await exp.tasks.started(SYSTEM, task_id)
    await exp.tasks.change(SYSTEM, task_id, lambda t: {"last_worker": "hangar:default"})
    a, b, c = executor(services), other_process(services, "b"), other_process(services, "c")
    assert a._ledger is not None
    session = uuid.uuid4()  # a session no agent knows: it ended while nobody watched
    await a._ledger.open(RunRecord(task_id, ada.user_uuid, "default", "hangar:default", None,
                                   "AK-gone", session, "a:/data", clock.now()))  # fmt: skip
    a._runs[task_id] = Run(task_id, ada, "hangar:default", ws.run_files(a.base, task_id),
                           "AK-gone", session_id=session)  # fmt: skip

    await b.recover()
    assert b.running == {}  # a holds it and is alive
    clock.advance(30)
    await a.renew()
    clock.advance(40)
    await b.recover()
    assert b.running == {}  # a renewed its lease 40 s ago
    clock.advance(30)  # a died: its lease ran out
    await b.recover()
    await c.recover()
    assert set(b.running) == {task_id} and c.running == {}  # taken over once
    await a.renew()
    assert a.running == {}  # a stood still: the run is b's now, a leaves it alone

    await b.run_pass()
    task = await exp.task_reads.get(ada, task_id)
    assert task.status is TaskStatus.FAILED, task
    assert b.running == {} and not await b._ledger.known([task_id])  # type: ignore[union-attr]


async def test_a_run_adopted_from_its_directory_gets_a_lease(services: Services) -> None:
    exp = services.tracking.experiments
    ada = await user(services, "ada@handoff.test")
    (task_id,) = await tasks(services, ada, 1)
    await exp.tasks.started(SYSTEM, task_id)
    await exp.tasks.change(SYSTEM, task_id, lambda t: {"last_worker": "hangar:default"})
    a = executor(services)
    files = ws.run_files(a.base, task_id)  # a run from before the ledger: its directory only
    files.root.mkdir(parents=True)
    (files.root / "session").write_text(str(uuid.uuid4()))
    files.spec.write_text(json.dumps({"access_key": "AK-old"}))

    await a.recover()
    assert set(a.running) == {task_id}
    await a.renew()
    assert set(a.running) == {task_id}  # its lease is a's now, kept
    await other_process(services, "b").recover()
    assert set(a.running) == {task_id}
