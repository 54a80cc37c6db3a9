"""The billing service: what the faces, the CLI and the other domains call.

    cost = await services.billing.cost(Metered.POD, [pod.id])   # {pod.id: Decimal("0.42")}
    await services.billing.admit(principal, Metered.POD)        # DailyLimitReached when due

Running time is metered from the compute sessions' recorded status changes: every read syncs
the meters first (a pass also runs on session events and every ``every`` seconds), so a cost
is exact to the moment it is asked for. See docs/design/billing.md.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Collection, Hashable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Protocol, TypeVar

from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import async_sessionmaker

from hangar.core.agents import repo as agents_repo
from hangar.core.billing import meters, repo
from hangar.core.billing.errors import DailyLimitReached
from hangar.core.billing.loop import billing_loop
from hangar.core.billing.models import (
    ZERO,
    DailyLimit,
    LimitScope,
    Meter,
    Metered,
    MeterKind,
    Prices,
    Resources,
    Usage,
)  # fmt: skip
from hangar.core.billing.usage import aggregate
from hangar.core.clock import Clock
from hangar.core.compute import repo as compute_repo
from hangar.core.compute.models import ComputeSession, Origin, OriginKind
from hangar.core.compute.states import SessionStatus
from hangar.core.errors import InvalidRequest, NotFound
from hangar.core.events import EventBus
from hangar.core.principal import Principal
from hangar.db.engine import DbSession

log = logging.getLogger("hangar.core.billing")
K = TypeVar("K", bound=Hashable)
S = SessionStatus
LIVE = [s for s in S if s not in meters.ENDED]
ORIGINS = {
    Metered.POD: OriginKind.POD.value,
    Metered.VM: OriginKind.VM.value,
    Metered.ENDPOINT: OriginKind.ENDPOINT_WORKER.value,
}


class Suspender(Protocol):
    """Pauses a running session (the compute lifecycle's SUSPENDED transition)."""

    async def suspend(self, session: ComputeSession) -> None: ...


def day_start(now: datetime) -> datetime:
    """The start of ``now``'s UTC day: daily limits count from there."""
    return now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


class BillingService:
    def __init__(
        self,
        sessions: async_sessionmaker[DbSession],
        clock: Clock,
        *,
        suspender: Suspender | None = None,
        bus: EventBus | None = None,
        every: float = 30.0,
    ) -> None:
        self._sessions = sessions
        self._clock = clock
        self._suspender = suspender
        self._bus = bus
        self._every = every
        self._lock = asyncio.Lock()
        self._kicked: asyncio.Task[None] | None = None

    # -- meters ----------------------------------------------------------------------------

    async def sync(self) -> None:
        """Bring the sessions' meters up to date: close those of sessions that stopped
        running (at the recorded time), open those of sessions that run. Idempotent."""
        async with self._lock, self._sessions() as db, db.begin():
            now = self._clock.now()
            prices = meters.prices_from(await repo.prices(db))
            live = {s.id: s for s in await compute_repo.with_status(db, LIVE)}
            runs = await repo.open_meters(db, [MeterKind.RUN])
            disks = await repo.open_meters(db, [MeterKind.DISK])
            for meter in runs + disks:
                sid = uuid.UUID(meter.subject_id)
                if sid not in live and (found := await compute_repo.get(db, sid)) is not None:
                    live[sid] = found
            ids = [str(sid) for sid in live]
            devices = {
                agent.id: {meters.device_key(d): d for d in agent.devices}
                for agent in await agents_repo.alive(db)
            }
            ran = await repo.last_ends(db, MeterKind.RUN, ids)
            stored = await repo.last_ends(db, MeterKind.DISK, ids)
            for plan in (
                meters.plan_runs(runs, live, ran, devices, prices, now),
                meters.plan_disks(disks, live, stored, prices, now),
            ):
                for meter_id, at in plan.closes:
                    await repo.close_meter(db, meter_id, at)
                for meter in plan.opens:
                    await repo.add_meter(db, meter)

    async def storage_opened(
        self, volume_id: int, *, user_uuid: uuid.UUID, group_id: uuid.UUID, size_gib: int
    ) -> None:
        """Meter a volume's storage from now at ``size_gib`` (call on create and after a
        resize: the size in force from now on). Idempotent for an unchanged size."""
        held = Resources(storage_gib=Decimal(size_gib))
        async with self._lock, self._sessions() as db, db.begin():
            now = self._clock.now()
            prices = meters.prices_from(await repo.prices(db))
            subject = {MeterKind.VOLUME: [str(volume_id)]}
            current = [m for m in await repo.meters_of(db, subjects=subject) if not m.ended_at]
            if current and current[0].resources == held:
                return
            for meter in current:
                await repo.close_meter(db, meters.meter_id(meter), now)
            await repo.add_meter(
                db,
                Meter(
                    kind=MeterKind.VOLUME, subject_id=str(volume_id), origin_kind="volume",
                    origin_ref=str(volume_id), user_uuid=user_uuid, group_id=group_id,
                    rate=meters.rate_of(held, prices), resources=held, started_at=now,
                ),
            )  # fmt: skip

    async def storage_closed(self, volume_id: int) -> None:
        """Stop metering a volume (call when it is deleted). Idempotent."""
        async with self._lock, self._sessions() as db, db.begin():
            subject = {MeterKind.VOLUME: [str(volume_id)]}
            for meter in await repo.meters_of(db, subjects=subject):
                if meter.ended_at is None:
                    await repo.close_meter(db, meters.meter_id(meter), self._clock.now())

    # -- costs -----------------------------------------------------------------------------

    async def _sync_for_read(self) -> None:
        """:meth:`sync` before a read. A database too busy to take its writes (SQLite's
        lock wait ran out) leaves the meters as the last pass wrote them: the read answers
        from those rather than failing (a request that would only show a cost)."""
        try:
            await self.sync()
        except OperationalError as exc:
            log.warning("billing meters not brought up to date before a read: %s", exc)

    async def cost(self, kind: Metered, ids: Collection[K]) -> dict[K, Decimal]:
        """The accrued cost of each of ``ids`` (pod/VM/endpoint ids as their sessions'
        origin refs, session UUIDs, volume ids) up to now, to a millionth; 0 for what
        nothing was metered for. Every id given is a key of the answer."""
        wanted = {str(i): i for i in ids}
        if not wanted:
            return {}
        if kind is not Metered.VOLUME:
            await self._sync_for_read()
        async with self._sessions() as db:
            if kind is Metered.VOLUME:
                found = await repo.meters_of(db, subjects={MeterKind.VOLUME: list(wanted)})
            elif kind is Metered.SESSION:
                subjects = {MeterKind.RUN: list(wanted), MeterKind.DISK: list(wanted)}
                found = await repo.meters_of(db, subjects=subjects)
            else:
                found = await repo.meters_of(db, origin=(ORIGINS[kind], list(wanted)))
        now = self._clock.now()
        totals = dict.fromkeys(wanted, ZERO)
        for meter in found:
            key = meter.origin_ref if kind in ORIGINS else meter.subject_id
            if key in totals:
                totals[key] += meters.accrued(meter, None, now)
        return {wanted[k]: meters.money(v) for k, v in totals.items()}

    async def spent_today(
        self, *, user_uuid: uuid.UUID | None = None, group_id: uuid.UUID | None = None
    ) -> Decimal:
        """What a user (or a project) has cost since the start of today (UTC)."""
        await self.sync()
        return await self._spent_today(user_uuid=user_uuid, group_id=group_id)

    async def _spent_today(
        self, *, user_uuid: uuid.UUID | None = None, group_id: uuid.UUID | None = None
    ) -> Decimal:
        now = self._clock.now()
        start = day_start(now)
        async with self._sessions() as db:
            found = await repo.meters_between(
                db, start, now, user_uuid=user_uuid, group_id=group_id
            )
        return meters.money(sum((meters.accrued(m, start, now) for m in found), ZERO))

    async def usage(self, start: datetime, end: datetime | None = None) -> Usage:
        """The cost of every user and project over [start, end) (end: now), with the GPU,
        CPU-core and storage hours it came from; most expensive first."""
        await self.sync()
        stop = end or self._clock.now()
        if stop <= start:
            raise InvalidRequest("the period ends before it starts", data={"end": str(stop)})
        async with self._sessions() as db:
            found = await repo.meters_between(db, start, stop)
            emails, names = await repo.labels(
                db, {m.user_uuid for m in found}, {m.group_id for m in found}
            )
            currency = meters.prices_from(await repo.prices(db)).currency
        return aggregate(found, start, stop, emails, names, currency)

    async def resolve(
        self, *, email: str | None = None, project: str | None = None, domain: str | None = None
    ) -> uuid.UUID:
        """A user's id by email or a project's by name (in ``domain`` when given); NotFound."""
        async with self._sessions() as db:
            if email is not None:
                found = (await repo.user_ids(db, [email])).get(email)
            else:
                found = await repo.project_id(db, project or "", domain)
        if found is None:
            what = f"user {email!r}" if email is not None else f"project {project!r}"
            raise NotFound(f"no {what} (or more than one: name the domain)")
        return found

    # -- prices ----------------------------------------------------------------------------

    async def prices(self) -> Prices:
        async with self._sessions() as db:
            return meters.prices_from(await repo.prices(db))

    async def set_price(self, key: str, per_hour: Decimal | None) -> Prices:
        """Set one price per hour: ``cpu`` (a core), ``memory`` (a GiB), ``storage`` (a GiB)
        or ``gpu:<type code>`` (a device); None removes it. What runs now is charged at the
        new price from now on. InvalidRequest for another key or a negative price."""
        if key not in meters.PRICE_KEYS and not (key.startswith("gpu:") and len(key) > 4):
            raise InvalidRequest(
                f"unknown price {key!r}: cpu, memory, storage or gpu:<type>", data={"key": key}
            )
        if per_hour is not None and (not per_hour.is_finite() or per_hour < 0):
            raise InvalidRequest("a price is a number >= 0", data={"price": str(per_hour)})
        await self.sync()
        async with self._lock, self._sessions() as db, db.begin():
            now = self._clock.now()
            await repo.set_price(db, key, per_hour, now)
            prices = meters.prices_from(await repo.prices(db))
            for meter in await repo.open_meters(db, list(MeterKind)):
                again = meters.repriced(meter, prices, now)
                if again.rate == meter.rate:
                    continue
                await repo.close_meter(db, meters.meter_id(meter), now)
                await repo.add_meter(db, again)
        return prices

    # -- daily limits ----------------------------------------------------------------------

    async def limits(self) -> list[DailyLimit]:
        async with self._sessions() as db:
            found = await repo.limits(db)
            emails, names = await repo.labels(
                db,
                [lim.subject for lim in found if lim.scope is LimitScope.USER],
                [lim.subject for lim in found if lim.scope is LimitScope.PROJECT],
            )
        label = {**emails, **names}
        return [_labelled(lim, label.get(lim.subject, str(lim.subject))) for lim in found]

    async def set_limit(self, limit: DailyLimit) -> None:
        if not limit.amount.is_finite() or limit.amount < 0:
            raise InvalidRequest("a limit is an amount >= 0", data={"amount": str(limit.amount)})
        async with self._sessions() as db, db.begin():
            await repo.set_limit(db, limit, self._clock.now())

    async def remove_limit(self, scope: LimitScope, subject: uuid.UUID) -> bool:
        async with self._sessions() as db, db.begin():
            return await repo.remove_limit(db, scope, subject)

    async def admit(
        self, principal: Principal, kind: Metered, *, project_id: uuid.UUID | None = None
    ) -> None:
        """Check, before creating a paid resource of ``kind`` for ``principal`` (in
        ``project_id``; else the principal's project, else its domain's ``default``), that
        neither the user's nor the project's daily limit is reached. Raises
        DailyLimitReached (the cloud face: code 10010)."""
        async with self._sessions() as db:
            every = await repo.limits(db)
            project = project_id or principal.project_id
            if project is None and any(lim.scope is LimitScope.PROJECT for lim in every):
                # where new work goes when no project is named (the compute default)
                project = await repo.project_id(db, "default", principal.domain_name)
        limits = [
            lim
            for lim in every
            if (lim.scope is LimitScope.USER and lim.subject == principal.user_uuid)
            or (lim.scope is LimitScope.PROJECT and lim.subject == project)
        ]
        if not limits:
            return
        await self._sync_for_read()
        for lim in limits:
            spent = await self._spent_of(lim)
            if spent >= lim.amount:
                if lim.automatic:  # pause at once what the periodic pass would pause
                    self._kick_enforcement()
                who = "your" if lim.scope is LimitScope.USER else "the project's"
                raise DailyLimitReached(
                    f"{who} daily cost limit of {lim.amount} is reached ({spent} today); "
                    f"new {kind.value}s are refused until 00:00 UTC",
                    data={"limit": str(lim.amount), "spent": str(spent)},
                )

    async def admit_session(
        self, owner: Principal, origin: Origin, *, project: str, domain: str
    ) -> None:
        """:meth:`admit` for a new compute session (the compute service's admission check),
        in the project named ``project`` of ``domain``."""
        async with self._sessions() as db:
            if not await repo.limits(db):
                return
            group = await repo.project_id(db, project, domain)
        kind = next((k for k, o in ORIGINS.items() if o == origin.kind.value), Metered.SESSION)
        await self.admit(owner, kind, project_id=group)

    def _kick_enforcement(self) -> None:
        if self._suspender is None or (self._kicked and not self._kicked.done()):
            return
        self._kicked = asyncio.get_running_loop().create_task(self._enforce_logged())

    async def _enforce_logged(self) -> None:
        try:
            await self.enforce()
        except Exception:
            log.exception("billing: pausing pods over their limit failed")

    async def _spent_of(self, lim: DailyLimit) -> Decimal:
        if lim.scope is LimitScope.USER:
            return await self._spent_today(user_uuid=lim.subject)
        return await self._spent_today(group_id=lim.subject)

    async def enforce(self) -> list[uuid.UUID]:
        """Pause the running pods of users and projects whose automatic limit is reached;
        the sessions paused."""
        if self._suspender is None:
            return []
        await self.sync()
        async with self._sessions() as db:
            due = [lim for lim in await repo.limits(db) if lim.automatic]
        reached = [lim for lim in due if await self._spent_of(lim) >= lim.amount]
        if not reached:
            return []
        async with self._sessions() as db:
            running = await compute_repo.with_status(db, [S.RUNNING])
        paused = []
        for session in running:
            if session.origin.kind != OriginKind.POD or not _hit(session, reached):
                continue
            try:
                await self._suspender.suspend(session)
            except Exception as exc:  # the next pass tries again
                log.warning("could not pause pod session %s: %s", session.id, exc)
                continue
            paused.append(session.id)
        if paused:
            await self.sync()
        return paused

    async def run(self) -> None:
        """The server's loop: a pass soon after each session start, pause or end (when the
        service has the event bus) and every ``every`` seconds; it enforces automatic
        limits."""
        await billing_loop(self._pass, self._bus, self._every)

    async def _pass(self) -> None:
        if self._suspender is None:
            await self.sync()
        elif paused := await self.enforce():
            log.info("paused %d pods over their daily limit", len(paused))


def _hit(session: ComputeSession, reached: list[DailyLimit]) -> bool:
    return any(
        (lim.scope is LimitScope.USER and lim.subject == session.user_uuid)
        or (lim.scope is LimitScope.PROJECT and lim.subject == session.group_id)
        for lim in reached
    )


def _labelled(limit: DailyLimit, label: str) -> DailyLimit:
    return DailyLimit(limit.scope, limit.subject, limit.amount, limit.automatic, label)
