"""Pods (P1-P6) with the official ``yotta`` CLI and ``yottaml`` SDK against a live server
with the fake inventory (2x RTX 4090, 1x H100): a pod is a compute session of its owner,
seen by ``backend.ai ps``; pause releases its GPU and keeps its disk, resume places it
again; its environment and init command's output show in its log; an exposed
``python -m http.server`` answers through the pod proxy."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.cloud import CloudApi, admin_key, cloud_server, new_user, run_sdk, run_yotta
from tests.support.live import HANGAR, LiveServer, wait_for

RTX = "NVIDIA_RTX_4090_24G"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    yield from cloud_server(tmp_path_factory.mktemp("cloud-pods"))


def yotta(server: LiveServer, *args: str) -> Any:
    done = run_yotta(server, admin_key(server), "pods", *args)
    assert done.returncode == 0, done.stdout + done.stderr
    body = json.loads(done.stdout)
    assert (body["code"], body["message"]) == (10000, "success"), body
    return body["data"]


def status(server: LiveServer, pod_id: int) -> str:
    return str(yotta(server, "get", str(pod_id))["status"])


def free_rtx(server: LiveServer) -> int:
    types = CloudApi(server, admin_key(server)).get("/v2/vms/types").json()["data"]
    return next(int(t["regions"][0]["availableCount"]) for t in types if t["gpuType"] == RTX)


def test_cli_create_pause_resume_delete(server: LiveServer) -> None:
    created = yotta(server, "create", "--image", "python:3", "--gpu-type", RTX,
                    "--gpu-count", "1", "--name", "nb-1", "--container-volume", "2")  # fmt: skip
    pod_id = created["id"]
    assert (created["name"], created["gpuType"], created["gpuCount"]) == ("nb-1", RTX, 1)
    assert created["status"] in ("INITIALIZING", "RUNNING")
    assert created["gpuDisplayName"] == "RTX 4090" and created["containerVolumeInGb"] == 2
    assert isinstance(created["createdAt"], int) and created["createdAt"] > 1.7e12
    wait_for(lambda: status(server, pod_id) == "RUNNING", "running")
    assert free_rtx(server) == 1
    ps = server.official("ps")
    assert f"pod-{pod_id}" in ps.stdout, ps.stdout + ps.stderr
    assert yotta(server, "pause", str(pod_id)) is True
    assert status(server, pod_id) == "STOPPED"
    assert free_rtx(server) == 2  # the GPU went back
    listed = yotta(server, "list", "--status", "3")  # spec §3.2 code 3: STOPPED
    assert [p["id"] for p in listed] == [pod_id]
    assert yotta(server, "list", "--status", "1") == []
    api = CloudApi(server, admin_key(server))
    for query, found in (({"statusList": "paused"}, [pod_id]), ({"statusList": "RUNNING"}, []),
                         ({"statusList": ["RUNNING", "STOPPED"], "regionList": "local"}, [pod_id]),
                         ({"regionList": "elsewhere"}, [])):  # fmt: skip
        listed = api.get("/v2/pods", params=query).json()["data"]
        assert [p["id"] for p in listed] == found, query
    again = run_yotta(server, admin_key(server), "pods", "pause", str(pod_id))
    assert json.loads(again.stdout)["code"] == 12001  # only a running pod pauses
    assert yotta(server, "resume", str(pod_id)) is True
    wait_for(lambda: status(server, pod_id) == "RUNNING", "running again")
    assert free_rtx(server) == 1
    assert yotta(server, "delete", str(pod_id)) is True
    assert status(server, pod_id) == "TERMINATED"
    assert free_rtx(server) == 2
    assert f"pod-{pod_id}" not in server.official("ps").stdout


def test_env_and_init_command_output_in_the_log(server: LiveServer) -> None:
    done = run_sdk(
        server,
        admin_key(server),
        """
        import json
        from yottaml.pod import PodApi
        api = PodApi(api_key=KEY, base_url=BASE)
        made = api.new_pod(image="python:3", gpu_type="NVIDIA_H100_80G", gpu_count=1,
                           environment_vars=[{"key": "GREETING", "value": "hello-pod"}],
                           shm_in_gb=1, container_volume_in_gb=3,
                           initialization_command="echo init says $GREETING; "
                               "df -k --output=target,size /dev/shm /home/work; sleep 600")
        print(json.dumps(made["data"]))
        """,
    )
    assert done.returncode == 0, done.stderr
    pod = json.loads(done.stdout)
    assert pod["name"] == f"pod-{pod['id']}"  # generated (spec §4 item 8)
    assert pod["environmentVars"] == [{"key": "GREETING", "value": "hello-pod"}]
    api = CloudApi(server, admin_key(server))

    def log() -> str:
        return str(api.get(f"/v2/pods/{pod['id']}/logs").json()["data"]["logs"])

    wait_for(lambda: "/home/work" in log(), "init output in the log")
    types = {t["gpuType"]: t["regions"][0]["availableCount"]
             for t in api.get("/v2/vms/types").json()["data"]}  # fmt: skip
    assert types == {"NVIDIA_H100_80G": 0, RTX: 2}  # the H100 it asked for, not an RTX
    assert "init says hello-pod" in log()
    sizes = dict(line.split() for line in log().splitlines() if line.startswith("/"))
    assert int(sizes["/dev/shm"]) == 1024 * 1024  # shmInGb
    if int(sizes["/home/work"]) > 3 * 1024 * 1024:  # containerVolumeInGb, where disks work
        assert "the scratch disk is not limited" in server.log_path.read_text()
    else:
        assert int(sizes["/home/work"]) > 2.5 * 1024 * 1024
    shown = server.official("session", "logs", f"pod-{pod['id']}")  # the Backend.AI face
    assert "init says hello-pod" in shown.stdout, shown.stdout + shown.stderr
    assert api.delete(f"/v2/pods/{pod['id']}").json()["data"] is True


def test_an_exposed_http_server_answers_through_the_proxy(server: LiveServer) -> None:
    key = admin_key(server)
    api = CloudApi(server, key)
    body = {
        "name": "web", "image": "python:3", "resourceType": "CPU", "gpuType": RTX,
        "initializationCommand": "echo from-the-pod > index.html; python3 -m http.server 8080",
        "expose": [{"port": 8080, "protocol": "http"}],
    }  # fmt: skip
    made = api.post("/v2/pods", json=body).json()
    assert made["code"] == 10000, made
    pod_id = made["data"]["id"]
    assert made["data"]["gpuCount"] == 0 and made["data"]["resourceType"] == "CPU"
    running = wait_for(
        lambda: (p := api.get(f"/v2/pods/{pod_id}").json()["data"])["status"] == "RUNNING" and p,
        "running",
    )
    [port] = running["expose"]
    url = port["ingressUrl"]
    assert url == f"{server.endpoint}/pod-proxy/{pod_id}/8080/"

    def fetch() -> httpx.Response | None:
        answer = httpx.get(url + "index.html", headers={"X-Api-Key": key}, timeout=10)
        return answer if answer.status_code == 200 else None

    answer = wait_for(fetch, "the server answers")
    assert answer.text == "from-the-pod\n"
    assert httpx.get(url, timeout=10).status_code == 401  # no key, no way in
    stranger = new_user(server, "stranger@pods.test")
    refused = httpx.get(url, headers={"X-Api-Key": stranger.key}, timeout=10).json()
    assert refused["code"] == 13000  # another user's pod is no pod
    assert api.get(f"/v2/pods/{pod_id}/logs").json()["code"] == 10000
    assert CloudApi(server, stranger.key).get("/v2/pods").json()["data"] == []
    assert api.delete(f"/v2/pods/{pod_id}").json()["code"] == 10000


def test_unknown_ids_and_bad_bodies(server: LiveServer) -> None:
    api = CloudApi(server, admin_key(server))
    for method, path in (
        ("GET", "/v2/pods/99999"),
        ("DELETE", "/v2/pods/99999"),
        ("POST", "/v2/pods/99999/pause"),
        ("POST", "/v2/pods/99999/resume"),
    ):
        body = api.request(method, path).json()
        assert (body["code"], body["data"]) == (13000, None), (method, path, body)
    cases = {
        "gpuCount": {"image": "python:3", "gpuType": RTX, "gpuCount": 3},
        "image": {"gpuType": RTX, "gpuCount": 1},
        "gpuType": {"image": "python:3", "gpuType": "NVIDIA_B300_262G", "gpuCount": 1},
        "port": {"image": "python:3", "resourceType": "CPU", "expose": [{"port": 70000}]},
        "key": {"image": "python:3", "resourceType": "CPU",
                "environmentVars": [{"key": "1BAD", "value": "x"}]},
        "containerRegistryAuthId": {"image": "python:3", "resourceType": "CPU",
                                    "containerRegistryAuthId": 424242},
        "minSingleCardVramInGb": {"image": "python:3", "gpuType": RTX, "gpuCount": 1,
                                  "minSingleCardVramInGb": 40},
    }  # fmt: skip
    for field, body in cases.items():
        answer = api.post("/v2/pods", json=body)
        assert (answer.status_code, answer.json()["code"]) == (400, 10001), (field, answer.text)
        assert field in answer.json()["message"], (field, answer.text)
    two_h100 = {"image": "python:3", "gpuType": "NVIDIA_H100_80G", "gpuCount": 2}
    answer = api.post("/v2/pods", json=two_h100).json()
    assert answer["code"] == 10001 and "gpuCount" in answer["message"], answer
    assert api.get("/v2/pods", params={"statusList": "SLEEPING"}).json()["code"] == 10001
    unknown_image = {"image": "no-such-image:1", "resourceType": "CPU"}
    answer = api.post("/v2/pods", json=unknown_image).json()
    assert answer["code"] == 10001 and "image" in answer["message"], answer


def test_a_credential_a_live_pod_names_cannot_be_deleted(server: LiveServer) -> None:
    api = CloudApi(server, admin_key(server))
    cred = {"name": "podReg", "type": "PRIVATE", "username": "u", "password": "p"}
    cid = api.post("/v2/container-registry-auths", json=cred).json()["data"]["id"]
    body = {"image": "python:3", "resourceType": "CPU", "containerRegistryAuthId": cid}
    pod = api.post("/v2/pods", json=body).json()["data"]
    assert pod["containerRegistryAuthId"] == cid
    assert api.delete(f"/v2/container-registry-auths/{cid}").json()["code"] == 12001
    assert api.delete(f"/v2/pods/{pod['id']}").json()["data"] is True
    assert api.delete(f"/v2/container-registry-auths/{cid}").json()["data"] is True


def test_a_persistent_volume_outlives_its_pod(server: LiveServer) -> None:
    api = CloudApi(server, admin_key(server))
    volume = {"name": "keep-me", "storageType": "CEPH", "sizeInGb": 1}
    made = api.post("/v2/volumes", json=volume).json()
    assert made["code"] == 10000, made
    vid = made["data"]["id"]
    wait_for(lambda: api.get(f"/v2/volumes/{vid}").json()["data"]["status"] == "active", "active")
    mount = [{"volumeId": vid, "mountPath": "/home/work/data"}]

    def pod_running(command: str) -> int:
        body = {"image": "python:3", "resourceType": "CPU", "persistentVolumes": mount,
                "initializationCommand": command}  # fmt: skip
        answer = api.post("/v2/pods", json=body).json()
        assert answer["code"] == 10000, answer
        return int(answer["data"]["id"])

    def log(pod_id: int) -> str:
        return str(api.get(f"/v2/pods/{pod_id}/logs").json()["data"]["logs"])

    first = pod_running("echo kept > /home/work/data/note.txt && echo written")
    wait_for(lambda: "written" in log(first), "the first pod wrote")
    assert api.get(f"/v2/volumes/{vid}").json()["data"]["mountCount"] == 1
    assert api.delete(f"/v2/pods/{first}").json()["data"] is True
    second = pod_running("echo read: $(cat /home/work/data/note.txt)")
    wait_for(lambda: "read: kept" in log(second), "the second pod read it")
    assert api.delete(f"/v2/pods/{second}").json()["data"] is True


def test_the_readme_pods_block_works_verbatim(server: LiveServer) -> None:
    from tests.integration.test_readme import readme_block
    from tests.support.cloud import YOTTA

    block = readme_block("yotta pods create")
    env_file = server.home / "config" / "hangar" / "client.env"
    done = subprocess.run(
        ["bash", "-euc", block.replace("~/.config/hangar/client.env", str(env_file))],
        env={**server.server_env(), "PATH": f"{YOTTA / 'bin'}:/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.startswith("hello\n"), done.stdout
    assert done.stdout.count('"data": true') == 3  # pause, resume, delete
    assert '"status": "RUNNING"' in done.stdout  # the list of running pods


def test_gpus_held_by_a_backendai_session_are_not_given_to_a_pod(server: LiveServer) -> None:
    done = server.official("start", "-r", "cuda.device=3", "-t", "all-gpus", "python")
    assert done.returncode == 0, done.stdout + done.stderr
    api = CloudApi(server, admin_key(server))
    try:
        body = {"image": "python:3", "gpuType": RTX, "gpuCount": 1}
        pod = api.post("/v2/pods", json=body).json()["data"]
        time.sleep(1.5)  # scheduler passes go by: no device is free
        assert api.get(f"/v2/pods/{pod['id']}").json()["data"]["status"] == "INITIALIZING"
    finally:
        server.official("rm", "all-gpus")
    wait_for(lambda: status(server, pod["id"]) == "RUNNING", "placed once the devices are free")
    assert free_rtx(server) == 1
    assert api.delete(f"/v2/pods/{pod['id']}").json()["data"] is True


def ssh_in(server: LiveServer, ssh_cmd: str, key: Path, command: str) -> str:
    """Run the pod's ``sshCmd`` (``hangar app pod-N sshd -b PORT & ssh -p PORT work@...``)
    on a free port, with ``key``."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    app, _, ssh = ssh_cmd.replace("10022", str(port)).partition(" & ")
    argv = app.split()
    proxy = subprocess.Popen([str(HANGAR), *argv[1:]], env=server.server_env(),
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                             start_new_session=True)  # fmt: skip
    try:
        assert proxy.stdout is not None
        seen = ""
        while str(port) not in seen:
            line = proxy.stdout.readline()
            assert line, f"hangar app exited early: {seen}"
            seen += line
        ssh_argv = ssh.split()
        options = ["-i", str(key), "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no",
                   "-o", "UserKnownHostsFile=/dev/null", "-o", "IdentitiesOnly=yes"]  # fmt: skip
        done = subprocess.run([ssh_argv[0], *options, *ssh_argv[1:], command],
                              capture_output=True, text=True, timeout=60,
                              stdin=subprocess.DEVNULL)  # fmt: skip
        assert done.returncode == 0, done.stderr
        return done.stdout
    finally:
        proxy.terminate()
        proxy.wait(10)


