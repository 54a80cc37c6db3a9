"""Image rows and their aliases, as :class:`~hangar.core.images.models.Image` values."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select

from hangar.core.images.models import Image, ImageProvider
from hangar.db.engine import DbSession
from hangar.db.tables.images import ImageAliasRow, ImageRow
from hangar.db.tables.registries import ContainerRegistryRow


async def _image(db: DbSession, row: ImageRow) -> Image:
    stmt = select(ImageAliasRow.alias).where(ImageAliasRow.image_id == row.id)
    aliases = tuple(sorted((await db.execute(stmt)).scalars()))
    return Image(
        id=row.id,
        registry=row.registry_name,
        name=row.name,
        tag=row.tag,
        architecture=row.architecture,
        labels=dict(row.labels),
        resource_limits=dict(row.resource_limits),
        provider=ImageProvider.from_json(dict(row.provider)),
        aliases=aliases,
    )


async def _find_row(
    db: DbSession, registry: str, name: str, tag: str, architecture: str
) -> ImageRow | None:
    stmt = select(ImageRow).where(
        ImageRow.registry_name == registry,
        ImageRow.name == name,
        ImageRow.tag == tag,
        ImageRow.architecture == architecture,
    )
    return (await db.execute(stmt)).scalar_one_or_none()


async def get(db: DbSession, image_id: uuid.UUID) -> Image | None:
    row = await db.get(ImageRow, image_id)
    return await _image(db, row) if row is not None else None


async def by_alias(db: DbSession, alias: str) -> Image | None:
    """The image an alias points at (None: no such alias)."""
    found = await db.get(ImageAliasRow, alias)
    return await get(db, found.image_id) if found is not None else None


async def find(
    db: DbSession, registry: str, name: str, tag: str, architecture: str
) -> Image | None:
    row = await _find_row(db, registry, name, tag, architecture)
    return await _image(db, row) if row is not None else None


async def known_names(db: DbSession) -> set[str]:
    """Every alias and every ``name:tag``."""
    known = set((await db.execute(select(ImageAliasRow.alias))).scalars())
    for name, tag in (await db.execute(select(ImageRow.name, ImageRow.tag))).all():
        known.add(f"{name}:{tag}")
    return known


async def all_by_name(db: DbSession) -> list[Image]:
    rows = (await db.execute(select(ImageRow).order_by(ImageRow.name))).scalars().all()
    return [await _image(db, r) for r in rows]


async def put(
    db: DbSession, registry: str, name: str, tag: str, architecture: str, now: datetime,
    values: dict[str, Any],
) -> uuid.UUID:  # fmt: skip
    """Add the image (or change the one of that reference) with ``values``; its id."""
    row = await _find_row(db, registry, name, tag, architecture)
    if row is None:
        row = ImageRow(id=uuid.uuid4(), registry_name=registry, name=name, tag=tag,
                       architecture=architecture, created_at=now)  # fmt: skip
        db.add(row)
    for key, value in values.items():
        setattr(row, key, value)
    await db.flush()
    image_id: uuid.UUID = row.id
    return image_id


async def point_alias(db: DbSession, alias: str, image_id: uuid.UUID) -> None:
    """Make ``alias`` name the image (added, or moved from another image)."""
    existing = await db.get(ImageAliasRow, alias)
    if existing is None:
        db.add(ImageAliasRow(alias=alias, image_id=image_id))
    else:
        existing.image_id = image_id


async def remove_alias(db: DbSession, alias: str) -> bool:
    """Delete the alias; False when there is none of that name."""
    result = await db.execute(delete(ImageAliasRow).where(ImageAliasRow.alias == alias))
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def labels_of(db: DbSession, image_id: uuid.UUID) -> dict[str, str]:
    row = await db.get(ImageRow, image_id)
    assert row is not None
    return dict(row.labels)


async def set_labels(db: DbSession, image_id: uuid.UUID, labels: dict[str, str]) -> None:
    row = await db.get(ImageRow, image_id)
    assert row is not None
    row.labels = labels


async def registries(db: DbSession) -> list[str]:
    stmt = select(ImageRow.registry_name).distinct().order_by(ImageRow.registry_name)
    return list((await db.execute(stmt)).scalars())


@dataclass(frozen=True, slots=True)
class RegistryRecord:
    hostname: str
    url: str
    username: str | None
    password_sealed: str | None


def _registry(row: ContainerRegistryRow) -> RegistryRecord:
    return RegistryRecord(row.hostname, row.url, row.username, row.password_sealed)


async def container_registries(db: DbSession) -> list[RegistryRecord]:
    stmt = select(ContainerRegistryRow).order_by(ContainerRegistryRow.hostname)
    return [_registry(row) for row in (await db.execute(stmt)).scalars()]


async def container_registry(db: DbSession, hostname: str) -> RegistryRecord | None:
    row = await db.get(ContainerRegistryRow, hostname)
    return _registry(row) if row is not None else None


async def put_container_registry(db: DbSession, hostname: str, now: datetime,
                                 values: dict[str, str | None]) -> None:  # fmt: skip
    """Add the registry (``url`` must then be among ``values``) or change its fields."""
    row = await db.get(ContainerRegistryRow, hostname)
    if row is None:
        row = ContainerRegistryRow(hostname=hostname, url=values.get("url") or "",
                                   created_at=now)  # fmt: skip
        db.add(row)
    for key, value in values.items():
        setattr(row, key, value)


async def remove_container_registry(db: DbSession, hostname: str) -> bool:
    stmt = delete(ContainerRegistryRow).where(ContainerRegistryRow.hostname == hostname)
    return bool((await db.execute(stmt)).rowcount)  # type: ignore[attr-defined]
