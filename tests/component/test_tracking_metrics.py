"""The metrics part on a real database: writes, overwrites, aggregates, reads, scoping."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Collection
from datetime import UTC, datetime

import pytest

from hangar.core.clock import FakeClock
from hangar.core.errors import NotFound
from hangar.core.principal import Credential, CredentialKind, Principal, Role
from hangar.core.tracking.contracts import TaskId, TaskRef
from hangar.core.tracking.metrics.models import (
    SINGLE_VALUE_ITER,
    EventKind,
    ImageIn,
    LogIn,
    PlotIn,
    ScalarIn,
    XAxis,
)
from hangar.core.tracking.metrics.reads import MetricsReads, ScalarPage
from hangar.core.tracking.metrics.service import MetricsService
from hangar.db.engine import create_engine, make_sessionmaker, migrate

ALICE = uuid.UUID(int=1)
BOB = uuid.UUID(int=2)
T1 = "a" * 32
T2 = "b" * 32
BOBS = "c" * 32


def principal(user: uuid.UUID) -> Principal:
    return Principal(
        user_uuid=user, email=f"{user.int}@x", domain_name="default", role=Role.USER,
        credential=Credential(CredentialKind.CLEARML_JWT, str(user.int)),
    )  # fmt: skip


class FakeAccess:
    """Tasks owned by users; each user reads and writes only their own."""

    def __init__(self, owners: dict[TaskId, uuid.UUID]) -> None:
        self.owners = owners

    async def readable(self, who: Principal, ids: Collection[TaskId]) -> dict[TaskId, TaskRef]:
        return {
            t: TaskRef(t, "task", None, "p", str(self.owners[t]), "default")
            for t in ids
            if self.owners.get(t) == who.user_uuid
        }

    writable = readable


class Part:
    def __init__(
        self, service: MetricsService, reads: MetricsReads, access: FakeAccess, clock: FakeClock
    ) -> None:
        self.service, self.reads, self.access, self.clock = service, reads, access, clock


@pytest.fixture
async def part(database_url: str) -> AsyncIterator[Part]:
    engine = create_engine(database_url)
    await migrate(engine)
    sessions = make_sessionmaker(engine)
    access = FakeAccess({T1: ALICE, T2: ALICE, BOBS: BOB})
    clock = FakeClock(datetime(2026, 12, 6, tzinfo=UTC))
    yield Part(
        MetricsService(sessions, clock, access), MetricsReads(sessions, access), access, clock
    )
    await engine.dispose()


def scalar(it: int, value: float, task: str = T1, ts: int = 1000, variant: str = "v") -> ScalarIn:
    return ScalarIn(task, "loss", variant, it, value, ts + it)


async def test_points_are_stored_and_reporting_again_overwrites(part: Part) -> None:
    alice = principal(ALICE)
    result = await part.service.add(alice, [scalar(i, float(i)) for i in range(10)])
    assert (result.added, result.errors) == (10, 0)
    await part.service.add(alice, [scalar(3, 20.0), scalar(10, 1.5), scalar(3, 30.0)])

    [series] = await part.reads.histograms(alice, [T1], samples=None, axis=XAxis.ITER)
    assert series.x == list(range(11))
    assert series.y[3] == 30.0 and series.y[10] == 1.5


async def test_last_metrics_follow_the_rules_of_the_aggregation(part: Part) -> None:
    alice = principal(ALICE)
    await part.service.add(alice, [scalar(5, 2.0), scalar(2, 7.0), scalar(9, -1.0)])
    await part.service.add(alice, [scalar(1, 4.0), scalar(9, 3.0, ts=5000)])
    await part.service.add(alice, [ScalarIn(T1, "Summary", "acc", SINGLE_VALUE_ITER, 0.9, 1)])

    summary = (await part.service.summaries([T1, BOBS]))[T1]
    assert summary.last_iteration == 9  # the single value's iteration does not count
    by_name = {
        (e["metric"], e["variant"]): e for m in summary.last_metrics.values() for e in m.values()
    }
    loss = by_name[("loss", "v")]
    assert loss["value"] == 3.0  # greatest (iter, timestamp)
    assert (loss["min_value"], loss["min_value_iteration"]) == (-1.0, 9)
    assert (loss["max_value"], loss["max_value_iteration"]) == (7.0, 2)
    assert (loss["first_value"], loss["first_value_iteration"]) == (4.0, 1)
    assert loss["count"] == 5 and loss["mean_value"] == pytest.approx(15.0 / 5)
    assert by_name[("Summary", "acc")]["value"] == 0.9
    assert BOBS not in await part.service.summaries([BOBS])


async def test_downsampling_averages_equal_intervals(part: Part) -> None:
    alice = principal(ALICE)
    await part.service.add(alice, [scalar(i, float(i)) for i in range(1000)])
    [series] = await part.reads.histograms(alice, [T1], samples=10, axis=XAxis.ITER)
    assert series.x == [i * 100 for i in range(10)]
    assert series.y == [pytest.approx(i * 100 + 49.5) for i in range(10)]
    [full] = await part.reads.histograms(alice, [T1], samples=5000, axis=XAxis.ITER)
    assert len(full.x) == 1000


async def test_other_users_tasks_are_neither_written_nor_read(part: Part) -> None:
    alice, bob = principal(ALICE), principal(BOB)
    result = await part.service.add(bob, [scalar(1, 1.0, task=T1), scalar(1, 1.0, task=BOBS)])
    assert (result.added, result.errors) == (1, 1)
    assert await part.reads.histograms(alice, [T1], samples=None, axis=XAxis.ITER) == []
    with pytest.raises(NotFound):
        await part.reads.histograms(alice, [BOBS], samples=None, axis=XAxis.ITER)
    with pytest.raises(NotFound):
        await part.service.delete_for_task(alice, BOBS)


async def test_plots_images_and_logs(part: Part) -> None:
    alice = principal(ALICE)
    big = '{"data": [' + ",".join(["1"] * 60000) + "]}"
    await part.service.add(
        alice,
        [
            PlotIn(T1, "p", "a", 1, 1, "w", '{"data": []}'),
            PlotIn(T1, "p", "a", 2, 2, "w", big),
            ImageIn(T1, "img", "x", 1, 1, "w", "k1", "http://f/k1"),
            ImageIn(T1, "img", "x", 2, 2, "w", "k2", "http://f/k2"),
            *[LogIn(T1, 100 + i, "info", "w", f"line {i}") for i in range(5)],
        ],
    )
    [plot] = await part.reads.latest(alice, EventKind.PLOT, [T1], 1)
    assert plot.iter == 2 and plot.plot == big
    newest = await part.reads.iterations(
        alice, EventKind.IMAGE, T1, metric="img", variants=["x"], iters=1, beyond=None
    )
    assert [(it, [e.url for e in evs]) for it, evs in newest] == [(2, ["http://f/k2"])]
    older = await part.reads.iterations(
        alice, EventKind.IMAGE, T1, metric="img", variants=["x"], iters=1, beyond=2
    )
    assert [it for it, _ in older] == [1]
    lines, total = await part.reads.log_lines(alice, T1, 2, earlier=True)
    assert [e.msg for e in lines] == ["line 4", "line 3"] and total == 5
    assert await part.service.delete_for_task(alice, T1) == 2 + 2 + 5
    assert (await part.reads.log_lines(alice, T1, 2, earlier=True))[1] == 0


async def test_deleted_tasks_lose_their_events(part: Part) -> None:
    alice = principal(ALICE)
    await part.service.add(alice, [scalar(i, 1.0, task=t) for t in (T1, T2) for i in range(3)])
    await part.service.tasks_deleted([TaskRef(T1, "t", None, "p", str(ALICE), "default")])
    assert await part.reads.histograms(alice, [T1], samples=None, axis=XAxis.ITER) == []
    assert len(await part.reads.histograms(alice, [T2], samples=None, axis=XAxis.ITER)) == 1
    assert T1 not in await part.service.summaries([T1])


async def test_a_batch_of_many_series_and_tasks_is_stored(part: Part) -> None:
    """Thousands of series and tasks in one batch: looked up in bounded chunks."""
    owners = {f"{i:032x}": ALICE for i in range(1200)}
    part.access.owners.update(owners)
    points = [ScalarIn(t, f"m{i % 700}", "v", 1, 1.0, 1) for i, t in enumerate(owners)]
    points += [ScalarIn(T1, f"metric {i}", "v", 2, 2.0, 1) for i in range(2500)]
    result = await part.service.add(principal(ALICE), points)
    assert (result.added, result.errors) == (3700, 0)
    summaries = await part.service.summaries([T1, *list(owners)[:3]])
    assert summaries[T1].last_iteration == 2
    assert sum(len(variants) for variants in summaries[T1].last_metrics.values()) == 2000
    assert len(summaries) == 4


async def test_scalar_pages_read_one_series_or_several_in_order(part: Part) -> None:
    alice = principal(ALICE)
    points = [scalar(i, i / 2, variant=v) for v in ("a", "b") for i in range(5)]
    await part.service.add(alice, [*points, ScalarIn(T1, "acc", "x", 0, 1.0, 5)])

    def seen(pages: list[ScalarPage]) -> list[tuple[str, int, float | None]]:
        return [
            (run.variant, it, value)
            for page in pages
            for run in page.runs
            for it, value, _, _stamp in run.rows
        ]

    for metric, variants in (("loss", ("b", "a")), ("acc", ("x",))):
        pages, after = [], None
        while True:
            page = await part.reads.scalar_page(
                alice, T1, metric=metric, after=after, limit=3, descending=True
            )
            pages.append(page)
            after = page.after
            if after is None:
                break
        expected = [(v, i, i / 2 if v != "x" else 1.0) for v in variants
                    for i in range(4 if v != "x" else 0, -1, -1)]  # fmt: skip
        assert seen(pages) == expected
        assert {page.total for page in pages} == {len(expected)}
    whole = await part.reads.scalar_page(alice, T1, metric="acc", limit=10)
    assert (whole.total, whole.after, whole.runs[0].rows) == (1, None, [(0, 1.0, None, 5)])


async def test_plot_samples_come_by_key_and_only_from_their_task(part: Part) -> None:
    alice = principal(ALICE)
    await part.service.add(
        alice,
        [
            PlotIn(T1, "p", "b", 2, 1, "w", '{"n": "p/b@2"}'),
            PlotIn(T1, "p", "a", 2, 2, "w", '{"n": "p/a@2"}'),
            PlotIn(T1, "q", "a", 1, 3, "w", '{"n": "q/a@1"}'),
            PlotIn(T2, "p", "a", 2, 4, "w", '{"n": "other task"}'),
        ],
    )
    keys = await part.reads.sample_keys(alice, EventKind.PLOT, T1)
    assert [(k.iter, k.metric, k.variant) for k in keys] == [(1, "q", "a"), (2, "p", "a"),
                                                             (2, "p", "b")]  # fmt: skip
    others = await part.reads.sample_keys(alice, EventKind.PLOT, T2)
    found = await part.reads.samples(alice, EventKind.PLOT, T1, [k.id for k in keys + others])
    assert [e.plot for e in found] == ['{"n": "p/b@2"}', '{"n": "p/a@2"}', '{"n": "q/a@1"}']
    with pytest.raises(NotFound):
        await part.reads.samples(principal(BOB), EventKind.PLOT, T1, [k.id for k in keys])
