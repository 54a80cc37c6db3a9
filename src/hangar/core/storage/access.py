"""What an operation needs of the caller's access to a folder, and the refusals worded
for it."""

from __future__ import annotations

import uuid
from enum import Enum

from hangar.core.errors import FolderInUse, Forbidden, NotFound
from hangar.core.principal import Principal
from hangar.core.storage.models import OwnershipType, VFolder


class Need(Enum):
    """What an operation needs of the caller's access to a folder."""

    READ = "read"
    WRITE = "write"
    OWNER = "owner"


def folder_not_found() -> NotFound:
    return NotFound("folder")


def owner_only(folder: VFolder, action: str) -> Forbidden:
    """The refusal of ``action`` on a folder the caller reaches but does not own."""
    if folder.ownership_type is OwnershipType.GROUP:
        return Forbidden(f"Only administrators can {action} this project folder.")
    return Forbidden(f"Only the owner can {action} this folder.")


def folder_in_use(
    folder: VFolder, sessions: list[tuple[uuid.UUID, str, uuid.UUID]], caller: Principal
) -> FolderInUse:
    """The refusal to delete a folder that sessions mount: the caller's own sessions by
    name and id, other users' only counted."""
    own = [(name, sid) for sid, name, owner in sessions if caller.owns(owner)]
    return FolderInUse(folder.name, folder.id, own, len(sessions) - len(own))


def not_sharable() -> NotFound:
    """Share/unshare of a folder that is not a group's (invite its owner's users instead)."""
    return NotFound("folder", "Only project folders are directly sharable.")
