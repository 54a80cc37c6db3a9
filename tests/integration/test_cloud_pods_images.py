"""Pods on container images: an administrator registers a private registry on loopback (as
for any session), and a pod runs in its image with its init command serving an exposed port
through the pod proxy; the pod's own registry credential is what its pull logs in with."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from tests.support.cloud import CloudApi, admin_key, cloud_server
from tests.support.live import LiveServer
from tests.support.live import wait_for as poll
from tests.support.oci_images import ImageBuild, file, python_files, shell_rootfs
from tests.support.registry import Registry, registry_holding


def wait_for(check: Callable[[], Any], what: str, timeout: float = 120.0) -> Any:
    return poll(check, what, timeout, 0.3)


pytestmark = [
    pytest.mark.integration,
    pytest.mark.usefixtures("official_client"),
    pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap is not installed"),
]
USER, PASSWORD = "team", "registry-pw-2"
LABELS = {
    "ai.backend.kernelspec": "1",
    "ai.backend.features": "batch query uid-match",
    "ai.backend.runtime-type": "python",
    "ai.backend.runtime-path": "/usr/bin/python3",
    "ai.backend.resource.min.cpu": "1",
    "ai.backend.resource.min.mem": "256m",
}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    yield from cloud_server(tmp_path_factory.mktemp("cloud-pod-images"))


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    images = {
        "team/python:3.11": ImageBuild([shell_rootfs(), python_files()], labels=LABELS,
                                       env=["PATH=/usr/bin:/bin", "IMAGE_NAME=team-python"]),
        "team/private:1": ImageBuild([shell_rootfs(), python_files(),
                                      [file("marker.txt", "mine\n")]],
                                     labels=LABELS, env=["PATH=/usr/bin:/bin"]),
    }  # fmt: skip
    yield from registry_holding(tmp_path_factory, images, username=USER, password=PASSWORD)


def ok(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout + done.stderr


def registered(server: LiveServer, registry: Registry, *, with_password: bool) -> None:
    """The registry as an administrator sets it up (and scans it)."""
    key = f"config/docker/registry/{registry.host}"
    creds = f', "username": "{USER}", "password": "{PASSWORD}"' if with_password else ""
    ok(server.official("admin", "etcd", "set", key, f'{{"": "http://{registry.host}"{creds}}}'))
    if with_password:
        ok(server.official("admin", "image", "rescan", "-r", registry.host))


def pod_status(api: CloudApi, pod_id: int) -> dict[str, Any]:
    found: dict[str, Any] = api.get(f"/v2/pods/{pod_id}").json()["data"]
    return found


def test_a_pod_in_an_image_serves_its_port_through_the_proxy(
    server: LiveServer, registry: Registry
) -> None:
    registered(server, registry, with_password=True)
    key = admin_key(server)
    api = CloudApi(server, key)
    body = {  # the image's registry as imageRegistry names it
        "name": "img-web", "image": "team/python:3.11", "imageRegistry": registry.url,
        "resourceType": "CPU",
        "initializationCommand": "echo $IMAGE_NAME > index.html; python3 -m http.server 8080",
        "expose": [{"port": 8080, "protocol": "http"}],
    }  # fmt: skip
    made = api.post("/v2/pods", json=body).json()
    assert made["code"] == 10000, made
    pod_id = made["data"]["id"]
    pod = wait_for(lambda: (p := pod_status(api, pod_id))["status"] == "RUNNING" and p, "runs")
    url = pod["expose"][0]["ingressUrl"] + "index.html"

    def fetch() -> httpx.Response | None:
        answer = httpx.get(url, headers={"X-Api-Key": key}, timeout=10)
        return answer if answer.status_code == 200 else None

    assert wait_for(fetch, "the image's server answers").text == "team-python\n"
    assert api.delete(f"/v2/pods/{pod_id}").json()["data"] is True


def test_the_pods_own_credential_is_what_its_pull_logs_in_with(
    server: LiveServer, registry: Registry
) -> None:
    registered(server, registry, with_password=True)  # scanned with the registry's login
    key = f"config/docker/registry/{registry.host}"
    ok(server.official("admin", "etcd", "set", f"{key}/username", ""))  # then it is removed
    ok(server.official("admin", "etcd", "set", f"{key}/password", ""))
    api = CloudApi(server, admin_key(server))

    def credential(name: str, password: str) -> int:
        body = {"name": name, "type": "PRIVATE", "username": USER, "password": password}
        return int(api.post("/v2/container-registry-auths", json=body).json()["data"]["id"])

    def pod(auth_id: int | None) -> int:
        body = {"image": f"{registry.host}/team/private:1", "resourceType": "CPU",
                "initializationCommand": "cat /marker.txt",
                **({"containerRegistryAuthId": auth_id} if auth_id else {})}  # fmt: skip
        made = api.post("/v2/pods", json=body).json()
        assert made["code"] == 10000, made
        return int(made["data"]["id"])

    def settled(pod_id: int) -> str | None:
        status = str(pod_status(api, pod_id)["status"])
        return status if status in ("RUNNING", "FAILED") else None

    for auth_id in (None, credential("wrongPw", "not-the-password")):
        refused = pod(auth_id)
        assert wait_for(lambda p=refused: settled(p), "the pull is refused") == "FAILED"
        assert api.delete(f"/v2/pods/{refused}").json()["code"] == 10000
    good = pod(credential("rightPw", PASSWORD))
    assert wait_for(lambda: settled(good), "the pull logs in") == "RUNNING"
    logs = lambda: api.get(f"/v2/pods/{good}/logs").json()["data"]["logs"]  # noqa: E731
    assert "mine" in wait_for(logs, "the image's own file")
    assert api.delete(f"/v2/pods/{good}").json()["data"] is True
