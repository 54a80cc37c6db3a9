"""VMs (V1-V5) through the official ``yottaml`` SDK (its ``GpuApi`` for the types, its HTTP
client for the rest: 0.2.0 has no VM methods) against a live server with the fake inventory
(2x RTX 4090, 1x H100): a VM is a compute session ``vm-<id>`` seen by ``backend.ai ps``; ssh
reaches it the way its ``sshTemplate`` says; a volume mounted in it counts and refuses delete;
rename, terminate; a spot VM is stopped for an on-demand one; errors and another user's key."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.cloud import CloudApi, admin_key, cloud_server, new_user, run_sdk
from tests.support.live import HANGAR, LiveServer, wait_for

pytestmark = [
    pytest.mark.integration,
    pytest.mark.usefixtures("official_client"),
    pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap is not installed"),
]
H100 = "NVIDIA_H100_80G"
RTX = "NVIDIA_RTX_4090_24G"
SSH_OPTIONS = (
    "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
    "-o", "IdentitiesOnly=yes", "-o", "LogLevel=ERROR",
)  # fmt: skip


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    yield from cloud_server(tmp_path_factory.mktemp("cloud-vms"))


def vm_type(server: LiveServer, code: str) -> int:
    """The vmTypeId of ``code`` in the local region, read with the SDK's ``get_gpus``."""
    script = """
        import json
        from yottaml.gpu import GpuApi
        print(json.dumps(GpuApi(api_key=KEY, base_url=BASE).get_gpus()["data"]))
    """
    done = run_sdk(server, admin_key(server), script)
    assert done.returncode == 0, done.stderr
    (found,) = [t for t in json.loads(done.stdout) if t["gpuType"] == code]
    (region,) = found["regions"]
    assert region["region"] == "local"
    return int(region["vmTypeId"])


