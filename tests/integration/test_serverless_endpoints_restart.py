"""A server killed with SIGKILL and started again keeps its endpoints' workers: the worker
sessions outlive it, the restarted loop (once the dead process's 20 s leases ran out) runs
their init commands again, and each worker answers again under the same id."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.cloud import CloudApi, admin_key, serverless_server
from tests.support.live import LiveServer, wait_for


@pytest.fixture
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    yield from serverless_server(tmp_path_factory.mktemp("serverless-restart"))


def test_workers_answer_again_after_a_kill_and_restart(server: LiveServer) -> None:
    key = admin_key(server)
    body = {"name": "survivor", "image": "python:3", "resources": [{"gpuCount": 0}],
            "workers": 1, "containerVolumeInGb": 20, "serviceMode": "CUSTOM",
            "initializationCommand": "exec python3 -m http.server 8080",
            "expose": {"port": 8080, "protocol": "http"}}  # fmt: skip
    eid = CloudApi(server, key).post("/v2/serverless", json=body).json()["data"]["id"]

    def running() -> list[dict[str, Any]]:
        api = CloudApi(server, key)
        found = api.get(f"/v2/serverless/{eid}/workers", params={"statusList": "RUNNING"})
        return list(found.json()["data"])

    [before] = wait_for(running, "a worker runs")
    assert server.proc is not None
    server.proc.kill()
    server.proc.wait()
    server.start()
    api = CloudApi(server, key)
    [after] = wait_for(running, "the worker runs again")
    assert after["id"] == before["id"]
    shown = api.get(f"/v2/serverless/{eid}").json()["data"]
    assert (shown["status"], shown["runningWorkers"]) == ("RUNNING", 1)
    logs = f"/v2/serverless/{eid}/workers/{after['id']}/logs"

    def served_twice() -> bool:
        found = api.get(logs, params={"keyword": "Serving HTTP"}).json()["data"]["logs"]
        return len(found) == 2

    wait_for(served_twice, "the init command ran again")
    again = api.get(logs, params={"keyword": "Serving HTTP"}).json()["data"]["logs"][1]

    def checked_after() -> bool:  # the loop's health check reached the new server
        found = api.get(logs, params={"keyword": '"GET / HTTP/1.0" 200'}).json()["data"]["logs"]
        return any(e["offset"] > again["offset"] for e in found)

    wait_for(checked_after, "a health check answered after the restart")
    assert [w["id"] for w in api.get(f"/v2/serverless/{eid}/workers").json()["data"]] == [
        before["id"]]  # fmt: skip
