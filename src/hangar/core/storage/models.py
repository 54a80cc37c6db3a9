"""Storage domain types: folders, access, invitations, file entries, hosts, mounts."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from hangar.core.errors import InvalidRequest


class Permission(StrEnum):
    """What a user may do in a folder: read-only, read-write, read-write-delete."""

    RO = "ro"
    RW = "rw"
    WD = "wd"

    @property
    def can_write(self) -> bool:
        return self is not Permission.RO

    @classmethod
    def parse(cls, value: str | None, default: Permission | None = None) -> Permission:
        if value is None and default is not None:
            return default
        try:
            return cls(str(value).lower())
        except ValueError:
            raise InvalidRequest(f"Invalid permission {value!r}: one of ro, rw, wd.") from None


class OwnershipType(StrEnum):
    USER = "user"
    GROUP = "group"


class UsageMode(StrEnum):
    GENERAL = "general"
    MODEL = "model"
    DATA = "data"

    @classmethod
    def parse(cls, value: str | None) -> UsageMode:
        try:
            return cls(str(value or "general").lower())
        except ValueError:
            raise InvalidRequest(
                f"Invalid usage mode {value!r}: one of general, model, data."
            ) from None


class InvitationState(StrEnum):
    PENDING = "pending"
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    CANCELED = "canceled"


NAME_RE = re.compile(r"^\.?[a-zA-Z0-9]([a-zA-Z0-9._-]*[a-zA-Z0-9])?$")
RESERVED_NAMES = frozenset({".terminfo", ".jupyter", ".tmux.conf"})
RESERVED_PATTERNS = (re.compile(r"^\.[a-z0-9]+rc$"), re.compile(r"^\.[a-z0-9]+_profile$"))
MAX_NAME_LENGTH = 64


def check_folder_name(name: str) -> str:
    """A valid vfolder name (``.ssh`` is allowed: it holds authorized_keys). Raises
    InvalidRequest naming the rule that failed."""
    if not isinstance(name, str) or not name or len(name) > MAX_NAME_LENGTH:
        raise InvalidRequest(f"Folder names are 1-{MAX_NAME_LENGTH} characters long.")
    if not NAME_RE.match(name):
        raise InvalidRequest(
            f"Invalid folder name {name!r}: letters, digits, '.', '_' and '-', starting "
            "(after an optional '.') and ending with a letter or digit."
        )
    if name in RESERVED_NAMES or any(p.match(name) for p in RESERVED_PATTERNS):
        raise InvalidRequest(f"The folder name {name!r} is reserved.")
    return name


@dataclass(frozen=True, slots=True)
class VFolder:
    id: uuid.UUID
    host: str
    name: str
    usage_mode: UsageMode
    permission: Permission
    quota_bytes: int
    cloneable: bool
    ownership_type: OwnershipType
    user_uuid: uuid.UUID | None
    group_id: uuid.UUID | None
    creator: str
    unmanaged_path: str | None
    created_at: datetime
    last_used: datetime | None


@dataclass(frozen=True, slots=True)
class Access:
    """A folder as one user sees it: their permission, whether they own it, who owns it."""

    folder: VFolder
    permission: Permission
    is_owner: bool
    user_email: str | None = None
    group_name: str | None = None


@dataclass(frozen=True, slots=True)
class Invitation:
    id: uuid.UUID
    vfolder_id: uuid.UUID
    vfolder_name: str
    inviter: str
    invitee: str
    permission: Permission
    state: InvitationState
    created_at: datetime
    modified_at: datetime


@dataclass(frozen=True, slots=True)
class FileItem:
    """One directory entry (the Virtual Folder File Object plus the kind)."""

    name: str
    kind: str  # FILE, DIRECTORY or SYMLINK
    size: int
    mode: int  # st_mode
    ctime: float
    mtime: float
    atime: float


@dataclass(frozen=True, slots=True)
class FolderUsage:
    file_count: int
    used_bytes: int


@dataclass(frozen=True, slots=True)
class VolumeInfo:
    """A storage host as administrators see it."""

    name: str
    backend: str
    path: str
    fsprefix: str
    capabilities: tuple[str, ...]
    capacity_bytes: int | None
    used_bytes: int | None
    hardware_metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class PerfMetric:
    iops_read: int = 0
    iops_write: int = 0
    io_bytes_read: int = 0
    io_bytes_write: int = 0
    io_usec_read: float = 0.0
    io_usec_write: float = 0.0


@dataclass(frozen=True, slots=True)
class MountRequest:
    """A folder a session asked for, checked against the owner's access."""

    name: str
    vfolder_id: uuid.UUID
    host: str
    target: str  # absolute path in the sandbox
    read_only: bool

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "vfolder_id": str(self.vfolder_id),
            "host": self.host,
            "target": self.target,
            "read_only": self.read_only,
        }


@dataclass(frozen=True, slots=True)
class Dotfile:
    path: str
    permission: str
    data: str


@dataclass(frozen=True, slots=True)
class UploadTicket:
    token: str
    url_path: str


@dataclass(frozen=True, slots=True)
class UploadState:
    """Where a resumable upload stands."""

    upload_id: uuid.UUID
    vfolder_id: uuid.UUID
    host: str
    relpath: str
    size: int
    offset: int
