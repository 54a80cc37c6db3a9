"""Stored session templates, with their owner's email and group's name."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, or_, select, update

from hangar.db.engine import DbSession
from hangar.db.tables.identity import GroupMemberRow, GroupRow, UserRow
from hangar.db.tables.templates import SessionTemplateRow


@dataclass(frozen=True, slots=True)
class StoredTemplate:
    id: uuid.UUID
    name: str
    type: str
    user_uuid: uuid.UUID
    user_email: str
    group_id: uuid.UUID | None
    group_name: str | None
    domain_name: str
    template: dict[str, Any]
    created_at: datetime


def _visible(domain_name: str | None, member: uuid.UUID | None) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = [SessionTemplateRow.is_active.is_(True)]
    if domain_name is not None:
        conditions.append(SessionTemplateRow.domain_name == domain_name)
    if member is not None:
        groups = select(GroupMemberRow.group_id).where(GroupMemberRow.user_id == member)
        conditions.append(
            or_(SessionTemplateRow.user_uuid == member, SessionTemplateRow.group_id.in_(groups))
        )
    return conditions


async def visible(
    db: DbSession,
    *,
    domain_name: str | None = None,
    member: uuid.UUID | None = None,
    template_id: uuid.UUID | None = None,
) -> list[StoredTemplate]:
    """Active templates, oldest first: of ``domain_name`` (None: any), of ``member`` or
    their groups (None: anyone's), the one of ``template_id`` if given."""
    stmt = (
        select(SessionTemplateRow, UserRow.email, GroupRow.name)
        .join(UserRow, UserRow.uuid == SessionTemplateRow.user_uuid)
        .outerjoin(GroupRow, GroupRow.id == SessionTemplateRow.group_id)
        .where(*_visible(domain_name, member))
        .order_by(SessionTemplateRow.created_at, SessionTemplateRow.id)
    )
    if template_id is not None:
        stmt = stmt.where(SessionTemplateRow.id == template_id)
    return [
        StoredTemplate(
            id=row.id,
            name=row.name,
            type=row.type,
            user_uuid=row.user_uuid,
            user_email=email,
            group_id=row.group_id,
            group_name=group_name,
            domain_name=row.domain_name,
            template=dict(row.template),
            created_at=row.created_at,
        )  # fmt: skip
        for row, email, group_name in (await db.execute(stmt)).all()
    ]


def add(db: DbSession, template: StoredTemplate) -> None:
    """Store an active task template (its email and group name are not stored)."""
    db.add(
        SessionTemplateRow(
            id=template.id, name=template.name, type=template.type, is_active=True,
            domain_name=template.domain_name, group_id=template.group_id,
            user_uuid=template.user_uuid, template=template.template,
            created_at=template.created_at, modified_at=template.created_at,
        )
    )  # fmt: skip


async def change(db: DbSession, template_id: uuid.UUID, **values: Any) -> None:
    await db.execute(
        update(SessionTemplateRow).where(SessionTemplateRow.id == template_id).values(**values)
    )
