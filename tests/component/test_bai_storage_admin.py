"""Storage administration: run-time mounts are refused with a clear problem, not a 200."""

from __future__ import annotations

import httpx

from hangar.core.services import Services
from tests.component.test_bai_vfolders import PROBS, Api, api, new_user

__all__ = ["api"]  # the fixture


async def test_mount_and_umount_host_are_not_supported(
    api: Api, services: Services, client: httpx.AsyncClient
) -> None:
    listed = await api.ok("GET", "/folders/_/mounts")
    assert listed["manager"]["success"] is True and "local local" in listed["manager"]["mounts"]
    mount = await api.call(
        "POST", "/folders/_/mounts", {"name": "nas", "fs_location": "10.0.0.1:/nas"}
    )
    assert mount.status_code == 501
    assert mount.headers["content-type"] == "application/problem+json"
    assert mount.json()["type"] == PROBS + "not-implemented"
    assert "storage_hosts" in mount.json()["msg"]
    umount = await api.call("DELETE", "/folders/_/mounts", {"name": "local"})
    assert umount.status_code == 501 and "storage_hosts" in umount.json()["msg"]
    assert (await api.ok("GET", "/folders/_/mounts")) == listed  # nothing changed

    bob = await new_user(services, client, "bob@example.com")
    refused = await bob.call("POST", "/folders/_/mounts", {"name": "x", "fs_location": "y"})
    assert refused.status_code == 401  # the reference answers non-superadmins so