@pytest.mark.skipif(shutil.which("ssh") is None, reason="the OpenSSH client is not installed")
@pytest.mark.skipif(not Path("/usr/sbin/sshd").exists(), reason="openssh-server missing")
def test_ssh_cmd_reaches_the_pod(server: LiveServer, tmp_path: Path) -> None:
    api = CloudApi(server, admin_key(server))
    body = {"image": "python:3", "resourceType": "CPU",
            "environmentVars": [{"key": "WHO", "value": "pod-over-ssh"}]}  # fmt: skip
    pod_id = api.post("/v2/pods", json=body).json()["data"]["id"]
    pod = wait_for(
        lambda: (p := api.get(f"/v2/pods/{pod_id}").json()["data"])["status"] == "RUNNING" and p,
        "running",
    )
    assert pod["sshCmd"].startswith(f"hangar app pod-{pod_id} sshd ")
    got = server.official("session", "download", f"pod-{pod_id}", "id_container", cwd=tmp_path)
    assert got.returncode == 0, got.stdout + got.stderr
    (tmp_path / "id_container").chmod(0o600)
    shown = ssh_in(server, pod["sshCmd"], tmp_path / "id_container", "id -un; echo $WHO")
    assert shown.split() == ["work", "pod-over-ssh"], shown
    assert api.delete(f"/v2/pods/{pod_id}").json()["data"] is True


