"""Folders in sessions: which folders a new session mounts where, and with what access;
dotfiles written into /home/work at session start.

``-m name`` mounts at ``/home/work/name``; ``name:alias`` or ``mount_map`` put it at
``/home/work/alias`` or, for a ``/``-prefixed alias, at that absolute path (system
directories excepted). A folder the owner may only read is mounted read-only. The
owner's ``.ssh`` folder is mounted at ``/home/work/.ssh`` with the modes sshd wants.

Quotas and sessions: a session writes into a mounted folder directly, and this machine's
file systems offer no per-directory quota, so those writes are not stopped as they happen.
The quota is applied after the fact instead: a folder holding its quota or more refuses
uploads, reports ``over_quota`` in its info, and is mounted read-only into sessions that
start while it is over, until files are deleted. See docs/design/storage-quotas.md.
"""

from __future__ import annotations

import asyncio
import logging
import posixpath
import stat
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hangar.core.errors import InvalidRequest
from hangar.core.principal import Principal
from hangar.core.storage.models import MountRequest
from hangar.core.storage.service import StorageService
from hangar.util import fdtree

log = logging.getLogger("hangar.storage")

HOME = "/home/work"
MAX_MOUNTS = 5
SSH_FOLDER = ".ssh"
SYSTEM_DIRS = (
    "/bin", "/boot", "/dev", "/etc", "/lib", "/lib64", "/opt/hangar", "/proc", "/root",
    "/run", "/sbin", "/sys", "/tmp", "/usr", "/var",
)  # fmt: skip
RESERVED_TARGETS = frozenset(
    {HOME + "/" + n for n in (".jupyter", ".terminfo", ".local", ".config", "bootstrap.sh")}
)


@dataclass(frozen=True, slots=True)
class HostMount:
    """A resolved mount: the folder's directory on this machine and where it appears."""

    host_path: str
    target: str
    read_only: bool


def split_mount(spec: str) -> tuple[str, str | None]:
    """``name`` or ``name:alias`` (also ``name=alias``, as some clients write it)."""
    for sep in (":", "="):
        if sep in spec:
            name, alias = spec.split(sep, 1)
            return name.strip(), alias.strip() or None
    return spec.strip(), None


def mount_target(name: str, alias: str | None) -> str:
    """The absolute path in the sandbox. Raises InvalidRequest for escapes and system paths."""
    raw = alias or name
    if "\x00" in raw:
        raise InvalidRequest("Invalid mount path.")
    target = posixpath.normpath(raw if raw.startswith("/") else posixpath.join(HOME, raw))
    if target in ("/", HOME, "/home") or target in RESERVED_TARGETS:
        raise InvalidRequest(f"The mount path {raw!r} is reserved.")
    if any(target == d or target.startswith(d + "/") for d in SYSTEM_DIRS):
        raise InvalidRequest(f"Cannot mount a folder over the system path {target!r}.")
    if not raw.startswith("/") and not target.startswith(HOME + "/"):
        raise InvalidRequest(f"The mount path {raw!r} leads outside {HOME}.")
    return target


class Mounts:
    def __init__(self, storage: StorageService) -> None:
        self._storage = storage

    async def resolve(
        self, owner: Principal, names: Sequence[str], mount_map: Mapping[str, str] | None = None
    ) -> list[MountRequest]:
        """Check the folders a new session asks for; returns them in mount order.

        Raises InvalidRequest (too many, duplicates, bad paths, not mountable) or NotFound.
        """
        wanted: dict[str, str | None] = {}
        for spec in names:
            name, alias = split_mount(str(spec))
            if name:
                wanted[name] = alias or wanted.get(name)
        for name, alias in (mount_map or {}).items():
            wanted[str(name)] = str(alias) if alias else wanted.get(str(name))
        if len(wanted) > MAX_MOUNTS:
            raise InvalidRequest(f"A session may mount at most {MAX_MOUNTS} folders.")
        access = {a.folder.name: a for a in await self._storage.accessible(owner)}
        if SSH_FOLDER in access and access[SSH_FOLDER].is_owner:
            wanted.setdefault(SSH_FOLDER, None)
        mounts: list[MountRequest] = []
        targets: set[str] = set()
        for name, alias in wanted.items():
            found = access.get(name)
            if found is None:
                raise InvalidRequest(f"No such virtual folder to mount: {name!r}")
            target = mount_target(name, alias)
            if target in targets:
                raise InvalidRequest(f"Two folders would be mounted at {target}.")
            targets.add(target)
            if self._storage.hosts.get(found.folder.host).mount_path(found.folder.id) is None:
                raise InvalidRequest(
                    f"The folder {name!r} is on the object-storage host "
                    f"{found.folder.host!r}, which cannot be mounted into sessions."
                )
            writable = found.permission.can_write and (
                not found.is_owner or found.folder.permission.can_write
            )
            mounts.append(
                MountRequest(name, found.folder.id, found.folder.host, target, not writable)
            )
        await self._storage.touch([m.vfolder_id for m in mounts])
        return mounts

    async def host_mounts(self, stored: Sequence[Mapping[str, Any]]) -> list[HostMount]:
        """The bind mounts of a session from what :meth:`resolve` stored for it; a folder
        that is over its quota when the session starts is mounted read-only."""
        result: list[HostMount] = []
        for item in stored:
            if not isinstance(item, Mapping) or "vfolder_id" not in item:
                continue
            vfid = uuid.UUID(str(item["vfolder_id"]))
            backend = self._storage.hosts.get(str(item["host"]))
            path = backend.mount_path(vfid)
            folder = await self._storage.find_by_id(vfid)
            if folder is None or path is None or not path.is_dir():
                raise InvalidRequest(f"The folder {item.get('name')!r} is no longer available.")
            read_only = bool(item["read_only"])
            if not read_only and folder.quota_bytes > 0:
                usage = await self._storage.usage(folder)
                if self._storage.is_over_quota(folder, usage):
                    log.info("folder %s is over its quota: mounted read-only", folder.id)
                    read_only = True
            if item.get("name") == SSH_FOLDER:
                await asyncio.to_thread(_fix_ssh_modes, path)
            result.append(HostMount(str(path), str(item["target"]), read_only))
        return result


def _fix_ssh_modes(path: Path) -> None:
    """sshd ignores keys in group- or world-writable places: tighten the .ssh folder (by
    descriptors: the folder may be mounted into a running session that swaps its files)."""
    fdtree.chmod_files(path, dir_mode=stat.S_IRWXU, file_mode=stat.S_IRUSR | stat.S_IWUSR)
