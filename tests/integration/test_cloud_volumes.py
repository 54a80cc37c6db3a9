"""Volumes (S1-S6) through the official ``yottaml`` SDK's HTTP client (0.2.0 has no volume
methods: scripts call ``API.http_*`` as its own modules do) against a live server with an S3
host (SeaweedFS): each storage type, rename, resize, delete; the same folder through the
Backend.AI face; a volume a session mounts refuses delete and resize; bad bodies, unknown
ids and another user's key."""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.cloud import (
    FAKE_INVENTORY,
    YOTTA_CLI,
    CloudApi,
    admin_key,
    new_user,
    run_sdk,
)
from tests.support.live import LiveServer
from tests.support.s3 import s3_server

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("official_client")]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    if not YOTTA_CLI.exists():
        raise RuntimeError("official yottaml SDK missing: run scripts/install-official-clients.sh")
    home = tmp_path_factory.mktemp("cloud-volumes")
    (home / "s3").mkdir()
    with s3_server(home / "s3") as s3:
        if s3 is None:
            pytest.skip("SeaweedFS (weed) cannot run on this machine")
        hosts = {"s3": {"backend": "s3", "endpoint_url": s3.endpoint, "bucket": "volumes",
                        "access_key": s3.access_key, "secret_key": s3.secret_key}}  # fmt: skip
        live = LiveServer(
            home=home / "home",
            database_url=f"sqlite+aiosqlite:///{home}/h.db",
            extra_env={
                "HANGAR_FAKE_ACCELERATORS": FAKE_INVENTORY,
                "HANGAR_STORAGE_HOSTS": json.dumps(hosts),
            },  # fmt: skip
        )
        live.start()
        try:
            yield live
        finally:
            live.stop()


def sdk(server: LiveServer, key: str, script: str) -> list[Any]:
    """Run ``script`` with ``api`` (the SDK's client) defined; each printed line is JSON."""
    prelude = """
        import json
        from yottaml.api import API
        from yottaml.error import ClientError
        api = API(api_key=KEY, base_url=BASE)
        def out(value): print(json.dumps(value))
        def refused(call, *args):
            try:
                call(*args)
            except ClientError as e:
                return [e.status_code, e.error_code, e.error_message]
            return None
    """
    done = run_sdk(server, key, prelude + script)
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in done.stdout.splitlines() if line.strip()]


def ok(done: Any) -> str:
    out = str(done.stdout + done.stderr)
    assert done.returncode == 0, out
    return out


def test_each_storage_type_with_rename_resize_and_delete(server: LiveServer) -> None:
    ceph, vendor, s3, r2, listed, renamed, resized, shrink, gone, after = sdk(
        server,
        admin_key(server),
        """
        ceph = api.http_post("/v2/volumes", {"name": "ds-cache", "storageType": "CEPH",
                                             "region": "local", "sizeInGb": 2})["data"]
        out(ceph)
        out(api.http_post("/v2/volumes", {"name": "fast scratch", "storageType": "VENDOR",
                                          "sizeInGb": 3, "vendorVolumeType": "NVMe"})["data"])
        out(api.http_post("/v2/volumes", {"name": "bucket", "storageType": "S3"})["data"])
        out(api.http_post("/v2/volumes", {"name": "r2", "storageType": "R2"})["data"])
        out(api.http_get("/v2/volumes", {"storageType": "CEPH", "page": 1, "size": 10})["data"])
        vid = ceph["id"]
        out(api.http_post(f"/v2/volumes/{vid}/name", {"name": "ds-cache-2"})["data"])
        out(api.http_post(f"/v2/volumes/{vid}/resize", {"sizeInGb": 4}))
        out(refused(api.http_post, f"/v2/volumes/{vid}/resize", {"sizeInGb": 3}))
        out(api.http_delete(f"/v2/volumes/{vid}"))
        out(api.http_get(f"/v2/volumes/{vid}"))
        """,
    )
    assert ceph["storageType"] == "CEPH" and ceph["status"] == "active"
    assert (ceph["sizeInGb"], ceph["region"], ceph["mountCount"], ceph["cost"]) == (
        2,
        "local",
        0,
        0,
    )
    assert isinstance(ceph["createdAt"], int) and ceph["createdAt"] > 1_700_000_000_000
    assert ceph["vendorVolumeType"] is None and ceph["vfolderName"] == f"volume-{ceph['id']}"
    assert (vendor["storageType"], vendor["vendorVolumeType"], vendor["sizeInGb"]) == (
        "VENDOR", "NVMe", 3
    )  # fmt: skip
    assert vendor["region"] == "local"  # the default region when none is given (§4 item 16)
    assert (s3["storageType"], s3["sizeInGb"], s3["status"]) == ("S3", None, "active")
    assert (r2["storageType"], r2["sizeInGb"], r2["region"]) == ("R2", None, None)
    assert [v["id"] for v in listed["items"]] == [ceph["id"]]
    assert (listed["page"], listed["size"], listed["total"], listed["pages"]) == (1, 10, 1, 1)
    assert renamed["name"] == "ds-cache-2" and renamed["id"] == ceph["id"]
    assert resized == {"message": "success", "code": 10000, "data": None}
    assert shrink[:2] == [400, 10001] and "sizeInGb" in shrink[2]  # grow only (§4 item 16)
    assert gone["data"] is True
    assert after["code"] == 10007 and after["data"] is None


