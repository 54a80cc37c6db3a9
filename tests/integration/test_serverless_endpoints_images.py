"""Endpoint workers in a container image: with no init command a worker runs the image's
own Entrypoint + Cmd (here a Python HTTP server), whose output is the worker's log; its pull
logs in with the endpoint's registry credential (the registry's own login is gone)."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.support.cloud import CloudApi, admin_key, cloud_server
from tests.support.live import LiveServer
from tests.support.live import wait_for as poll
from tests.support.oci_images import ImageBuild, python_files, shell_rootfs
from tests.support.registry import Registry, registry_holding


def wait_for(check: Callable[[], Any], what: str, timeout: float = 120.0) -> Any:
    return poll(check, what, timeout, 0.3)


pytestmark = [
    pytest.mark.integration,
    pytest.mark.usefixtures("official_client"),
    pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap is not installed"),
]
USER, PASSWORD = "team", "registry-pw-3"
LABELS = {
    "ai.backend.kernelspec": "1",
    "ai.backend.features": "batch query uid-match",
    "ai.backend.runtime-type": "python",
    "ai.backend.runtime-path": "/usr/bin/python3",
}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    yield from cloud_server(tmp_path_factory.mktemp("serverless-images"))


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    serve = ImageBuild(
        [shell_rootfs(), python_files()],
        labels=LABELS,
        env=["PATH=/usr/bin:/bin"],
        cmd=["python3", "-m", "http.server", "9000"],
    )
    images = {"team/server:1": serve}
    yield from registry_holding(tmp_path_factory, images, username=USER, password=PASSWORD)


def ok(done: subprocess.CompletedProcess[str]) -> None:
    assert done.returncode == 0, done.stdout + done.stderr


def test_a_worker_runs_its_images_command_pulled_with_the_endpoints_credential(
    server: LiveServer, registry: Registry
) -> None:
    key = f"config/docker/registry/{registry.host}"
    login = f'{{"": "http://{registry.host}", "username": "{USER}", "password": "{PASSWORD}"}}'
    ok(server.official("admin", "etcd", "set", key, login))
    ok(server.official("admin", "image", "rescan", "-r", registry.host))
    ok(server.official("admin", "etcd", "set", f"{key}/username", ""))  # the pull needs ours
    ok(server.official("admin", "etcd", "set", f"{key}/password", ""))
    api = CloudApi(server, admin_key(server))
    cred = {"name": "teamReg", "type": "PRIVATE", "username": USER, "password": PASSWORD}
    cred_id = api.post("/v2/container-registry-auths", json=cred).json()["data"]["id"]
    body = {"name": "imaged", "image": f"{registry.host}/team/server:1",
            "resources": [{"gpuCount": 0}], "workers": 1, "containerVolumeInGb": 20,
            "serviceMode": "ALB", "expose": {"port": 9000, "protocol": "http"},
            "containerRegistryAuthId": cred_id}  # fmt: skip
    made = api.post("/v2/serverless", json=body).json()
    assert made["code"] == 10000, made
    eid = made["data"]["id"]

    def shown() -> dict[str, Any]:
        return dict(api.get(f"/v2/serverless/{eid}").json()["data"])

    wait_for(lambda: shown()["runningWorkers"] == 1, "the image's server answers")
    [worker] = api.get(f"/v2/serverless/{eid}/workers").json()["data"]
    logs = f"/v2/serverless/{eid}/workers/{worker['id']}/logs"
    found = api.get(logs, params={"keyword": "Serving HTTP"}).json()["data"]["logs"]
    assert found and "port 9000" in found[0]["log"], found
    assert api.delete(f"/v2/serverless/{eid}").json()["data"] is True
