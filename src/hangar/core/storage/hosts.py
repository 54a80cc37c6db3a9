"""The storage hosts of this installation, built once from the settings."""

from __future__ import annotations

import os
from collections.abc import Iterator

from hangar.core.errors import InvalidRequest
from hangar.core.storage.backends.base import StorageBackend
from hangar.core.storage.backends.local import LocalBackend
from hangar.core.storage.backends.s3 import S3Backend
from hangar.settings import Settings, StorageHostConfig


class StorageHosts:
    """Backends by host name; ``default`` is the host of folders created without one."""

    def __init__(self, backends: dict[str, StorageBackend], default: str | None) -> None:
        self._backends = backends
        self.default = default if default in backends else None

    @classmethod
    def from_settings(cls, settings: Settings) -> StorageHosts:
        configs = dict(settings.storage.hosts)
        configs.setdefault("local", StorageHostConfig(backend="local"))
        local_roots = settings.local_storage_roots()
        # Sessions run as the work user: folders they write to must belong to it.
        owner = (
            (settings.sandbox.work_uid, settings.sandbox.work_gid) if os.geteuid() == 0 else None
        )
        backends: dict[str, StorageBackend] = {}
        for name, config in configs.items():
            if config.backend == "local":
                backends[name] = LocalBackend(name, local_roots[name], owner=owner)
            else:
                if not config.bucket:
                    raise ValueError(f"storage host {name!r}: an s3 host needs a bucket")
                secret = config.secret_key.get_secret_value() if config.secret_key else None
                backends[name] = S3Backend(
                    name,
                    endpoint_url=config.endpoint_url,
                    bucket=config.bucket,
                    prefix=config.prefix,
                    region=config.region,
                    access_key=config.access_key,
                    secret_key=secret,
                    staging_dir=settings.storage_dir / ".s3-staging" / name,
                    capacity_bytes=config.capacity_bytes,
                )
        return cls(backends, settings.storage.default_host)

    def names(self) -> list[str]:
        return sorted(self._backends)

    def get(self, name: str) -> StorageBackend:
        try:
            return self._backends[name]
        except KeyError:
            raise InvalidRequest(f"Unknown storage host: {name!r}") from None

    def __iter__(self) -> Iterator[StorageBackend]:
        return iter(self._backends.values())

    async def close(self) -> None:
        for backend in self._backends.values():
            await backend.close()
