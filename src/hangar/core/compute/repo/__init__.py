"""Compute session persistence. Status changes go through ``transition`` only."""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Row, Table, exists, func, select, update
from sqlalchemy.exc import IntegrityError

from hangar.core.compute.models import ComputeSession, Origin, OriginKind, RestartPolicy
from hangar.core.compute.ports import PortSpec
from hangar.core.compute.states import (
    DEAD,
    HOLDS_RESOURCES,
    SessionResult,
    SessionStatus,
    SessionType,
    can_move,
)
from hangar.core.errors import Conflict, SessionAlreadyExists
from hangar.core.identity.models import ResourcePolicy
from hangar.core.identity.repo import policy_from_row
from hangar.core.principal import Credential, CredentialKind
from hangar.core.reconcile import Leases
from hangar.core.scheduler import DependencyState
from hangar.db.engine import DbSession
from hangar.db.tables.agents import AgentRow
from hangar.db.tables.compute import SessionDependencyRow, SessionRow
from hangar.db.tables.identity import KeyPairRow, ResourcePolicyRow
from hangar.db.tables.scaling import ScalingGroupRow

USER_POLICY = "default"
"""The resource policy of sessions made with credentials that carry no policy of their own
(all but Backend.AI keypairs today): they count against their user under this policy."""


_LIFECYCLE_ORDER = {status.value: i for i, status in enumerate(SessionStatus)}


def _chronological(history: dict[str, Any]) -> dict[str, str]:
    """Status -> ISO time, oldest first (PostgreSQL's JSONB does not keep key order); equal
    times fall back to the lifecycle order."""
    order = _LIFECYCLE_ORDER

    def key(item: tuple[str, str]) -> tuple[str, int]:
        return item[1], order.get(item[0], len(order))

    return dict(sorted(((k, str(v)) for k, v in history.items()), key=key))


def session_from_row(row: SessionRow | Row[Any]) -> ComputeSession:
    """The session of an ORM row or of a Core row holding its columns under their names."""
    return ComputeSession(
        id=row.id,
        name=row.name,
        access_key=row.access_key,
        credential=Credential(CredentialKind(row.credential_kind), row.credential_id),
        user_uuid=row.user_uuid,
        domain_name=row.domain_name,
        group_id=row.group_id,
        scaling_group=row.scaling_group,
        agent_id=row.agent_id,
        image_id=row.image_id,
        image_ref=row.image_ref,
        session_type=SessionType(row.session_type),
        status=SessionStatus(row.status),
        status_info=row.status_info,
        status_data=row.status_data,
        status_history=_chronological(row.status_history),
        status_changed=row.status_changed,
        result=SessionResult(row.result),
        requested_slots=dict(row.requested_slots),
        occupied_slots=dict(row.occupied_slots),
        device_allocations=list(row.device_allocations),
        environ=dict(row.environ),
        bootstrap_script=row.bootstrap_script,
        startup_command=row.startup_command,
        tag=row.tag,
        callback_url=row.callback_url,
        created_at=row.created_at,
        starts_at=row.starts_at,
        started_at=row.started_at,
        terminated_at=row.terminated_at,
        num_queries=row.num_queries,
        last_stat=row.last_stat,
        cluster_size=row.cluster_size,
        cluster_mode=row.cluster_mode,
        resource_opts=dict(row.resource_opts or {}),
        agent_list=tuple(row.agent_list or ()),
        mounts=tuple(m for m in row.mounts or () if isinstance(m, dict)),
        ports=tuple(PortSpec(p) for p in row.preopen_ports or () if isinstance(p, int)),
        origin=Origin(OriginKind(row.origin_kind or OriginKind.BACKENDAI_REQUEST), row.origin_ref),
        restart_policy=RestartPolicy(row.restart_policy or RestartPolicy.NEVER),
    )


