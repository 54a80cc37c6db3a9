"""Container registries: where images are pulled from, with credentials sealed by the server
key (like secret keys), and the scan that registers a registry's images with their labels.

A registry is named by its host (``127.0.0.1:5000``, ``ghcr.io``); its URL's scheme says
whether it speaks plain HTTP. Backend.AI labels read from image configs:
``ai.backend.resource.min.<slot>`` become resource minimums, ``ai.backend.runtime-path``
the interpreter; the rest (kernelspec, features, service-ports, base-distro) stay labels.
"""

from __future__ import annotations

import logging
import shlex
from dataclasses import dataclass
from urllib.parse import urlsplit

from sqlalchemy.ext.asyncio import async_sessionmaker

from hangar.core.clock import Clock
from hangar.core.errors import InvalidRequest, NotFound
from hangar.core.identity.directory import require_superadmin
from hangar.core.identity.secrets import SecretBox
from hangar.core.images import repo
from hangar.core.images.models import ImageProvider
from hangar.core.principal import Principal
from hangar.db.engine import DbSession
from hangar.util.oci.distribution import Credentials, RegistryClient
from hangar.util.oci.manifests import ImageConfig, host_architecture, parse_config
from hangar.util.oci.reference import Reference
from hangar.util.sizes import parse_size

log = logging.getLogger(__name__)
MIN_LABEL = "ai.backend.resource.min."
RUNTIME_PATH = "ai.backend.runtime-path"
DEFAULT_INTERPRETER = "/usr/bin/python3"
_ARCHITECTURES = {"amd64": "x86_64", "arm64": "aarch64"}


@dataclass(frozen=True, slots=True)
class Registry:
    hostname: str
    url: str
    username: str | None
    has_password: bool

    @property
    def insecure(self) -> bool:
        return urlsplit(self.url).scheme == "http"


@dataclass(frozen=True, slots=True)
class ScannedImage:
    """One tag of a registry's repository, as its manifest and config describe it."""

    hostname: str
    repository: str
    tag: str
    architecture: str  # Hangar's spelling (x86_64)
    digest: str
    size_bytes: int
    config: ImageConfig

    def provider(self) -> ImageProvider:
        interpreter = self.config.labels.get(RUNTIME_PATH) or DEFAULT_INTERPRETER
        reference = f"{self.hostname}/{self.repository}:{self.tag}"
        return ImageProvider("oci", reference, interpreter, self.digest, self.size_bytes,
                             default_command(self.config))  # fmt: skip

    def resource_limits(self) -> dict[str, dict[str, str | None]]:
        found: dict[str, dict[str, str | None]] = {}
        for key, value in self.config.labels.items():
            if key.startswith(MIN_LABEL):
                slot = key[len(MIN_LABEL) :]
                try:  # "256m" as Backend.AI images write memory, in bytes
                    amount = str(parse_size(value)) if slot == "mem" else value
                except ValueError:
                    continue
                found[slot] = {"min": amount, "max": None}
        return found


def default_command(config: ImageConfig) -> str | None:
    """The image's Entrypoint + Cmd as a shell command run in its WorkingDir (None: it
    declares neither)."""
    argv = [*config.entrypoint, *config.cmd]
    if not argv:
        return None
    command = "exec " + shlex.join(argv)
    return f"cd {shlex.quote(config.working_dir)} && {command}" if config.working_dir else command


def _check_url(hostname: str, url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise InvalidRequest(f"registry URL must be http(s)://host[:port], not {url!r}")
    if not hostname or "/" in hostname or any(c.isspace() for c in hostname):
        raise InvalidRequest(f"not a registry host name: {hostname!r}")
    return url.rstrip("/")


class RegistryService:
    def __init__(self, sessions: async_sessionmaker[DbSession], box: SecretBox,
                 clock: Clock) -> None:  # fmt: skip
        self._sessions, self._box, self._clock = sessions, box, clock

    async def all(self) -> list[Registry]:
        async with self._sessions() as db:
            found = await repo.container_registries(db)
        return [Registry(r.hostname, r.url, r.username, r.password_sealed is not None)
                for r in found]  # fmt: skip

    async def get(self, hostname: str) -> Registry | None:
        return next((r for r in await self.all() if r.hostname == hostname), None)

    async def set(
        self,
        caller: Principal,
        hostname: str,
        *,
        url: str | None = None,
        username: str | None = None,
        password: str | None = None,
    ) -> Registry:
        """Add a registry (``url`` needed) or change its URL or credentials (an empty
        username or password removes it). Superadmins only."""
        require_superadmin(caller)
        values: dict[str, str | None] = {}
        if url is not None:
            values["url"] = _check_url(hostname, url)
        if username is not None:
            values["username"] = username or None
        if password is not None:
            values["password_sealed"] = self._box.encrypt(password) if password else None
        async with self._sessions() as db, db.begin():
            if url is None and await repo.container_registry(db, hostname) is None:
                raise NotFound("container registry", ref=hostname)
            await repo.put_container_registry(db, hostname, self._clock.now(), values)
        found = await self.get(hostname)
        assert found is not None
        return found

    async def remove(self, caller: Principal, hostname: str) -> None:
        require_superadmin(caller)
        async with self._sessions() as db, db.begin():
            if not await repo.remove_container_registry(db, hostname):
                raise NotFound("container registry", ref=hostname)

    async def credentials(self, hostname: str) -> Credentials | None:
        return (await self.pull_settings(hostname))[0]

    async def pull_settings(self, hostname: str) -> tuple[Credentials | None, bool]:
        """The login a pull from ``hostname`` uses (None: anonymous) and whether it speaks
        plain HTTP; one read (it is on every image session's start)."""
        async with self._sessions() as db:
            record = await repo.container_registry(db, hostname)
        if record is None:
            return None, False
        insecure = urlsplit(record.url).scheme == "http"
        if record.username is None:
            return None, insecure
        password = self._box.decrypt(record.password_sealed) if record.password_sealed else ""
        return Credentials(record.username, password), insecure

    async def client(self, hostname: str) -> RegistryClient:
        """A client of the configured registry. Raises NotFound."""
        registry = await self.get(hostname)
        if registry is None:
            raise NotFound("container registry", ref=hostname)
        host = urlsplit(registry.url).netloc
        return RegistryClient(host, await self.credentials(hostname), insecure=registry.insecure)

    async def scan(self, hostname: str) -> tuple[list[ScannedImage], list[str]]:
        """Every tag of every repository of the registry for this host's architecture, and
        what could not be read (``repo:tag: reason``). Raises NotFound, RegistryError."""
        found: list[ScannedImage] = []
        failures: list[str] = []
        arch = host_architecture()
        async with await self.client(hostname) as client:
            for repository in await client.catalog():
                for tag in await client.tags(repository):
                    try:
                        ref = Reference(hostname, repository, tag)
                        manifest, _ = await client.manifest(ref, arch)
                        config = parse_config(await client.blob_bytes(repository, manifest.config))
                    except (RuntimeError, ValueError) as exc:
                        failures.append(f"{repository}:{tag}: {exc}")
                        continue
                    found.append(ScannedImage(hostname, repository, tag,
                                              _ARCHITECTURES.get(arch, arch), manifest.digest,
                                              manifest.size, config))  # fmt: skip
        return found, failures
