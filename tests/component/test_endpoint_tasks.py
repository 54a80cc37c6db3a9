"""The QUEUE dispatcher and webhook deliveries on a real database with fake workers and a
fake clock: FIFO, one task per worker, a dead worker's task re-queued once, a worker
timeout, orphans of a dead server process, and the retry schedule (1, 5, 15 minutes)."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest

from hangar.api.cloud.taskwire import CloudNotices
from hangar.core.clock import FakeClock
from hangar.core.endpoint_tasks.dispatcher import Dispatcher, DispatchRules
from hangar.core.endpoint_tasks.models import DeliveryStatus, TaskRequest, TaskStatus
from hangar.core.endpoint_tasks.service import TaskService
from hangar.core.endpoint_tasks.webhooks import DeliveryRules, Notifier
from hangar.core.endpoints import repo as endpoint_repo
from hangar.core.endpoints.models import EndpointSpec, Placement, ServiceMode, WorkerTarget
from hangar.core.errors import NotFound, Unavailable
from hangar.core.principal import Principal
from hangar.core.reconcile import Leases
from hangar.core.services import Services

OK = b'HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n{"done": true}'


class Stream:
    def __init__(self, answer: bytes | None) -> None:
        self.answer, self.sent = answer, b""

    async def write(self, data: bytes) -> None:
        self.sent += data

    async def read(self) -> bytes:
        if self.answer is None:
            await asyncio.sleep(3600)  # a worker that never answers
        answer, self.answer = self.answer, b""
        return answer or b""

    async def close(self) -> None:
        return None


class Workers:
    """Fake endpoint workers: ``answers[worker id]`` is what each connection gets (None:
    silence; an exception: raised by connect)."""

    def __init__(self, endpoint_id: int, ids: list[int]) -> None:
        self.targets = [WorkerTarget(w, endpoint_id, __import__("uuid").uuid4(), "a", 8080)
                        for w in ids]  # fmt: skip
        self.answers: dict[int, bytes | None | Exception] = dict.fromkeys(ids, OK)
        self.streams: list[tuple[int, Stream]] = []

    async def running_workers(self, endpoint_id: int) -> list[WorkerTarget]:
        return list(self.targets)

    async def connect(self, target: WorkerTarget) -> Stream:
        answer = self.answers[target.worker_id]
        if isinstance(answer, Exception):
            raise answer
        stream = Stream(answer)
        self.streams.append((target.worker_id, stream))
        return stream

    def note_load(self, endpoint_id: int, *, queued: int | None = None) -> None:
        return None

    def wake(self, endpoint_id: int) -> None:
        return None

    def worker_failed(self, endpoint_id: int, worker_id: int, reason: str) -> None:
        return None

    @contextlib.asynccontextmanager
    async def worker_changes(self) -> AsyncIterator[asyncio.Queue[Any]]:
        yield asyncio.Queue()


class Pokes:
    def poke(self) -> None:
        return None


async def caller(services: Services) -> Principal:
    assert services.first_admin is not None
    ak = services.first_admin.keypair.keypair.access_key
    return (await services.identity.credentials_for(ak)).caller


async def queue_endpoint(services: Services, who: Principal) -> int:
    spec = EndpointSpec("python", (Placement("default"),), port=8080)
    async with services.sessions() as db, db.begin():
        made = await endpoint_repo.add(
            db, owner_uuid=who.user_uuid, owner={}, name="q", mode=ServiceMode.QUEUE,
            spec=spec, workers=1, webhook="http://hooks.test/r", domain="abcdefabcdef",
            now=services.clock.now(),
        )  # fmt: skip
    return made.id


def request(n: int, **extra: Any) -> TaskRequest:
    return TaskRequest(json.dumps({"n": n}), 8080, "/run", key=f"t{n}", **extra)


async def first_sends(workers: Workers, count: int) -> None:
    """Until ``count`` workers were sent something (the sends run as their own tasks)."""
    for _ in range(1000):  # 5 s at most
        if len({w for w, s in workers.streams if s.sent}) >= count:
            return
        await asyncio.sleep(0.005)
    raise AssertionError(f"fewer than {count} workers were sent a task")


async def settle(dispatcher: Dispatcher) -> None:
    while pending := [s.task for s in dispatcher._sending.values()]:
        await asyncio.gather(*pending, return_exceptions=True)


@pytest.fixture
async def setup(services: Services) -> tuple[Services, Principal, int]:
    who = await caller(services)
    return services, who, await queue_endpoint(services, who)


def parts(services: Services, eid: int, ids: list[int], timeout: float = 5.0) -> tuple[
    Workers, Dispatcher, TaskService]:  # fmt: skip
    workers = Workers(eid, ids)
    leases = Leases("me", ttl=timedelta(seconds=30))
    dispatcher = Dispatcher(services.sessions, services.clock, workers, leases, Pokes(),
                            DispatchRules(timeout=timeout))  # fmt: skip
    tasks = TaskService(services.sessions, services.clock, services.endpoints, dispatcher)
    return workers, dispatcher, tasks


async def test_fifo_one_task_per_worker_then_the_rest(setup: Any) -> None:
    services, who, eid = setup
    workers, dispatcher, tasks = parts(services, eid, [1, 2])
    for n in range(5):
        await tasks.submit(who, eid, request(n, headers={"X-Tenant": "blue"}))
    assert await dispatcher.fill(eid) == 2
    assert dispatcher._slots(workers.targets) == []  # both workers hold one task
    await first_sends(workers, 2)
    first: dict[int, int] = {}  # a fast worker may already have taken the next task
    for w, s in workers.streams:
        first.setdefault(w, json.loads(s.sent.split(b"\r\n\r\n")[1])["n"])
    assert first == {1: 0, 2: 1}  # the two oldest, one per worker
    assert b"X-Tenant: blue" in workers.streams[0][1].sent
    assert b"POST /run HTTP/1.0" in workers.streams[0][1].sent
    await settle(dispatcher)
    for _ in range(3):
        await dispatcher.fill(eid)
        await settle(dispatcher)
    done = [await tasks.get(who, eid, f"t{n}") for n in range(5)]
    assert [t.status for t in done] == [TaskStatus.SUCCESS] * 5
    assert done[0].output == {"done": True}
    assert (await tasks.counts(who, eid)).processing == 0
    # the same taskId again: nothing new
    assert await tasks.submit(who, eid, request(0)) == "t0"
    assert (await tasks.page(who, eid, status=None, offset=0, limit=10)).total == 5


async def test_dead_worker_requeues_once_then_fails(setup: Any) -> None:
    services, who, eid = setup
    workers, dispatcher, tasks = parts(services, eid, [1, 2])
    workers.answers[1] = workers.answers[2] = Unavailable("nothing listens")
    await tasks.submit(who, eid, request(1))
    await dispatcher.fill(eid)
    await settle(dispatcher)  # refused: not sent, and no task for that worker a while
    assert (await tasks.get(who, eid, "t1")).status is TaskStatus.PROCESSING
    assert await dispatcher.fill(eid) == 1
    await settle(dispatcher)
    assert await dispatcher.fill(eid) == 0  # both refused lately
    workers.answers[1] = b""  # connects, then closes without an answer: it died
    services.clock.advance(3)  # type: ignore[attr-defined]
    await dispatcher.fill(eid)
    await settle(dispatcher)
    again = await tasks.get(who, eid, "t1")
    assert again.status is TaskStatus.PROCESSING  # back in the queue, once
    await dispatcher.fill(eid)
    await settle(dispatcher)
    failed = await tasks.get(who, eid, "t1")
    assert failed.status is TaskStatus.FAILED and "died twice" in (failed.error or "")


async def test_timeout_and_error_answers_fail(setup: Any) -> None:
    services, who, eid = setup
    workers, dispatcher, tasks = parts(services, eid, [1, 2], timeout=0.05)
    workers.answers[1] = None
    workers.answers[2] = b"HTTP/1.0 503 Busy\r\n\r\nbusy"
    await tasks.submit(who, eid, request(1))
    await tasks.submit(who, eid, request(2))
    await dispatcher.fill(eid)
    await settle(dispatcher)
    errors = {(await tasks.get(who, eid, k)).error for k in ("t1", "t2")}
    assert errors == {"The worker did not answer within 0.05 s.",
                      "The worker answered HTTP 503: busy"}  # fmt: skip


async def test_orphans_of_a_dead_process_go_back_once(setup: Any) -> None:
    services, who, eid = setup
    clock: FakeClock = services.clock  # type: ignore[assignment]
    first, dead, tasks = parts(services, eid, [1])
    first.answers[1] = None
    await tasks.submit(who, eid, request(1))
    await dead.fill(eid)  # sent; then the process "dies"
    for sending in dead._sending.values():
        sending.task.cancel()
    _, alive, _ = parts(services, eid, [1])
    await alive.check()
    assert (await tasks.get(who, eid, "t1")).status is TaskStatus.DELIVERED  # lease held
    clock.advance(31)
    await alive.check()
    assert (await tasks.get(who, eid, "t1")).status is TaskStatus.PROCESSING
    again, dead_too, _ = parts(services, eid, [1])
    again.answers[1] = None
    await dead_too.fill(eid)  # the second send; that process dies too
    for sending in dead_too._sending.values():
        sending.task.cancel()
    clock.advance(31)
    await alive.check()
    failed = await tasks.get(who, eid, "t1")
    assert failed.status is TaskStatus.FAILED and "server process" in (failed.error or "")


async def test_webhook_retries_after_1_5_15_minutes(setup: Any) -> None:
    services, who, eid = setup
    clock: FakeClock = services.clock  # type: ignore[assignment]
    workers, dispatcher, tasks = parts(services, eid, [1])
    seen: list[httpx.Request] = []

    def hook(req: httpx.Request) -> httpx.Response:
        seen.append(req)
        return httpx.Response(500)

    notifier = Notifier(services.sessions, clock, Leases("me"), DeliveryRules())
    await tasks.submit(who, eid, request(1, webhook_key="s3cr3t"))
    await dispatcher.fill(eid)
    await settle(dispatcher)
    fmt = CloudNotices()
    async with httpx.AsyncClient(transport=httpx.MockTransport(hook)) as client:
        assert await notifier.deliver_due(client, fmt) == 1  # the first attempt at once
        statuses = [(await tasks.get(who, eid, "t1")).delivery_status]
        for wait in (60, 300, 900):
            clock.advance(wait - 1)
            assert await notifier.deliver_due(client, fmt) == 0  # not due yet
            clock.advance(1)
            assert await notifier.deliver_due(client, fmt) == 1
            statuses.append((await tasks.get(who, eid, "t1")).delivery_status)
        clock.advance(3600)
        assert await notifier.deliver_due(client, fmt) == 0
    F = DeliveryStatus.FAILED
    assert statuses == [F, F, F, DeliveryStatus.MAX_RETRIES_EXCEEDED]
    assert (await tasks.get(who, eid, "t1")).delivery_attempts == 4
    assert [json.loads(r.content)["retry_count"] for r in seen] == [1, 2, 3, 4]
    assert {r.headers["X-API-Key"] for r in seen} == {"s3cr3t"}
    assert str(seen[0].url) == "http://hooks.test/r"  # the endpoint's webhook


async def test_finished_tasks_go_after_the_retention_unless_a_webhook_is_pending(
    setup: Any,
) -> None:
    services, who, eid = setup
    clock: FakeClock = services.clock  # type: ignore[assignment]
    workers, dispatcher, tasks = parts(services, eid, [1])
    dispatcher._rules = DispatchRules(retention_seconds=7 * 86400)
    notifier = Notifier(services.sessions, clock, Leases("me"), DeliveryRules())

    def hook(req: httpx.Request) -> httpx.Response:  # t2's webhook fails: a retry pending
        return httpx.Response(500 if json.loads(req.content)["user_task_id"] == "t2" else 200)

    async with httpx.AsyncClient(transport=httpx.MockTransport(hook)) as client:
        for n in (1, 2, 3):
            if n == 3:
                clock.advance(86400)  # t3 finishes a day later
            await tasks.submit(who, eid, request(n))
            await dispatcher.fill(eid)
            await settle(dispatcher)
            assert await notifier.deliver_due(client, CloudNotices()) >= 1

    clock.advance(6 * 86400 + 1)  # t1 and t2 ended 7 days ago, t3 6 days ago
    assert await dispatcher.purge() == 1
    with pytest.raises(NotFound):
        await tasks.get(who, eid, "t1")
    assert (await tasks.get(who, eid, "t2")).delivery_status is DeliveryStatus.FAILED
    assert (await tasks.get(who, eid, "t3")).delivery_status is DeliveryStatus.SUCCESS
    assert await tasks.submit(who, eid, request(1)) == "t1"  # its id is free again
    assert (await tasks.get(who, eid, "t1")).status is TaskStatus.PROCESSING
