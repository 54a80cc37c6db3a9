"""The image registry: resolve references and aliases, register the host's Python."""

from __future__ import annotations

import difflib
import subprocess
import uuid
from pathlib import Path

from sqlalchemy.ext.asyncio import async_sessionmaker

from hangar.agent.models import ImageRequest
from hangar.core.bgtasks.service import BackgroundTasks, Progress
from hangar.core.clock import Clock
from hangar.core.errors import NotFound
from hangar.core.images import repo
from hangar.core.images.models import Image, ImageProvider
from hangar.core.images.registries import RegistryService
from hangar.core.principal import Principal
from hangar.db.engine import DbSession

LOCAL_REGISTRY = "local"
HOST_PYTHON = Path("/usr/bin/python3")

PYTHON_LABELS = {
    "ai.backend.features": "batch query uid-match user-input",
    "ai.backend.base-distro": "host",
    "ai.backend.runtime-type": "python",
    "ai.backend.runtime-path": str(HOST_PYTHON),
    "ai.backend.service-ports": "jupyter:http:8081,ttyd:http:7681,sshd:tcp:2200",
}
# The reference documentation's examples name this image; they run on the host's Python.
DOC_ALIASES = ("python:3.6-ubuntu18.04", "lablup/python:3.6-ubuntu18.04")
PYTHON_LIMITS: dict[str, dict[str, str | None]] = {
    "cpu": {"min": "1", "max": None},
    "mem": {"min": "134217728", "max": None},
}