def test_a_tcp_port_is_reached_through_hangar_app(server: LiveServer) -> None:
    api = CloudApi(server, admin_key(server))
    body = {"image": "python:3", "resourceType": "CPU",
            "expose": [{"port": 9000, "protocol": "TCP"}],
            "initializationCommand": "python3 -m http.server 9000"}  # fmt: skip
    pod_id = api.post("/v2/pods", json=body).json()["data"]["id"]
    pod = wait_for(
        lambda: (p := api.get(f"/v2/pods/{pod_id}").json()["data"])["status"] == "RUNNING" and p,
        "running",
    )
    [port] = pod["expose"]
    assert (port["protocol"], port["ingressUrl"]) == ("tcp", "")
    assert port["proxyCmd"] == f"hangar app pod-{pod_id} 9000 -b 9000"
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        local = probe.getsockname()[1]
    argv = port["proxyCmd"].split()[1:-1] + [f"127.0.0.1:{local}"]
    proxy = subprocess.Popen([str(HANGAR), *argv], env=server.server_env(),
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                             start_new_session=True)  # fmt: skip
    try:

        def listing() -> str | None:
            try:
                answer = httpx.get(f"http://127.0.0.1:{local}/", timeout=5)
            except httpx.HTTPError:
                return None
            return answer.text if answer.status_code == 200 else None

        assert "Directory listing" in wait_for(listing, "the tcp port answers")
    finally:
        proxy.terminate()
        proxy.wait(10)
    assert api.delete(f"/v2/pods/{pod_id}").json()["data"] is True


