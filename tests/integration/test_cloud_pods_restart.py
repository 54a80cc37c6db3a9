"""A restarted server brings its running pods' init commands back: the server an init command
started answers through the pod proxy again, and a paused pod stays paused."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.support.cloud import CloudApi, admin_key, cloud_server
from tests.support.live import LiveServer, wait_for


@pytest.fixture
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    yield from cloud_server(tmp_path_factory.mktemp("cloud-pods-restart"))


def test_a_restart_runs_running_pods_init_commands_again(server: LiveServer) -> None:
    key = admin_key(server)
    api = CloudApi(server, key)

    def create(name: str) -> dict[str, Any]:
        body = {"name": name, "image": "python:3", "resourceType": "CPU",
                "initializationCommand": f"echo {name} > index.html; python3 -m http.server 8080",
                "expose": [{"port": 8080, "protocol": "http"}]}  # fmt: skip
        made: dict[str, Any] = api.post("/v2/pods", json=body).json()["data"]
        return made

    def status(pod_id: int) -> str:
        return str(api.get(f"/v2/pods/{pod_id}").json()["data"]["status"])

    def page(pod: dict[str, Any]) -> str | None:
        url = f"{server.endpoint}/pod-proxy/{pod['id']}/8080/index.html"
        answer = httpx.get(url, headers={"X-Api-Key": key}, timeout=10)
        return answer.text if answer.status_code == 200 else None

    web, paused = create("web"), create("sleeper")
    for pod in (web, paused):
        wait_for(lambda p=pod: status(p["id"]) == "RUNNING", "running")
    assert wait_for(lambda: page(web), "served") == "web\n"
    assert api.post(f"/v2/pods/{paused['id']}/pause").json()["data"] is True
    server.stop(keep_sessions=True)
    server.start()
    api = CloudApi(server, key)
    assert status(web["id"]) == "RUNNING" and status(paused["id"]) == "STOPPED"
    assert wait_for(lambda: page(web), "served again after the restart") == "web\n"
    assert status(paused["id"]) == "STOPPED"
