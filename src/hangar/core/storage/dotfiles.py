"""Dotfiles: small files written into /home/work of every session of their owner.

Scope ``user`` belongs to a keypair (access key). Limits: at most 100 per owner, 64 KiB in
all, paths relative to /home/work that neither escape it nor name reserved places or the
owner's dot-folders, permissions as three octal digits.
"""

from __future__ import annotations

import re
import uuid

from sqlalchemy import func, select

from hangar.core.errors import InvalidRequest, NotFound
from hangar.core.identity.models import Caller
from hangar.core.storage import paths
from hangar.core.storage.models import Dotfile
from hangar.core.storage.service import StorageService
from hangar.db.tables import DotfileRow

MAX_DOTFILES = 100
MAX_TOTAL_BYTES = 64 * 1024
RESERVED = frozenset({".terminfo", ".jupyter", ".ssh", ".ssh/authorized_keys", ".local", ".config"})
PERMISSION_RE = re.compile(r"^[0-7]{3}$")
USER = "user"


def _missing() -> NotFound:
    return NotFound("dotfile")


class Dotfiles:
    def __init__(self, storage: StorageService) -> None:
        self._storage = storage
        self._sessions = storage._sessions
        self._clock = storage._clock

    async def _check(self, caller: Caller, path: str, permission: str, data: str) -> str:
        parts = paths.parts_of(path, allow_root=False)
        clean = paths.joined(parts)
        if clean in RESERVED or parts[0] in (".ssh", ".jupyter", ".terminfo"):
            raise InvalidRequest(f"The dotfile path {path!r} is reserved.")
        if not PERMISSION_RE.match(permission):
            raise InvalidRequest("The permission must be three octal digits, e.g. 644.")
        if "\x00" in data:
            raise InvalidRequest("Dotfiles hold text.")
        folders = {a.folder.name for a in await self._storage.accessible(caller)}
        if parts[0] in folders and parts[0].startswith("."):
            raise InvalidRequest(f"The dotfile path {path!r} is a folder of yours.")
        return clean

    async def _rows(self, owner: str) -> list[DotfileRow]:
        async with self._sessions() as db:
            rows = await db.scalars(
                select(DotfileRow)
                .where(DotfileRow.scope == USER, DotfileRow.owner == owner)
                .order_by(DotfileRow.path)
            )
            return list(rows)

    async def create(self, caller: Caller, path: str, permission: str, data: str) -> None:
        await self._storage.writable()
        clean = await self._check(caller, path, permission, data)
        async with self._sessions() as db, db.begin():
            existing = await self._rows(caller.access_key)
            if any(r.path == clean for r in existing):
                raise InvalidRequest("Dotfile already exists.")
            if len(existing) >= MAX_DOTFILES:
                raise InvalidRequest(f"You can have at most {MAX_DOTFILES} dotfiles.")
            total = sum(len(r.data.encode()) for r in existing) + len(data.encode())
            if total > MAX_TOTAL_BYTES:
                raise InvalidRequest("Dotfiles may hold at most 64 KiB in all.")
            db.add(
                DotfileRow(
                    id=uuid.uuid4(), scope=USER, owner=caller.access_key, path=clean,
                    permission=permission, data=data, created_at=self._clock.now(),
                )
            )  # fmt: skip

    async def list_all(self, caller: Caller) -> list[Dotfile]:
        return [Dotfile(r.path, r.permission, r.data) for r in await self._rows(caller.access_key)]

    async def get(self, caller: Caller, path: str) -> Dotfile:
        clean = paths.joined(paths.parts_of(path, allow_root=False))
        for item in await self.list_all(caller):
            if item.path == clean:
                return item
        raise _missing()

    async def update(self, caller: Caller, path: str, permission: str, data: str) -> None:
        await self._storage.writable()
        clean = await self._check(caller, path, permission, data)
        async with self._sessions() as db, db.begin():
            row = await db.scalar(
                select(DotfileRow).where(
                    DotfileRow.scope == USER,
                    DotfileRow.owner == caller.access_key,
                    DotfileRow.path == clean,
                )
            )
            if row is None:
                raise _missing()
            others = await db.scalar(
                select(func.coalesce(func.sum(func.length(DotfileRow.data)), 0)).where(
                    DotfileRow.scope == USER,
                    DotfileRow.owner == caller.access_key,
                    DotfileRow.id != row.id,
                )
            )
            if int(others or 0) + len(data.encode()) > MAX_TOTAL_BYTES:
                raise InvalidRequest("Dotfiles may hold at most 64 KiB in all.")
            row.permission, row.data = permission, data

    async def delete(self, caller: Caller, path: str) -> None:
        await self._storage.writable()
        clean = paths.joined(paths.parts_of(path, allow_root=False))
        async with self._sessions() as db, db.begin():
            row = await db.scalar(
                select(DotfileRow).where(
                    DotfileRow.scope == USER,
                    DotfileRow.owner == caller.access_key,
                    DotfileRow.path == clean,
                )
            )
            if row is None:
                raise _missing()
            await db.delete(row)

    async def for_session(self, access_key: str) -> list[Dotfile]:
        """The dotfiles a new session of ``access_key`` gets."""
        return [Dotfile(r.path, r.permission, r.data) for r in await self._rows(access_key)]