def host_python_version(python: Path = HOST_PYTHON) -> str | None:
    """``3.11`` for the node's /usr/bin/python3, or None when it is missing."""
    try:
        out = subprocess.run(
            [str(python), "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def split_reference(ref: str) -> tuple[str, str, str]:
    """``[registry/]name[:tag]`` -> (registry, name, tag); registry defaults to ``local``."""
    name, _, tag = ref.rpartition(":") if ":" in ref.rsplit("/", 1)[-1] else (ref, "", "latest")
    registry = LOCAL_REGISTRY
    first, sep, rest = name.partition("/")
    if sep and ("." in first or first == LOCAL_REGISTRY):
        registry, name = first, rest
    return registry, name, tag or "latest"


class ImageService:
    def __init__(
        self,
        sessions: async_sessionmaker[DbSession],
        clock: Clock,
        *,
        cache_seconds: float = 2.0,
        registries: RegistryService | None = None,
    ) -> None:
        """``cache_seconds``: how long a found image is answered from memory (a session's
        creation looks its image up four times; writes through this process forget it at once,
        another server process's after that long)."""
        self.registries = registries
        self._sessions = sessions
        self._clock = clock
        self._cache_seconds = cache_seconds
        self._by_ref: dict[tuple[str, str], tuple[float, Image]] = {}
        self._by_id: dict[uuid.UUID, tuple[float, Image]] = {}

    def forget(self) -> None:
        """Drop the cached images (after a change of images or aliases)."""
        self._by_ref.clear()
        self._by_id.clear()

    def _cached(self, found: tuple[float, Image] | None) -> Image | None:
        if found is None or self._clock.monotonic() - found[0] > self._cache_seconds:
            return None
        return found[1]

    def _remember(self, image: Image, ref: tuple[str, str] | None = None) -> Image:
        entry = (self._clock.monotonic(), image)
        self._by_id[image.id] = entry
        if ref is not None:
            self._by_ref[ref] = entry
        return image

    async def resolve(self, ref: str, architecture: str = "x86_64") -> Image:
        """Find an image by alias, full reference or ``name:tag``. Raises NotFound."""
        if (cached := self._cached(self._by_ref.get((ref, architecture)))) is not None:
            return cached
        async with self._sessions() as db:
            image = await repo.by_alias(db, ref)
            if image is None:
                image = await repo.find(db, *split_reference(ref), architecture)
            if image is None:
                raise await self._not_found(db, ref)
        return self._remember(image, (ref, architecture))

    async def _not_found(self, db: DbSession, ref: str) -> NotFound:
        """NotFound for ``ref``, hinting at close names (``did you mean python:3.11?``) or,
        when there are only a few, all of them."""
        known = await repo.known_names(db)
        close = difflib.get_close_matches(ref, sorted(known), n=3, cutoff=0.6)
        hint = None
        if close:
            hint = f"did you mean {', '.join(close)}?"
        elif 0 < len(known) <= 5:
            hint = f"available: {', '.join(sorted(known))}"
        return NotFound("image", ref=ref, hint=hint)

    async def get(self, image_id: uuid.UUID) -> Image:
        if (cached := self._cached(self._by_id.get(image_id))) is not None:
            return cached
        async with self._sessions() as db:
            image = await repo.get(db, image_id)
        if image is None:
            raise NotFound("image")
        return self._remember(image)

    async def list(self) -> list[Image]:
        async with self._sessions() as db:
            return await repo.all_by_name(db)

    async def register(
        self,
        *,
        name: str,
        tag: str,
        provider: ImageProvider,
        labels: dict[str, str],
        resource_limits: dict[str, dict[str, str | None]],
        aliases: tuple[str, ...] = (),
        registry: str = LOCAL_REGISTRY,
        architecture: str = "x86_64",
    ) -> Image:
        """Add or update an image and point ``aliases`` at it (idempotent)."""
        self.forget()
        values = {
            "labels": labels,
            "resource_limits": resource_limits,
            "provider": provider.to_json(),
        }
        async with self._sessions() as db, db.begin():
            image_id = await repo.put(
                db, registry, name, tag, architecture, self._clock.now(), values
            )
            for alias in aliases:
                await repo.point_alias(db, alias, image_id)
        self.forget()
        return await self.get(image_id)

    async def rescan_in_background(
        self, tasks: BackgroundTasks, caller: Principal, registry: str | None = None
    ) -> uuid.UUID:
        """Re-register the images of ``registry`` (default: the local one) as a background
        task; its id. Raises NotFound for a registry that is not configured."""
        if registry not in (None, "", LOCAL_REGISTRY):
            assert registry is not None
            if self.registries is None or await self.registries.get(registry) is None:
                raise NotFound("container registry", ref=registry)
            return await tasks.start(
                kind="rescan_images", owner=caller, total=0, message="Rescanning",
                work=lambda progress: self._rescan_registry(registry, progress),
            )  # fmt: skip

        async def rescan(progress: Progress) -> str:
            image = await self.register_host_python()
            progress.set(1, 1, f"registered {image.canonical}" if image else "no host Python")
            return "Rescanned the local registry: 1 image." if image else "No images found."

        return await tasks.start(
            kind="rescan_images", owner=caller, work=rescan, total=1, message="Rescanning"
        )

    async def _rescan_registry(self, hostname: str, progress: Progress) -> str:
        """Register every image of a configured registry with its labels and sizes."""
        assert self.registries is not None
        found, failures = await self.registries.scan(hostname)
        for number, scanned in enumerate(found, 1):
            await self.register(
                name=scanned.repository, tag=scanned.tag, provider=scanned.provider(),
                labels=dict(scanned.config.labels), resource_limits=scanned.resource_limits(),
                registry=hostname, architecture=scanned.architecture,
            )  # fmt: skip
            progress.set(number, len(found), f"registered {hostname}/{scanned.repository}")
        skipped = f"; {len(failures)} skipped ({'; '.join(failures[:3])})" if failures else ""
        return f"Rescanned {hostname}: {len(found)} image(s){skipped}."

    async def pull_request(self, image: Image) -> ImageRequest | None:
        """What a node needs to pull ``image`` (None: not a container image)."""
        if image.provider.kind != "oci" or image.provider.path is None:
            return None
        found = await self.registries.pull_settings(image.registry) if self.registries else None
        creds, insecure = found if found is not None else (None, False)
        return ImageRequest(
            reference=image.provider.path, digest=image.provider.digest,
            username=creds.username if creds else None,
            password=creds.password if creds else None,
            insecure=insecure,
        )  # fmt: skip

    async def register_host_python(self) -> Image | None:
        """Register ``python:<host version>`` backed by /usr/bin/python3, with aliases."""
        version = host_python_version()
        if version is None:
            return None
        aliases = ("python", "python:3", "python:latest", f"python:{version}-host", *DOC_ALIASES)
        return await self.register(
            name="python",
            tag=version,
            provider=ImageProvider("host", None, str(HOST_PYTHON)),
            labels=PYTHON_LABELS,
            resource_limits=PYTHON_LIMITS,
            aliases=aliases,
        )
