"""Delivering finished tasks' results to their webhooks: ``POST <webhook>`` with the
face's body and ``X-API-Key: <webhookAuthKey>``; a non-2xx answer or a network error is
retried after each of ``retries`` (1, 5 and 15 minutes by default), then
MAX_RETRIES_EXCEEDED. Pending attempts live in the table (``notify_at``), so a restarted
server carries on with them."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

import httpx
from sqlalchemy.ext.asyncio import async_sessionmaker

from hangar.core.clock import Clock
from hangar.core.endpoint_tasks import repo
from hangar.core.endpoint_tasks.models import DeliveryStatus, Notice
from hangar.core.endpoint_tasks.repo import TaskRecord
from hangar.core.endpoint_tasks.views import notice_of
from hangar.core.loops import swallowed
from hangar.core.reconcile import Leases
from hangar.db.engine import DbSession


class NoticeFormat(Protocol):
    """The face's webhook body for a finished task."""

    def body(self, notice: Notice) -> bytes: ...


@dataclass(frozen=True, slots=True)
class DeliveryRules:
    retries: tuple[float, ...] = (60.0, 300.0, 900.0)  # seconds before each retry
    timeout: float = 10.0  # one attempt
    batch: int = 64  # attempts made at once
    idle_seconds: float = 1.0  # the longest sleep between passes


@dataclass(frozen=True, slots=True)
class Attempt:
    status: DeliveryStatus
    attempts: int
    delivered_at: datetime | None
    notify_at: datetime | None


def after(rules: DeliveryRules, attempt: int, ok: bool, now: datetime) -> Attempt:
    """The delivery state after attempt number ``attempt`` (from 1) succeeded or not."""
    if ok:
        return Attempt(DeliveryStatus.SUCCESS, attempt, now, None)
    if attempt <= len(rules.retries):
        wait = timedelta(seconds=rules.retries[attempt - 1])
        return Attempt(DeliveryStatus.FAILED, attempt, None, now + wait)
    return Attempt(DeliveryStatus.MAX_RETRIES_EXCEEDED, attempt, None, None)


class Notifier:
    def __init__(
        self,
        sessions: async_sessionmaker[DbSession],
        clock: Clock,
        leases: Leases,
        rules: DeliveryRules = DeliveryRules(),
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._sessions, self._clock, self._leases, self._rules = sessions, clock, leases, rules
        self._transport = transport
        self._event = asyncio.Event()

    def poke(self) -> None:
        self._event.set()

    async def run(self, fmt: NoticeFormat) -> None:
        """Until cancelled: deliver what is due, then sleep until the next attempt."""
        async with httpx.AsyncClient(timeout=self._rules.timeout,
                                     transport=self._transport) as client:  # fmt: skip
            while True:
                try:
                    if await self.deliver_due(client, fmt):
                        continue
                    await self._sleep()
                except Exception as exc:
                    swallowed("task webhook delivery", exc)
                    await asyncio.sleep(self._rules.idle_seconds)

    async def _sleep(self) -> None:
        async with self._sessions() as db:
            due = await repo.next_notice(db)
        wait = self._rules.idle_seconds
        if due is not None:
            wait = min(wait, max(0.0, (due - self._clock.now()).total_seconds()))
        self._event.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._event.wait(), wait)

    async def deliver_due(self, client: httpx.AsyncClient, fmt: NoticeFormat) -> int:
        """One batch of due attempts; how many were made."""
        now = self._clock.now()
        async with self._sessions() as db, db.begin():
            due = await repo.claim_notices(db, self._leases, now, self._rules.batch)
        if not due:
            return 0
        results = await asyncio.gather(*(self._attempt(client, fmt, r) for r in due))
        now = self._clock.now()
        async with self._sessions() as db, db.begin():
            for record, ok in zip(due, results, strict=True):
                done = after(self._rules, record.delivery_attempts + 1, ok, now)
                await repo.noted(db, record.id, self._leases, status=done.status,
                                 attempts=done.attempts, delivered_at=done.delivered_at,
                                 notify_at=done.notify_at)  # fmt: skip
        return len(due)

    async def _attempt(self, client: httpx.AsyncClient, fmt: NoticeFormat, r: TaskRecord) -> bool:
        if r.webhook is None:
            return True
        body = fmt.body(notice_of(r, r.delivery_attempts + 1, self._clock.now()))
        headers = {"Content-Type": "application/json"}
        if r.webhook_key:
            headers["X-API-Key"] = r.webhook_key
        try:
            answer = await client.post(r.webhook, content=body, headers=headers)
        except httpx.HTTPError:
            return False
        return 200 <= answer.status_code < 300