# Reads and status moves on the hot path of a session's start use Core statements on the
# table: no ORM instance per row (about half of a statement's CPU on a 44-column row).
_TABLE = cast(Table, SessionRow.__table__)


async def get(db: DbSession, session_id: uuid.UUID) -> ComputeSession | None:
    row = (await db.execute(select(_TABLE).where(_TABLE.c.id == session_id))).first()
    return session_from_row(row) if row is not None else None


async def find_live_by_name(
    db: DbSession, user_uuid: uuid.UUID, name: str
) -> ComputeSession | None:
    """The live session of that user with that name (names are unique per user)."""
    stmt = select(SessionRow).where(
        SessionRow.user_uuid == user_uuid,
        SessionRow.name == name,
        SessionRow.status.not_in([s.value for s in DEAD]),
    )
    row = (await db.execute(stmt)).scalar_one_or_none()
    return session_from_row(row) if row is not None else None


async def of_owner(
    db: DbSession, user_uuid: uuid.UUID, *, include_dead: bool, limit: int = 500
) -> list[ComputeSession]:
    """The newest sessions owned by that user."""
    stmt = select(SessionRow).where(SessionRow.user_uuid == user_uuid)
    if not include_dead:
        stmt = stmt.where(SessionRow.status.not_in([s.value for s in DEAD]))
    stmt = stmt.order_by(SessionRow.created_at.desc()).limit(limit)
    return [session_from_row(r) for r in (await db.execute(stmt)).scalars()]


async def with_status(
    db: DbSession, statuses: Sequence[SessionStatus], *, agent_id: str | None = None
) -> list[ComputeSession]:
    stmt = select(SessionRow).where(SessionRow.status.in_([s.value for s in statuses]))
    if agent_id is not None:
        stmt = stmt.where(SessionRow.agent_id == agent_id)
    stmt = stmt.order_by(SessionRow.created_at, SessionRow.id)
    return [session_from_row(r) for r in (await db.execute(stmt)).scalars()]


async def pending_sessions(db: DbSession) -> tuple[list[ComputeSession], set[uuid.UUID]]:
    """The PENDING sessions, oldest first, and the ids of those that have dependencies
    (in the same statement: most passes then need no dependency query)."""
    has_dependencies = exists().where(SessionDependencyRow.session_id == SessionRow.id)
    stmt = (
        select(SessionRow, has_dependencies.label("has_dependencies"))
        .where(SessionRow.status == SessionStatus.PENDING.value)
        .order_by(SessionRow.created_at, SessionRow.id)
    )
    rows = (await db.execute(stmt)).all()
    return [session_from_row(r[0]) for r in rows], {r[0].id for r in rows if r[1]}


async def count_with_status(db: DbSession, statuses: Sequence[SessionStatus]) -> int:
    stmt = select(func.count()).where(SessionRow.status.in_([s.value for s in statuses]))
    return int((await db.execute(stmt)).scalar_one())


async def holding_resources(db: DbSession) -> list[ComputeSession]:
    return await with_status(db, sorted(HOLDS_RESOURCES))


