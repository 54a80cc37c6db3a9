"""Storage housekeeping: expired uploads lose their staging files, crash leftovers are
removed, fresh uploads and download tokens are left alone (time from a fake clock)."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

from hangar.core.clock import FakeClock
from hangar.core.services import Services
from tests.component.test_bai_vfolders import Api, api, patch

__all__ = ["api"]  # the fixture


def staging(services: Services) -> Path:
    return services.settings.storage_dir / "local" / ".uploads"


async def test_sweeps_remove_expired_uploads_and_leftovers(
    api: Api, services: Services, clock: FakeClock
) -> None:
    await api.ok("POST", "/folders", {"name": "data"})
    stale = await api.ok("POST", "/folders/data/request-upload", {"path": "a", "size": 100})
    assert (await patch(api.client, stale, 0, b"x" * 40)).status_code == 204
    (staging(services) / uuid.uuid4().hex).write_bytes(b"partial")  # a crash's leftover
    assert len(os.listdir(staging(services))) == 2

    await api.upload("data", "kept", b"k")
    download = await api.ok("POST", "/folders/data/request-download", {"path": "kept"})

    clock.advance(services.settings.storage.token_seconds + 1)
    # Signed requests carry the real time: after moving the clock, call the core directly.
    owner = (await services.identity.credentials_for(api.signer.access_key)).caller
    token = await services.storage.files.request_upload(owner, "data", "b", 10)
    fresh = {"url": stale["url"], "token": token}
    result = await services.storage.files.sweep()
    assert (result.uploads, result.downloads, result.orphans) == (1, 1, 1)
    assert len(os.listdir(staging(services))) == 1  # the fresh upload's file stays
    gone = await api.client.get(download["url"], params={"token": download["token"]})
    assert gone.status_code == 404

    head = await api.client.head(stale["url"], params={"token": stale["token"]})
    assert head.status_code == 404
    done = await patch(api.client, fresh, 0, b"y" * 10)
    assert done.status_code == 204
    assert os.listdir(staging(services)) == []
    listing = await services.storage.files.list_files(owner, "data", ".")
    assert [item.name for item in listing] == ["b", "kept"]
