"""Image administration: listing for everyone, aliases and labels for superadmins."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import async_sessionmaker

from hangar.core.errors import InvalidRequest, NotFound
from hangar.core.identity.directory import require_superadmin
from hangar.core.images import repo
from hangar.core.images.models import Image
from hangar.core.images.service import ImageService
from hangar.core.principal import Principal
from hangar.db.engine import DbSession

OPERATION_FEATURE = "operation"


def operation_image(image: Image) -> bool:
    """Operation images serve the system (not users); listings hide them unless asked."""
    return OPERATION_FEATURE in image.labels.get("ai.backend.features", "").split()


class ImageAdmin:
    def __init__(self, sessions: async_sessionmaker[DbSession], images: ImageService) -> None:
        self._sessions = sessions
        self._images = images

    async def find(self, caller: Principal, *, is_operation: bool | None = None) -> list[Image]:
        """Every image; ``is_operation`` keeps only (True) or hides (False) operation images."""
        found = await self._images.list()
        if is_operation is None:
            return found
        return [image for image in found if operation_image(image) == is_operation]

    async def get(self, reference: str, architecture: str = "x86_64") -> Image | None:
        try:
            return await self._images.resolve(reference, architecture)
        except NotFound:
            return None

    async def alias(
        self, caller: Principal, alias: str, target: str, architecture: str = "x86_64"
    ) -> None:
        """Point ``alias`` at the image ``target`` (replacing an older alias of that name)."""
        require_superadmin(caller)
        if not alias or len(alias) > 256 or any(c.isspace() for c in alias):
            raise InvalidRequest("alias must be 1 to 256 characters without spaces")
        image = await self._images.resolve(target, architecture)
        if alias in (image.short_ref, image.canonical):
            raise InvalidRequest("An alias may not repeat the image's own reference.")
        async with self._sessions() as db, db.begin():
            await repo.point_alias(db, alias, image.id)
        self._images.forget()

    async def dealias(self, caller: Principal, alias: str) -> None:
        require_superadmin(caller)
        async with self._sessions() as db, db.begin():
            if not await repo.remove_alias(db, alias):
                raise NotFound("image alias")
        self._images.forget()

    async def set_labels(
        self,
        caller: Principal,
        target: str,
        labels: dict[str, str],
        *,
        architecture: str = "x86_64",
        replace: bool = False,
    ) -> Image:
        """Add (or, with ``replace``, set) an image's labels; an empty value removes one."""
        require_superadmin(caller)
        image = await self._images.resolve(target, architecture)
        async with self._sessions() as db, db.begin():
            merged = {} if replace else await repo.labels_of(db, image.id)
            for key, value in labels.items():
                if value:
                    merged[key] = value
                else:
                    merged.pop(key, None)
            await repo.set_labels(db, image.id, merged)
        self._images.forget()
        return await self._images.get(image.id)

    async def registries(self) -> list[str]:
        async with self._sessions() as db:
            return await repo.registries(db)