async def transition(
    db: DbSession,
    session_id: uuid.UUID,
    old: SessionStatus | Sequence[SessionStatus],
    new: SessionStatus,
    *,
    when: datetime,
    through: SessionStatus | None = None,
    **changes: Any,
) -> SessionStatus:
    """Move a session from ``old`` (one status or any of several) to ``new``, by way of
    ``through`` if given (both moves in one statement, both recorded at ``when``).

    Compare-and-set on the current status: returns the status it moved from; raises Conflict
    when the session is not in ``old`` any more (someone else moved it first) and ValueError
    for a move the state table forbids.
    """
    olds = [old] if isinstance(old, SessionStatus) else list(old)
    steps = [new] if through is None else [through, new]
    for status in olds:
        if not can_move(status, steps[0]) or (through is not None and not can_move(through, new)):
            raise ValueError(f"a session cannot move from {status} to {new}")
    current = select(_TABLE.c.status, _TABLE.c.status_history).where(_TABLE.c.id == session_id)
    row = (await db.execute(current.with_for_update())).first()
    if row is None or SessionStatus(row.status) not in olds:
        raise Conflict(f"session {session_id} is not in {', '.join(olds)} any more")
    moved_from = SessionStatus(row.status)
    history = {**row.status_history, **{step.value: when.isoformat() for step in steps}}
    result = await db.execute(
        update(_TABLE)
        .where(_TABLE.c.id == session_id, _TABLE.c.status == moved_from.value)
        .values(status=new.value, status_changed=when, status_history=history, **changes)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise Conflict(f"session {session_id} changed status concurrently")
    return moved_from


async def dependency_states(
    db: DbSession, session_ids: Collection[uuid.UUID]
) -> dict[uuid.UUID, tuple[DependencyState, ...]]:
    """The dependencies of each of ``session_ids`` that has any, with where they stand."""
    if not session_ids:
        return {}
    stmt = (
        select(
            SessionDependencyRow.session_id,
            SessionRow.id,
            SessionRow.name,
            SessionRow.status,
            SessionRow.result,
        )  # fmt: skip
        .join(SessionRow, SessionRow.id == SessionDependencyRow.depends_on)
        .where(SessionDependencyRow.session_id.in_(list(session_ids)))
        .order_by(SessionDependencyRow.session_id, SessionRow.created_at, SessionRow.id)
    )
    found: dict[uuid.UUID, list[DependencyState]] = {}
    for session_id, dep_id, name, status, result in (await db.execute(stmt)).all():
        found.setdefault(session_id, []).append(DependencyState(dep_id, name, status, result))
    return {k: tuple(v) for k, v in found.items()}


async def dependencies_of(db: DbSession, session_id: uuid.UUID) -> list[ComputeSession]:
    """The sessions ``session_id`` depends on, oldest first."""
    stmt = (
        select(SessionRow)
        .join(SessionDependencyRow, SessionDependencyRow.depends_on == SessionRow.id)
        .where(SessionDependencyRow.session_id == session_id)
        .order_by(SessionRow.created_at, SessionRow.id)
    )
    return [session_from_row(r) for r in (await db.execute(stmt)).scalars()]


async def set_pending_reason(db: DbSession, session_id: uuid.UUID, reason: str) -> None:
    """Say why a session still waits (only while it is PENDING)."""
    await db.execute(
        update(SessionRow)
        .where(SessionRow.id == session_id, SessionRow.status == SessionStatus.PENDING.value)
        .values(status_info=reason[:256], status_data={"scheduler": {"msg": reason}})
    )


async def set_preparing_info(db: DbSession, session_id: uuid.UUID, info: str) -> None:
    """Say what a PREPARING session's start is doing (an image pull's progress)."""
    await db.execute(
        update(SessionRow)
        .where(SessionRow.id == session_id, SessionRow.status == SessionStatus.PREPARING.value)
        .values(status_info=info[:256])
    )


async def set_restarts(
    db: DbSession, session_id: uuid.UUID, restarts: int, exit_code: int | None
) -> bool:
    """Record that a RUNNING session's main process was started again (``restarts`` times,
    the last run ended with ``exit_code``); False when it is no longer RUNNING."""
    result = await db.execute(
        update(SessionRow)
        .where(SessionRow.id == session_id, SessionRow.status == SessionStatus.RUNNING.value)
        .values(
            status_info=f"restarted ({restarts})",
            status_data={"restarts": restarts, "last_exit_code": exit_code},
        )
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def set_result(db: DbSession, session_id: uuid.UUID, result: SessionResult) -> None:
    await db.execute(
        update(SessionRow).where(SessionRow.id == session_id).values(result=result.value)
    )


async def count_queries(db: DbSession, session_id: uuid.UUID, count: int = 1) -> None:
    await db.execute(
        update(SessionRow)
        .where(SessionRow.id == session_id)
        .values(num_queries=SessionRow.num_queries + count)
    )


async def running_with_limits(
    db: DbSession, default_policy: str = USER_POLICY
) -> list[tuple[ComputeSession, int, int]]:
    """RUNNING sessions with their resource policy's (idle_timeout, max_session_lifetime):
    their keypair's, or ``default_policy`` for sessions made with other credentials."""
    policy = func.coalesce(KeyPairRow.resource_policy, default_policy)
    stmt = (
        select(SessionRow, ResourcePolicyRow.idle_timeout, ResourcePolicyRow.max_session_lifetime)
        .outerjoin(KeyPairRow, KeyPairRow.access_key == SessionRow.access_key)
        .join(ResourcePolicyRow, ResourcePolicyRow.name == policy)
        .where(SessionRow.status == SessionStatus.RUNNING.value)
    )
    return [(session_from_row(row), idle, lifetime) for row, idle, lifetime in
            (await db.execute(stmt)).all()]  # fmt: skip


async def claim_terminating(
    db: DbSession, leases: Leases, agent_ids: Collection[str], *, now: datetime
) -> list[uuid.UUID]:
    """Take the lease on the TERMINATING sessions of ``agent_ids`` that nobody is finishing
    (handed off by another server process, or left by one that died)."""
    return await leases.claim(
        db,
        SessionRow,
        SessionRow.status == SessionStatus.TERMINATING.value,
        SessionRow.agent_id.in_(list(agent_ids)),
        now=now,
    )


async def release_leases(db: DbSession, leases: Leases, session_ids: Sequence[uuid.UUID]) -> None:
    await leases.release(db, SessionRow, session_ids)


async def add(
    db: DbSession, values: dict[str, Any], depends_on: Sequence[uuid.UUID]
) -> ComputeSession:
    """Insert a session (``values``: its columns) and its dependencies; the caller commits.
    Raises SessionAlreadyExists when a live session of that user has the name already."""
    row = SessionRow(**values)
    db.add(row)
    try:
        await db.flush()
    except IntegrityError as exc:  # the live-name index: a concurrent create won
        raise SessionAlreadyExists() from exc
    for dependency in depends_on:
        db.add(SessionDependencyRow(session_id=row.id, depends_on=dependency))
    return session_from_row(row)


async def rename(db: DbSession, session_id: uuid.UUID, name: str) -> None:
    await db.execute(update(SessionRow).where(SessionRow.id == session_id).values(name=name))


async def scaling_group_exists(db: DbSession, name: str) -> bool:
    return await db.get(ScalingGroupRow, name) is not None


async def agent_groups(db: DbSession, agent_ids: Collection[str]) -> dict[str, str]:
    """The scaling group of each registered agent among ``agent_ids``."""
    stmt = select(AgentRow.id, AgentRow.scaling_group).where(AgentRow.id.in_(list(agent_ids)))
    return {agent_id: group for agent_id, group in (await db.execute(stmt)).all()}


async def policies_of(db: DbSession, keys: Collection[str]) -> list[tuple[str, ResourcePolicy]]:
    """(usage key, resource policy) for each of ``keys`` whose policy is known: a keypair's
    access key, or ``user:<uuid>`` for sessions made with other credentials."""
    stmt = (
        select(KeyPairRow.access_key, ResourcePolicyRow)
        .join(ResourcePolicyRow, ResourcePolicyRow.name == KeyPairRow.resource_policy)
        .where(KeyPairRow.access_key.in_(list(keys)))
    )
    found = [(key, policy_from_row(row)) for key, row in (await db.execute(stmt)).all()]
    users = sorted(key for key in keys if key.startswith("user:"))
    if users:
        default = await db.get(ResourcePolicyRow, USER_POLICY)
        found += [(key, policy_from_row(default)) for key in users if default is not None]
    return found
