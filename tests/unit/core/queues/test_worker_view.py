"""What a viewer sees of a worker: Hangar's own executor under a neutral name (never the
user whose task it runs), a real agent under the user it registered as, and a current task
(and the queue it came from) only where the viewer may see that task."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from hangar.core.queues.models import Worker
from hangar.core.queues.workers import HANGAR_WORKER_TAG, HANGAR_WORKER_USER, as_seen

T0 = datetime(2026, 1, 1, tzinfo=UTC)
ALICE = uuid.uuid4()


def worker(name: str, system_tags: list[str]) -> Worker:
    return Worker(
        key=1, name=name, company="default", user=ALICE, ip="", tags=[],
        system_tags=system_tags, queues=["q1"], queue="q1", task="t1", timeout_seconds=600,
        register_time=T0, last_activity_time=T0, last_report_time=T0,
    )  # fmt: skip


def test_hangars_executor_never_shows_the_tasks_owner() -> None:
    seen = as_seen(worker("hangar:default", [HANGAR_WORKER_TAG]), {"t1"}, {ALICE: "alice"})
    assert (seen.user, seen.user_name) == (None, HANGAR_WORKER_USER)
    assert (seen.task, seen.queue, seen.runs_unseen) == (None, None, True)
    assert seen.queues == ["q1"]


def test_a_real_agent_keeps_its_user_and_shows_a_task_the_viewer_sees() -> None:
    seen = as_seen(worker("alice-laptop", []), set(), {ALICE: "alice"})
    assert (seen.user, seen.user_name) == (ALICE, "alice")
    assert (seen.task, seen.queue, seen.runs_unseen) == ("t1", "q1", False)


def test_a_real_agent_running_an_unseen_task_shows_busy_without_it() -> None:
    seen = as_seen(worker("alice-laptop", []), {"t1"}, {ALICE: "alice"})
    assert (seen.user_name, seen.task, seen.queue, seen.runs_unseen) == ("alice", None, None, True)
