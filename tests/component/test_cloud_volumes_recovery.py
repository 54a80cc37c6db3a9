"""Volumes a stopped server left half changed are settled at the next start: a resize goes
back to active, a creation or a deletion becomes ``error``, which its owner can delete."""

from __future__ import annotations

import pytest

from hangar.core.errors import Conflict
from hangar.core.services import Services
from hangar.core.volumes import repo
from hangar.core.volumes.models import StorageType, VolumeStatus


async def test_unsettled_volumes_are_settled_at_start(services: Services) -> None:
    assert services.first_admin is not None
    owner = await services.apikeys.principal_for(services.first_admin.api_key)
    made = [
        (
            await services.volumes.create(
                owner, name=f"v{i}", storage_type=StorageType.CEPH, size_gb=1
            )
        ).volume  # fmt: skip
        for i in range(3)
    ]
    passing = [VolumeStatus.RESIZING, VolumeStatus.CREATING, VolumeStatus.DELETING]
    async with services.sessions() as db, db.begin():
        for volume, status in zip(made, passing, strict=True):
            assert await repo.move(db, volume.id, VolumeStatus.ACTIVE, status)
    with pytest.raises(Conflict):  # being deleted: not deleted twice
        await services.volumes.delete(owner, made[2].id)
    await services.volumes.recover()
    settled = [(await services.volumes.get(owner, v.id)).status for v in made]
    assert settled == [VolumeStatus.ACTIVE, VolumeStatus.ERROR, VolumeStatus.ERROR]
    for volume in made[1:]:
        await services.volumes.delete(owner, volume.id)
    views, total = await services.volumes.page(owner)
    assert total == 1 and views[0].volume.id == made[0].id