def test_the_volume_is_a_vfolder_of_the_backendai_face(server: LiveServer, tmp_path: Path) -> None:
    api = CloudApi(server, admin_key(server))
    ceph = api.post("/v2/volumes", json={"name": "shared", "storageType": "CEPH", "sizeInGb": 1})
    s3 = api.post("/v2/volumes", json={"name": "objects", "storageType": "S3"})
    ceph_name, s3_name = ceph.json()["data"]["vfolderName"], s3.json()["data"]["vfolderName"]
    listed = ok(server.official("vfolder", "list"))
    assert ceph_name in listed and s3_name in listed
    assert f'Virtual folder "{s3_name}"' in ok(server.official("vfolder", "info", s3_name))
    hosts = {f["name"]: f["host"] for f in server.signed("GET", "/folders").json()}
    assert (hosts[ceph_name], hosts[s3_name]) == ("local", "s3")
    work = tmp_path / "up"
    work.mkdir()
    (work / "weights.bin").write_bytes(b"x" * 4096)
    for name in (ceph_name, s3_name):
        ok(server.official("vfolder", "upload", name, "weights.bin", cwd=work))
        assert "weights.bin" in ok(server.official("vfolder", "ls", name, ".", cwd=work))
    for created in (ceph, s3):
        seen = api.get(f"/v2/volumes/{created.json()['data']['id']}").json()["data"]
        assert int(seen["sizeBytes"]) >= 4096, seen
    # The quota of a CEPH volume is its size (the Backend.AI face says it in MiB), and a resize
    # gives it the new one.
    assert server.signed("GET", f"/folders/{ceph_name}").json()["max_size"] == 1024
    resized = api.post(f"/v2/volumes/{ceph.json()['data']['id']}/resize", json={"sizeInGb": 3})
    assert resized.json()["code"] == 10000
    assert server.signed("GET", f"/folders/{ceph_name}").json()["max_size"] == 3 * 1024
    # Its folder deleted through the Backend.AI face, the volume is in error, and can go.
    ok(server.official("vfolder", "delete", s3_name))
    s3_id = s3.json()["data"]["id"]
    assert api.get(f"/v2/volumes/{s3_id}").json()["data"]["status"] == "error"
    assert api.delete(f"/v2/volumes/{s3_id}").json()["data"] is True
    assert api.get(f"/v2/volumes/{s3_id}").json()["code"] == 10007


@pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap is not installed")
def test_a_mounted_volume_refuses_delete_and_resize(server: LiveServer) -> None:
    api = CloudApi(server, admin_key(server))
    made = api.post("/v2/volumes", json={"name": "held", "storageType": "CEPH", "sizeInGb": 1})
    volume = made.json()["data"]
    ok(server.official("start", "-t", "holder", "-m", volume["vfolderName"], "python"))
    try:
        base = f"/v2/volumes/{volume['id']}"
        assert api.get(base).json()["data"]["mountCount"] == 1
        for refused in (api.delete(base), api.post(base + "/resize", json={"sizeInGb": 2})):
            assert refused.status_code == 200
            assert refused.json()["code"] == 12001, refused.json()
        assert api.get(base).json()["data"]["status"] == "active"
    finally:
        ok(server.official("rm", "holder"))
    assert api.get(base).json()["data"]["mountCount"] == 0
    assert api.delete(base).json() == {"message": "success", "code": 10000, "data": True}


@pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap is not installed")
def test_a_volume_a_pod_mounts_refuses_delete_until_the_pod_is_gone(server: LiveServer) -> None:
    vid, pod, counted, refused, gone, after = sdk(
        server,
        admin_key(server),
        """
        from yottaml.pod import PodApi
        pods = PodApi(api_key=KEY, base_url=BASE)
        vid = api.http_post("/v2/volumes", {"name": "pod-data", "storageType": "CEPH",
                                            "sizeInGb": 1})["data"]["id"]
        out(vid)
        pod = pods.new_pod(image="python", gpu_type="NVIDIA_RTX_4090_24G", gpu_count=1,
                           name="mounter",
                           persistent_volumes=[{"volumeId": vid, "mountPath": "/data"}])
        out(pod["data"]["id"])
        out(api.http_get(f"/v2/volumes/{vid}")["data"]["mountCount"])
        out(api.http_delete(f"/v2/volumes/{vid}")["code"])
        out(pods.delete_pod(str(pod["data"]["id"]))["data"])
        out(api.http_get(f"/v2/volumes/{vid}")["data"]["mountCount"])
        """,
    )
    assert (counted, refused, gone, after) == (1, 12001, True, 0), (vid, pod)
    assert CloudApi(server, admin_key(server)).delete(f"/v2/volumes/{vid}").json()["data"] is True


