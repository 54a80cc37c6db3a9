"""Which storage host holds the volumes of each storage type."""

from __future__ import annotations

from collections.abc import Mapping

from hangar.core.errors import InvalidValue
from hangar.core.storage.hosts import StorageHosts
from hangar.core.volumes.models import StorageType


def volume_hosts(configured: Mapping[str, str], hosts: StorageHosts) -> dict[StorageType, str]:
    """The host of each storage type: as configured, else S3 and R2 on the first s3 host (none:
    those types cannot be created), CEPH and VENDOR on the local host (else the default)."""
    chosen: dict[StorageType, str] = {}
    s3_hosts = [b.name for b in hosts if b.kind == "s3"]
    local_hosts = [b.name for b in hosts if b.kind == "local"]
    for kind in StorageType:
        name = configured.get(kind.value)
        if name is None:
            if kind.is_object_storage:
                name = s3_hosts[0] if s3_hosts else None
            elif "local" in local_hosts:
                name = "local"
            else:
                name = hosts.default
        if name is not None:
            hosts.get(name)  # an unknown name is a configuration error, said at start
            chosen[kind] = name
    return chosen


def host_for(chosen: Mapping[StorageType, str], kind: StorageType) -> str:
    try:
        return chosen[kind]
    except KeyError:
        raise InvalidValue(
            "storage type", f"this installation has no storage host for {kind.value} volumes"
        ) from None