def status_of(api: CloudApi, vm_id: int, wanted: str) -> dict[str, Any] | None:
    vm: dict[str, Any] = api.get(f"/v2/vms/{vm_id}").json()["data"]
    return vm if vm["status"] == wanted else None


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def ssh_through_hangar(server: LiveServer, session: str, key: Path, command: str) -> str:
    """``hangar app SESSION sshd -b PORT & ssh -p PORT work@127.0.0.1``, as sshTemplate says."""
    port = free_port()
    proxy = subprocess.Popen(
        [str(HANGAR), "app", session, "sshd", "-b", f"127.0.0.1:{port}"],
        env=server.server_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True,
    )  # fmt: skip
    try:
        assert proxy.stdout is not None
        seen = ""
        while f"127.0.0.1:{port}" not in seen:
            line = proxy.stdout.readline()
            assert line, f"hangar app exited early: {seen}"
            seen += line
        done = subprocess.run(
            ["ssh", *SSH_OPTIONS, "-i", str(key), "-p", str(port), "work@127.0.0.1", command],
            capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        return done.stdout
    finally:
        proxy.terminate()
        proxy.wait(10)


@pytest.mark.skipif(shutil.which("ssh") is None, reason="the OpenSSH client is not installed")
@pytest.mark.skipif(not Path("/usr/sbin/sshd").exists(), reason="openssh-server missing")
def test_create_ssh_in_rename_and_terminate(server: LiveServer, tmp_path: Path) -> None:
    api = CloudApi(server, admin_key(server))
    volume = api.post("/v2/volumes", json={"name": "vm-data", "storageType": "CEPH",
                                           "sizeInGb": 1}).json()["data"]  # fmt: skip
    type_id = vm_type(server, H100)
    done = run_sdk(
        server,
        admin_key(server),
        f"""
        import json
        from yottaml.api import API
        api = API(api_key=KEY, base_url=BASE)
        body = {{"vmTypeId": {type_id}, "region": "local", "name": "trainer-a",
                "volumeMountPaths": {{"{volume["id"]}": "/data"}}}}
        print(json.dumps(api.http_post("/v2/vms", body)["data"]))
        """,
    )
    assert done.returncode == 0, done.stderr
    created = json.loads(done.stdout)
    assert created["status"] in ("initializing", "running") and created["isSpot"] == 0
    vm_id = created["id"]
    vm = wait_for(lambda: status_of(api, vm_id, "running"), "the VM runs")
    assert (vm["gpuType"], vm["gpuDisplayName"], vm["gpuCount"], vm["gpuMemoryInGb"]) == (
        H100, "H100", 1, "80"
    )  # fmt: skip
    assert (vm["cpuCores"], vm["memoryInGb"], vm["storageInGb"], vm["region"]) == (
        1, "2", "0", "local"  # the disk: the server's session disk size (0 here: unlimited)
    )  # fmt: skip
    assert vm["ipAddress"] == "127.0.0.1" and vm["createdAt"].endswith("Z")
    assert vm["sshTemplate"].startswith(f"hangar app vm-{vm_id} sshd -b 10022 & ssh -p 10022 ")
    types = {t["gpuType"]: t["regions"][0] for t in api.get("/v2/vms/types").json()["data"]}
    assert types[H100]["availableCount"] == 0 and types[RTX]["availableCount"] == 2  # its H100
    ps = server.official("--output", "json", "ps", "--format", "name,occupied_slots")
    (seen,) = [i for i in json.loads(ps.stdout)["items"] if i["name"] == f"vm-{vm_id}"]
    assert seen["occupied_slots"]["cuda.device"] in ("1", 1), seen  # one GPU, any face sees

    base = f"/v2/volumes/{volume['id']}"
    assert api.get(base).json()["data"]["mountCount"] == 1
    assert api.delete(base).json()["code"] == 12001

    keys = tmp_path / "keys"
    keys.mkdir()
    got = server.official("session", "download", f"vm-{vm_id}", "id_container", cwd=keys)
    assert got.returncode == 0, got.stdout + got.stderr
    (keys / "id_container").chmod(0o600)
    shown = ssh_through_hangar(
        server,
        f"vm-{vm_id}",
        keys / "id_container",
        "id -un; echo hi > /data/from-vm.txt; cat /data/from-vm.txt",
    )
    assert shown.split() == ["work", "hi"], shown
    assert int(api.get(base).json()["data"]["sizeBytes"]) > 0  # written into the volume

    renamed = api.request("PATCH", f"/v2/vms/{vm_id}", json={"name": "trainer-b"}).json()
    assert renamed["data"]["name"] == "trainer-b"
    assert api.delete(f"/v2/vms/{vm_id}").json() == {"message": "success", "code": 10000,
                                                      "data": True}  # fmt: skip
    ended = api.get(f"/v2/vms/{vm_id}").json()["data"]
    assert ended["status"] == "terminated" and ended["terminatedAt"] and ended["sshTemplate"] == ""
    assert api.delete(f"/v2/vms/{vm_id}").json()["code"] == 11001
    wait_for(lambda: api.get(base).json()["data"]["mountCount"] == 0, "the mount is released")
    assert api.delete(base).json()["data"] is True


def test_an_on_demand_vm_stops_a_spot_vm_on_the_only_device(server: LiveServer) -> None:
    api = CloudApi(server, admin_key(server))
    body = {"vmTypeId": vm_type(server, H100), "region": "local", "name": "cheap", "isSpot": 1}
    spot = api.post("/v2/vms", json=body).json()["data"]
    assert spot["isSpot"] == 1
    wait_for(lambda: status_of(api, spot["id"], "running"), "the spot VM runs")
    demand = api.post("/v2/vms", json={**body, "name": "urgent", "isSpot": 0}).json()["data"]
    wait_for(lambda: status_of(api, demand["id"], "running"), "the on-demand VM runs")
    assert status_of(api, spot["id"], "stopped"), "the spot VM was stopped, its disk kept"
    listed = api.get("/v2/vms", params={"status": "stopped", "page": 1, "size": 5}).json()["data"]
    assert [v["id"] for v in listed["items"]] == [spot["id"]] and listed["total"] == 1
    for vm in (spot, demand):
        assert api.delete(f"/v2/vms/{vm['id']}").json()["data"] is True


def test_unknown_ids_bad_bodies_and_another_users_key(server: LiveServer) -> None:
    api = CloudApi(server, admin_key(server))
    assert api.get("/v2/vms/987654").json()["code"] == 11000
    assert api.request("PATCH", "/v2/vms/987654", json={"name": "x"}).json()["code"] == 11000
    assert api.delete("/v2/vms/987654").json()["code"] == 11000
    assert api.get("/v2/vms", params={"status": "sleeping"}).json()["code"] == 10001
    type_id = vm_type(server, RTX)
    good = {"vmTypeId": type_id, "region": "local", "name": "ok"}
    for bad, field in [
        ({k: v for k, v in good.items() if k != "vmTypeId"}, "vmTypeId"),
        ({**good, "vmTypeId": 12345}, "vmTypeId"),
        ({**good, "vmTypeId": "7"}, "vmTypeId"),
        ({**good, "region": "mars-1"}, "region"),
        ({**good, "name": ""}, "name"),
        ({**good, "isSpot": 2}, "isSpot"),
        ({**good, "volumeMountPaths": {"abc": "/data"}}, "volumeMountPaths"),
        ({**good, "volumeMountPaths": {"5": "data"}}, "volumeMountPaths"),
    ]:
        answer = api.post("/v2/vms", json=bad)
        assert answer.status_code == 400 and answer.json()["code"] == 10001, (bad, answer.text)
        assert field in answer.json()["message"], (field, answer.text)
    unknown_volume = api.post("/v2/vms", json={**good, "volumeMountPaths": {"987654": "/d"}})
    assert unknown_volume.json()["code"] == 10007
    bucket = api.post("/v2/volumes", json={"name": "b", "storageType": "CEPH", "sizeInGb": 1})
    system = {**good, "volumeMountPaths": {str(bucket.json()["data"]["id"]): "/etc"}}
    refused = api.post("/v2/vms", json=system).json()
    assert refused["code"] == 10001 and "/etc" in refused["message"], refused
    assert api.delete(f"/v2/volumes/{bucket.json()['data']['id']}").json()["data"] is True
    assert api.request("PATCH", "/v2/vms/1", json={}).json()["code"] in (10001, 11000)

    ivy = new_user(server, "ivy@vms.test")
    jon = new_user(server, "jon@vms.test")
    made = CloudApi(server, ivy.key).post("/v2/vms", json={**good, "name": "ivys"}).json()
    vm_id = made["data"]["id"]
    jons = CloudApi(server, jon.key)
    assert jons.get("/v2/vms").json()["data"]["items"] == []
    assert jons.get(f"/v2/vms/{vm_id}").json()["code"] == 11000
    assert jons.request("PATCH", f"/v2/vms/{vm_id}", json={"name": "mine"}).json()["code"] == 11000
    assert jons.delete(f"/v2/vms/{vm_id}").json()["code"] == 11002
    ivys = CloudApi(server, ivy.key)
    assert ivys.get(f"/v2/vms/{vm_id}").json()["data"]["name"] == "ivys"
    assert ivys.delete(f"/v2/vms/{vm_id}").json()["data"] is True


def test_the_readme_volumes_and_vms_block_works_verbatim(server: LiveServer) -> None:
    from tests.integration.test_readme import readme_block

    block = readme_block('"storageType": "CEPH", "sizeInGb": 50')
    env_file = server.home / "config" / "hangar" / "client.env"
    done = subprocess.run(
        ["bash", "-euc", block.replace("~/.config/hangar/client.env", str(env_file))],
        env={**server.server_env(), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert json.loads(lines[0]) == {"message": "success", "code": 10000, "data": None}  # resize
    assert lines[1] == "1"  # one CEPH volume listed
    assert lines[2].startswith("hangar app vm-") and lines[3] == "trainer-2"
    assert [json.loads(line)["data"] for line in lines[4:]] == [True, True], done.stdout
