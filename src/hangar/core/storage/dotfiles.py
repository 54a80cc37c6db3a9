"""Dotfiles: small files written into /home/work of every session in their scope.

Three scopes: ``user`` (a keypair, by access key), ``group`` (by group id) and ``domain``
(by name). A new session gets its domain's, its group's and its owner's dotfiles; where
two name the same path the narrower scope wins (user over group over domain). Members
read their group's and domain's dotfiles; administrators of the domain (and superadmins)
change them. Limits per scope owner: at most 100, 64 KiB in all, paths relative to
/home/work that neither escape it nor name reserved places or the owner's dot-folders,
permissions as three octal digits.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass

from hangar.core.errors import Forbidden, InvalidRequest, NotFound
from hangar.core.principal import Principal
from hangar.core.storage import paths, repo
from hangar.core.storage.models import Dotfile
from hangar.core.storage.repo import dotfiles as dotfile_rows
from hangar.core.storage.service import StorageService
from hangar.db.engine import DbSession

MAX_DOTFILES = 100
MAX_TOTAL_BYTES = 64 * 1024
RESERVED = frozenset({".terminfo", ".jupyter", ".ssh", ".ssh/authorized_keys", ".local", ".config"})
PERMISSION_RE = re.compile(r"^[0-7]{3}$")
USER, GROUP, DOMAIN = "user", "group", "domain"
PRECEDENCE = (DOMAIN, GROUP, USER)  # later scopes override earlier ones


@dataclass(frozen=True, slots=True)
class Scope:
    """Whose dotfiles: ``kind`` is user/group/domain, ``owner`` the user uuid, group id
    or domain name."""

    kind: str
    owner: str
    caller: Principal

    @classmethod
    def of_user(cls, owner: Principal) -> Scope:
        return cls(USER, str(owner.user_uuid), owner)


def _missing() -> NotFound:
    return NotFound("dotfile")


class Dotfiles:
    def __init__(self, storage: StorageService) -> None:
        self._storage = storage
        self._sessions = storage._sessions
        self._clock = storage._clock

    # Scopes -------------------------------------------------------------------------------

    async def group_scope(
        self, caller: Principal, group: str | None, domain: str | None, *, write: bool
    ) -> Scope:
        """The dotfiles of a group (id, or name within ``domain``, by default the caller's).

        Raises InvalidRequest (no group), NotFound (unknown or not the caller's group),
        Forbidden (changes by non-administrators)."""
        if not group:
            raise InvalidRequest("group: the group's id or name is required")
        domain = domain or caller.domain_name
        async with self._sessions() as db:
            row = await repo.find_group(db, domain, str(group))
            member = row is not None and row.id in await repo.group_ids_of(db, caller.user_uuid)
        admin = row is not None and (
            caller.is_superadmin or (caller.is_admin and row.domain_name == caller.domain_name)
        )
        if row is None or not (member or admin):
            raise NotFound("group")
        if write and not admin:
            raise Forbidden("Only administrators change group dotfiles.")
        return Scope(GROUP, str(row.id), caller)

    async def domain_scope(self, caller: Principal, domain: str | None, *, write: bool) -> Scope:
        """The dotfiles of a domain. Raises InvalidRequest, NotFound, Forbidden."""
        if not domain:
            raise InvalidRequest("domain: the domain's name is required")
        async with self._sessions() as db:
            exists = await dotfile_rows.domain_exists(db, domain)
        if not exists or not (caller.is_superadmin or caller.domain_name == domain):
            raise NotFound("domain")
        if write and not (caller.is_superadmin or caller.is_admin):
            raise Forbidden("Only administrators change domain dotfiles.")
        return Scope(DOMAIN, domain, caller)

    # Operations ---------------------------------------------------------------------------

    async def _check(self, scope: Scope, path: str, permission: str, data: str) -> str:
        parts = paths.parts_of(path, allow_root=False)
        clean = paths.joined(parts)
        if clean in RESERVED or parts[0] in (".ssh", ".jupyter", ".terminfo"):
            raise InvalidRequest(f"The dotfile path {path!r} is reserved.")
        if not PERMISSION_RE.match(permission):
            raise InvalidRequest("The permission must be three octal digits, e.g. 644.")
        if "\x00" in data:
            raise InvalidRequest("Dotfiles hold text.")
        if scope.kind == USER:
            folders = {a.folder.name for a in await self._storage.accessible(scope.caller)}
            if parts[0] in folders and parts[0].startswith("."):
                raise InvalidRequest(f"The dotfile path {path!r} is a folder of yours.")
        return clean

    async def _rows(self, kind: str, owner: str) -> list[Dotfile]:
        async with self._sessions() as db:
            return await dotfile_rows.of_scope(db, kind, owner)

    async def create(self, scope: Scope, path: str, permission: str, data: str) -> None:
        await self._storage.writable()
        clean = await self._check(scope, path, permission, data)
        async with self._sessions() as db, db.begin():
            existing = await self._rows(scope.kind, scope.owner)
            if any(r.path == clean for r in existing):
                raise InvalidRequest("Dotfile already exists.")
            if len(existing) >= MAX_DOTFILES:
                raise InvalidRequest(f"You can have at most {MAX_DOTFILES} dotfiles.")
            total = sum(len(r.data.encode()) for r in existing) + len(data.encode())
            if total > MAX_TOTAL_BYTES:
                raise InvalidRequest("Dotfiles may hold at most 64 KiB in all.")
            item = Dotfile(clean, permission, data)
            dotfile_rows.add(db, scope.kind, scope.owner, item, self._clock.now())

    async def list_all(self, scope: Scope) -> list[Dotfile]:
        return await self._rows(scope.kind, scope.owner)

    async def get(self, scope: Scope, path: str) -> Dotfile:
        clean = paths.joined(paths.parts_of(path, allow_root=False))
        for item in await self.list_all(scope):
            if item.path == clean:
                return item
        raise _missing()

    async def _find(self, db: DbSession, scope: Scope, clean: str) -> uuid.UUID:
        found = await dotfile_rows.find_id(db, scope.kind, scope.owner, clean)
        if found is None:
            raise _missing()
        return found

    async def update(self, scope: Scope, path: str, permission: str, data: str) -> None:
        await self._storage.writable()
        clean = await self._check(scope, path, permission, data)
        async with self._sessions() as db, db.begin():
            found = await self._find(db, scope, clean)
            others = await dotfile_rows.size_of_others(db, scope.kind, scope.owner, found)
            if others + len(data.encode()) > MAX_TOTAL_BYTES:
                raise InvalidRequest("Dotfiles may hold at most 64 KiB in all.")
            await dotfile_rows.change(db, found, permission, data)

    async def delete(self, scope: Scope, path: str) -> None:
        await self._storage.writable()
        clean = paths.joined(paths.parts_of(path, allow_root=False))
        async with self._sessions() as db, db.begin():
            await dotfile_rows.remove(db, await self._find(db, scope, clean))

    async def for_session(
        self, user_uuid: uuid.UUID, group_id: uuid.UUID | None, domain_name: str | None
    ) -> list[Dotfile]:
        """The dotfiles a new session gets: its domain's, group's and owner's, the narrower
        scope winning where paths collide."""
        owners = {USER: str(user_uuid), GROUP: str(group_id or ""), DOMAIN: domain_name or ""}
        scopes = [(kind, owners[kind]) for kind in PRECEDENCE if owners[kind]]
        async with self._sessions() as db:  # one query: it is on every session's start
            rows = await dotfile_rows.of_scopes(db, scopes)
        chosen: dict[str, Dotfile] = {}
        for scope in scopes:
            for item in rows[scope]:
                chosen[item.path] = item
        return [chosen[path] for path in sorted(chosen)]