def test_a_pod_makes_its_own_persistent_volume_which_outlives_it(server: LiveServer) -> None:
    api = CloudApi(server, admin_key(server))
    body = {"name": "keeper", "image": "python:3", "resourceType": "CPU",
            "persistentVolumeInGb": 1, "persistentMountPath": "/home/work/keep",
            "initializationCommand": "echo kept > /home/work/keep/f.txt && echo saved"}  # fmt: skip
    made = api.post("/v2/pods", json=body).json()
    assert made["code"] == 10000, made
    pod = made["data"]
    [volume] = pod["persistentVolumes"]
    assert (volume["mountPath"], pod["persistentVolumeInGb"]) == ("/home/work/keep", 1)
    logs = f"/v2/pods/{pod['id']}/logs"
    wait_for(lambda: "saved" in api.get(logs).json()["data"]["logs"], "written")
    assert api.delete(f"/v2/pods/{pod['id']}").json()["data"] is True
    kept = api.get(f"/v2/volumes/{volume['volumeId']}").json()["data"]
    assert (kept["name"], kept["storageType"], kept["sizeInGb"]) == ("keeper-disk", "CEPH", 1)
    assert kept["mountCount"] == 0 and int(kept["sizeBytes"]) > 0


def test_a_two_gpu_pod_sees_two_devices_of_its_type(server: LiveServer) -> None:
    api = CloudApi(server, admin_key(server))
    body = {"image": "python:3", "gpuType": RTX, "gpuCount": 2,
            "initializationCommand": "echo devices=$CUDA_VISIBLE_DEVICES"}  # fmt: skip
    pod_id = api.post("/v2/pods", json=body).json()["data"]["id"]
    logs = f"/v2/pods/{pod_id}/logs"
    shown = wait_for(
        lambda: "devices=" in (text := api.get(logs).json()["data"]["logs"]) and text, "logged"
    )
    devices = shown.split("devices=")[1].split()[0].split(",")
    assert len(devices) == 2, shown
    assert free_rtx(server) == 0
    types = {t["gpuType"]: t["regions"][0]["availableCount"]
             for t in api.get("/v2/vms/types").json()["data"]}  # fmt: skip
    assert types["NVIDIA_H100_80G"] == 1  # the H100 stays free
    assert api.delete(f"/v2/pods/{pod_id}").json()["data"] is True