BAD_BODIES = [
    ({"storageType": "CEPH", "sizeInGb": 1}, "name"),
    ({"name": "", "storageType": "CEPH", "sizeInGb": 1}, "name"),
    ({"name": "x" * 256, "storageType": "CEPH", "sizeInGb": 1}, "name"),
    ({"name": "a\nb", "storageType": "CEPH", "sizeInGb": 1}, "name"),
    ({"name": "v"}, "storageType"),
    ({"name": "v", "storageType": "NFS"}, "storageType"),
    ({"name": "v", "storageType": "CEPH"}, "sizeInGb"),
    ({"name": "v", "storageType": "CEPH", "sizeInGb": 0}, "sizeInGb"),
    ({"name": "v", "storageType": "CEPH", "sizeInGb": 10241}, "sizeInGb"),
    ({"name": "v", "storageType": "CEPH", "sizeInGb": "5"}, "sizeInGb"),
    ({"name": "v", "storageType": "VENDOR", "sizeInGb": 5}, "vendorVolumeType"),
    ({"name": "v", "storageType": "VENDOR", "sizeInGb": 5, "vendorVolumeType": "SSD"},
     "vendorVolumeType"),
    ({"name": "v", "storageType": "CEPH", "sizeInGb": 1, "region": "a b"}, "region"),
]  # fmt: skip


@pytest.mark.parametrize(("body", "field"), BAD_BODIES)
def test_a_bad_body_is_10001_naming_the_field(
    server: LiveServer, body: dict[str, Any], field: str
) -> None:
    response = CloudApi(server, admin_key(server)).post("/v2/volumes", json=body)
    assert response.status_code == 400
    answer = response.json()
    assert answer["code"] == 10001 and field in answer["message"], answer


def test_unknown_ids_and_bad_routes(server: LiveServer) -> None:
    api = CloudApi(server, admin_key(server))
    for response in (
        api.get("/v2/volumes/987654"),
        api.delete("/v2/volumes/987654"),
        api.post("/v2/volumes/987654/name", json={"name": "x"}),
        api.post("/v2/volumes/987654/resize", json={"sizeInGb": 5}),
    ):
        assert (response.status_code, response.json()["code"]) == (200, 10007)
    assert api.get("/v2/volumes/abc").json()["code"] == 10001
    assert api.get("/v2/volumes", params={"storageType": "TAPE"}).json()["code"] == 10001
    assert api.get("/v2/volumes", params={"page": 0}).json()["code"] == 10001
    made = api.post("/v2/volumes", json={"name": "obj", "storageType": "S3"}).json()["data"]
    resize = api.post(f"/v2/volumes/{made['id']}/resize", json={"sizeInGb": 5}).json()
    assert resize["code"] == 12001  # object storage has no size to change
    assert api.post(f"/v2/volumes/{made['id']}/resize", json={}).json()["code"] == 10001
    assert api.post(f"/v2/volumes/{made['id']}/name", json={}).json()["code"] == 10001


def test_a_users_key_never_reaches_another_users_volumes(server: LiveServer) -> None:
    gina = new_user(server, "gina@volumes.test")
    hal = new_user(server, "hal@volumes.test")
    body = {"name": "ginas", "storageType": "CEPH", "sizeInGb": 1}
    vid = CloudApi(server, gina.key).post("/v2/volumes", json=body).json()["data"]["id"]
    hals = CloudApi(server, hal.key)
    base = f"/v2/volumes/{vid}"
    assert hals.get("/v2/volumes").json()["data"]["items"] == []
    assert hals.get(base).json()["code"] == 10007
    assert hals.post(base + "/name", json={"name": "stolen"}).json()["code"] == 10007
    assert hals.post(base + "/resize", json={"sizeInGb": 9}).json()["code"] == 10007
    assert hals.delete(base).json()["code"] == 10007
    ginas = CloudApi(server, gina.key).get(base).json()["data"]
    assert (ginas["name"], ginas["sizeInGb"], ginas["status"]) == ("ginas", 1, "active")


def test_a_sized_volume_costs_its_size_times_the_storage_price(server: LiveServer) -> None:
    priced = server.hangar("admin", "price", "set", "storage", "3600")  # per GiB-hour: 1/s
    assert priced.returncode == 0, priced.stdout + priced.stderr
    try:
        api = CloudApi(server, admin_key(server))
        ceph = api.post("/v2/volumes", json={"name": "paid", "storageType": "CEPH", "sizeInGb": 2})
        s3 = api.post("/v2/volumes", json={"name": "free", "storageType": "S3"})
        ceph_id, s3_id = ceph.json()["data"]["id"], s3.json()["data"]["id"]
        time.sleep(1.5)
        costs = {v["id"]: v["cost"] for v in api.get("/v2/volumes").json()["data"]["items"]}
        assert 2.5 < costs[ceph_id] < 60, costs  # 2 GiB for 1.5 s and more: about 3
        assert costs[s3_id] == 0  # object storage has no size to charge for
        assert api.delete(f"/v2/volumes/{ceph_id}").json()["data"] is True
    finally:
        server.hangar("admin", "price", "set", "storage", "0")
