"""Volume domain types."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

GIB = 1 << 30
MIN_SIZE_GB = 1
MAX_SIZE_GB = 10240


class StorageType(StrEnum):
    """Where a volume lives: object storage (S3, R2) or a file system with a size (CEPH,
    VENDOR)."""

    S3 = "S3"
    R2 = "R2"
    CEPH = "CEPH"
    VENDOR = "VENDOR"

    @property
    def is_object_storage(self) -> bool:
        return self in (StorageType.S3, StorageType.R2)


class VendorType(StrEnum):
    NVME = "NVMe"
    HDD = "HDD"


class VolumeStatus(StrEnum):
    CREATING = "creating"
    ACTIVE = "active"
    RESIZING = "resizing"
    DELETING = "deleting"
    ERROR = "error"


@dataclass(frozen=True, slots=True)
class Volume:
    id: int
    owner_uuid: uuid.UUID
    name: str
    storage_type: StorageType
    region: str | None
    size_gb: int | None  # None: object storage, no fixed size
    vendor_type: VendorType | None
    status: VolumeStatus
    vfolder_id: uuid.UUID | None
    created_at: datetime

    @property
    def folder_name(self) -> str:
        """The name of the virtual folder behind it (what the Backend.AI face lists)."""
        return folder_name(self.id)


def folder_name(volume_id: int) -> str:
    return f"volume-{volume_id}"


@dataclass(frozen=True, slots=True)
class VolumeView:
    """A volume with what is known of it now: how many live sessions mount it, bytes used."""

    volume: Volume
    mount_count: int
    used_bytes: int
