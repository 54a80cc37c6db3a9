"""Projects and tasks in the tracking core over a real database (SQLite and PostgreSQL):
scoping by owner and domain, edit merge rules, compare-and-set writes under concurrency,
queries, and the cleanup told about deleted and reset tasks."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Collection
from datetime import datetime, timedelta
from typing import Any

import aiosqlite
import pytest

from hangar.core.clock import FakeClock
from hangar.core.errors import InvalidRequest
from hangar.core.principal import Principal, Role
from hangar.core.services import Services
from hangar.core.tracking import query as q
from hangar.core.tracking.contracts import MetricsSummary, TaskRef
from hangar.core.tracking.tasks.experiments import Experiments, NoSummaries, build_experiments
from hangar.core.tracking.tasks.models import ProjectExists, ProjectNotFound, TaskNotFound
from hangar.core.tracking.tasks.reads import TaskDirectory
from hangar.core.tracking.tasks.states import InvalidStatusChange, TaskStatus
from hangar.core.tracking.tasks.watchdog import REASON
from tests.component.test_bai_graphql import account
from tests.component.test_compute_statements import counted


class RecordingCleanup:
    def __init__(self) -> None:
        self.told: list[set[str]] = []

    async def tasks_deleted(self, tasks: Collection[TaskRef]) -> None:
        self.told.append({t.id for t in tasks})


@pytest.fixture
def cleanup() -> RecordingCleanup:
    return RecordingCleanup()


@pytest.fixture
def exp(services: Services, clock: FakeClock, cleanup: RecordingCleanup) -> Experiments:
    return build_experiments(
        services.sessions, clock, access=TaskDirectory(services.sessions),
        summaries=NoSummaries(), cleanups=[cleanup],
    )  # fmt: skip


async def user(services: Services, email: str, **kw: Any) -> Principal:
    return (await account(services, email, **kw)).caller


async def test_projects_are_per_owner_and_nested(services: Services, exp: Experiments) -> None:
    ada = await user(services, "ada@t.test")
    bob = await user(services, "bob@t.test")
    deep = await exp.projects.create(ada, "a/b/c", description="deep")
    again = await exp.projects.create(bob, "a/b/c")  # the same name, another owner

    assert again != deep
    ada_projects = {p.name: p for p in await exp.project_reads.all(ada)}
    assert set(ada_projects) == {"a", "a/b", "a/b/c"}
    assert ada_projects["a/b/c"].parent == ada_projects["a/b"].id
    assert ada_projects["a/b/c"].basename == "c" and ada_projects["a/b/c"].description == "deep"
    with pytest.raises(ProjectExists):
        await exp.projects.create(ada, "a/b/c")
    assert await exp.projects.create(ada, "a/b/c", exist_ok=True) == deep
    with pytest.raises(ProjectNotFound):
        await exp.project_reads.get(bob, deep)


async def test_tasks_are_scoped_to_owner_and_domain_admins(
    services: Services, exp: Experiments
) -> None:
    ada = await user(services, "ada@t.test")
    bob = await user(services, "bob@t.test")
    boss = await user(services, "boss@t.test", role=Role.ADMIN, is_admin=True)
    project = await exp.projects.create(ada, "p")
    task = await exp.tasks.create(ada, name="t", type="training", project=project)

    assert (await exp.task_reads.get(ada, task)).project == project
    assert (await exp.task_reads.get(boss, task)).id == task
    with pytest.raises(TaskNotFound):
        await exp.task_reads.get(bob, task)
    with pytest.raises(TaskNotFound):
        await exp.tasks.edit(bob, task, {"comment": "x"}, force=True)
    with pytest.raises(ProjectNotFound):
        await exp.tasks.create(bob, name="t", type="training", project=project)
    assert await exp.access.readable(bob, [task]) == {}
    refs = await exp.access.writable(ada, [task, "0" * 32])
    assert set(refs) == {task} and refs[task].project_name == "p"


async def test_edit_merges_objects_and_replaces_maps(services: Services, exp: Experiments) -> None:
    ada = await user(services, "ada@t.test")
    task = await exp.tasks.create(
        ada, name="t", type="training",
        documents={"script": {"binary": "python3", "entry_point": "a.py"},
                   "hyperparams": {"S": {"a": {"section": "S", "name": "a", "value": "1"}}}},
    )  # fmt: skip
    params = {"T.x": {"b$c": {"section": "T.x", "name": "b$c", "value": "2"}}}
    await exp.tasks.edit(
        ada, task, {"script": {"entry_point": "b.py"}, "hyperparams": params}, force=False
    )

    got = await exp.task_reads.get(ada, task)
    assert got.script == {"binary": "python3", "entry_point": "b.py"}
    assert got.hyperparams == params  # replaced whole; odd names kept as sent
    await exp.tasks.started(ada, task)
    with pytest.raises(InvalidStatusChange):
        await exp.tasks.edit(ada, task, {"comment": "x"}, force=False)


async def test_concurrent_writes_lose_nothing(services: Services, exp: Experiments) -> None:
    ada = await user(services, "ada@t.test")
    task = await exp.tasks.create(ada, name="t", type="training")

    def adding(key: str) -> Any:
        def change(t: Any) -> dict[str, Any]:
            artifacts = [*t.execution["artifacts"], {"key": key, "type": "str", "mode": "output"}]
            return {"execution": {**t.execution, "artifacts": artifacts}}

        return change

    await asyncio.gather(*(
        exp.tasks.update_fields(ada, task, adding(f"k{i}"), force=False) for i in range(8)
    ))  # fmt: skip

    got = await exp.task_reads.get(ada, task)
    assert sorted(a["key"] for a in got.execution["artifacts"]) == [f"k{i}" for i in range(8)]


async def test_queries_filter_order_and_page(services: Services, exp: Experiments) -> None:
    ada = await user(services, "ada@t.test")
    for i, tags in enumerate((["x"], ["y"], ["x", "y"])):
        await exp.tasks.create(ada, name=f"run {i}", type="training", tags=tags)

    query = q.Query(
        (q.InList("tags", (q.Term("x"),)), q.Matches("name", re.compile("run"))),
        order=(("name", True),), offset=0, limit=1, fields=("name", "tags"),
    )  # fmt: skip
    docs = await exp.task_reads.search(ada, query)
    assert [(d["name"], d["tags"]) for d in docs] == [("run 2", ["x", "y"])]
    assert set(docs[0]) == {"id", "name", "tags"}


async def test_delete_and_reset_tell_the_cleanup(
    services: Services, exp: Experiments, cleanup: RecordingCleanup
) -> None:
    ada = await user(services, "ada@t.test")
    parent = await exp.tasks.create(ada, name="p", type="training")
    child = await exp.tasks.clone(ada, parent, overrides={})
    await exp.tasks.started(ada, child)
    await exp.tasks.finished(ada, child, TaskStatus.COMPLETED)

    reset = await exp.tasks.reset(ada, child, force=False)
    children = (await exp.tasks.delete(ada, [parent], force=False)).children

    assert reset.values["status"] == "created" and reset.values["started"] is None
    assert children == 1 and (await exp.task_reads.get(ada, child)).parent is None
    assert cleanup.told == [{child}, {parent}]
    with pytest.raises(TaskNotFound):
        await exp.task_reads.get(ada, parent)


async def test_parents_must_be_visible_and_long_names_are_refused(
    services: Services, exp: Experiments
) -> None:
    ada = await user(services, "ada@t.test")
    bob = await user(services, "bob@t.test")
    theirs = await exp.tasks.create(bob, name="b", type="training")
    mine = await exp.tasks.create(ada, name="a", type="training")

    with pytest.raises(TaskNotFound):
        await exp.tasks.create(ada, name="c", type="training", parent=theirs)
    with pytest.raises(TaskNotFound):
        await exp.tasks.edit(ada, mine, {"parent": "x" * 100}, force=True)
    with pytest.raises(InvalidRequest):
        await exp.projects.create(ada, "ok/" + "y" * 256)
    assert (await exp.task_reads.get(ada, mine)).parent is None


async def test_an_administrator_finds_its_own_project_first(
    services: Services, exp: Experiments
) -> None:
    ada = await user(services, "ada@t.test")
    boss = await user(services, "boss@t.test", role=Role.ADMIN, is_admin=True)
    theirs = await exp.projects.create(ada, "demo")
    own = await exp.projects.create(boss, "demo")

    found = await exp.project_reads.search(
        boss, q.Query((q.Matches("name", re.compile("^demo$")),))
    )
    assert [p["id"] for p in found] == [own, theirs]
    assert [p["id"] for p in await exp.project_reads.search(ada, q.Query())] == [theirs]


async def test_task_creation_is_one_commit_of_two_statements(
    services: Services, exp: Experiments
) -> None:
    ada = await user(services, "ada@t.test")
    project = await exp.projects.create(ada, "budget")

    with counted(services) as statements, counted(services, "commit") as commits:
        await exp.tasks.create(ada, name="t", type="training", project=project,
                               system_tags=["development"], comment="c")  # fmt: skip

    assert len(statements) == 2, statements  # the project's visibility, the insert
    assert len(commits) == 1


class EventTimes:
    """Metric summaries whose only content is when each task last reported an event."""

    def __init__(self) -> None:
        self.last: dict[str, datetime] = {}

    async def summaries(self, ids: Collection[str]) -> dict[str, MetricsSummary]:
        return {i: MetricsSummary(last_update=self.last[i]) for i in ids if i in self.last}


async def test_the_watchdog_stops_tasks_that_went_silent(
    services: Services, clock: FakeClock
) -> None:
    events = EventTimes()
    exp = build_experiments(
        services.sessions, clock, access=TaskDirectory(services.sessions),
        summaries=events, cleanups=[], silent_after=7200, watch_every=900,
    )  # fmt: skip
    ada = await user(services, "ada@watch.test")
    silent, pinging, reporting, created = [
        await exp.tasks.create(ada, name=n, type="training") for n in "abcd"
    ]
    for task in (silent, pinging, reporting):
        await exp.tasks.started(ada, task)
    clock.advance(3600)
    await exp.tasks.ping(ada, pinging)
    clock.advance(3601)  # the silent task: 7201 s without a word
    events.last[reporting] = clock.now() - timedelta(seconds=10)

    assert await exp.watchdog.run_once() == 1
    got = {t: await exp.task_reads.get(ada, t) for t in (silent, pinging, reporting, created)}
    assert got[silent].status is TaskStatus.STOPPED
    assert got[silent].status_reason == got[silent].status_message == REASON
    assert got[silent].completed == clock.now()
    assert {got[t].status for t in (pinging, reporting)} == {TaskStatus.IN_PROGRESS}
    assert got[created].status is TaskStatus.CREATED

    clock.advance(3600)  # now the pinged task is silent too; the reporting one is not yet
    assert await exp.watchdog.run_once() == 1
    assert (await exp.task_reads.get(ada, pinging)).status is TaskStatus.STOPPED
    assert (await exp.task_reads.get(ada, reporting)).status is TaskStatus.IN_PROGRESS
    assert await exp.watchdog.run_once() == 0


async def test_task_creation_runs_on_the_loop_thread_on_sqlite(
    services: Services, exp: Experiments, monkeypatch: pytest.MonkeyPatch
) -> None:
    if services.engine.dialect.name != "sqlite":
        pytest.skip("SQLite's worker thread only")
    ada = await user(services, "ada@t.test")
    project = await exp.projects.create(ada, "hops")
    await exp.tasks.create(ada, name="warm", type="training", project=project)
    hops: list[Any] = []
    to_worker = aiosqlite.Connection._execute

    async def counting(self: aiosqlite.Connection, fn: Any, *args: Any, **kw: Any) -> Any:
        hops.append(getattr(fn, "__name__", fn))
        return await to_worker(self, fn, *args, **kw)

    monkeypatch.setattr(aiosqlite.Connection, "_execute", counting)
    for i in range(3):
        await exp.tasks.create(ada, name=f"t{i}", type="training", project=project)

    assert hops == []  # no thread hop: a busy loop gives the GIL up only every 5 ms
