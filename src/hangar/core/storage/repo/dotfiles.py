"""Dotfile rows: a scope (``user``/``group``/``domain``) and its owner's files."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import and_, delete, func, or_, select, update

from hangar.core.storage.models import Dotfile
from hangar.db.engine import DbSession
from hangar.db.tables.identity import DomainRow
from hangar.db.tables.storage import DotfileRow


async def domain_exists(db: DbSession, name: str) -> bool:
    return await db.get(DomainRow, name) is not None


async def of_scope(db: DbSession, kind: str, owner: str) -> list[Dotfile]:
    """The scope owner's dotfiles by path."""
    rows = await db.scalars(
        select(DotfileRow)
        .where(DotfileRow.scope == kind, DotfileRow.owner == owner)
        .order_by(DotfileRow.path)
    )
    return [Dotfile(r.path, r.permission, r.data) for r in rows]


async def of_scopes(
    db: DbSession, scopes: Sequence[tuple[str, str]]
) -> dict[tuple[str, str], list[Dotfile]]:
    """The dotfiles of several (kind, owner) scopes in one query, each scope's by path."""
    found: dict[tuple[str, str], list[Dotfile]] = {scope: [] for scope in scopes}
    if not scopes:
        return found
    wanted = or_(
        *(and_(DotfileRow.scope == kind, DotfileRow.owner == owner) for kind, owner in scopes)
    )
    for r in await db.scalars(select(DotfileRow).where(wanted).order_by(DotfileRow.path)):
        found[(r.scope, r.owner)].append(Dotfile(r.path, r.permission, r.data))
    return found


def add(db: DbSession, kind: str, owner: str, item: Dotfile, now: datetime) -> None:
    db.add(
        DotfileRow(
            id=uuid.uuid4(), scope=kind, owner=owner, path=item.path,
            permission=item.permission, data=item.data, created_at=now,
        )
    )  # fmt: skip


async def find_id(db: DbSession, kind: str, owner: str, path: str) -> uuid.UUID | None:
    return await db.scalar(
        select(DotfileRow.id).where(
            DotfileRow.scope == kind, DotfileRow.owner == owner, DotfileRow.path == path
        )
    )


async def size_of_others(db: DbSession, kind: str, owner: str, dotfile_id: uuid.UUID) -> int:
    """The length of the scope owner's other dotfiles' data, summed."""
    total = await db.scalar(
        select(func.coalesce(func.sum(func.length(DotfileRow.data)), 0)).where(
            DotfileRow.scope == kind, DotfileRow.owner == owner, DotfileRow.id != dotfile_id
        )
    )
    return int(total or 0)


async def change(db: DbSession, dotfile_id: uuid.UUID, permission: str, data: str) -> None:
    await db.execute(
        update(DotfileRow)
        .where(DotfileRow.id == dotfile_id)
        .values(permission=permission, data=data)
    )


async def remove(db: DbSession, dotfile_id: uuid.UUID) -> None:
    await db.execute(delete(DotfileRow).where(DotfileRow.id == dotfile_id))
