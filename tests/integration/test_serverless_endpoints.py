"""Serverless endpoints (E1-E8) and workers (W1) with the official ``yotta`` CLI and
``yottaml`` SDK against a live server with the fake inventory (2x RTX 4090, 1x H100).

The test worker is the host-Python image whose init command serves HTTP
(``python3 -m http.server``): a worker counts as RUNNING once that port answers. One
server for the module; the loop's timings are shortened through its settings."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.support.cloud import FAKE_INVENTORY, YOTTA_CLI, admin_key, run_yotta
from tests.support.live import LiveServer

RTX = "NVIDIA_RTX_4090_24G"
SERVE = "echo worker up; exec python3 -m http.server 8080"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    assert YOTTA_CLI.exists(), "official yottaml SDK missing"
    home = tmp_path_factory.mktemp("serverless")
    live = LiveServer(
        home=home,
        database_url=f"sqlite+aiosqlite:///{home}/h.db",
        extra_env={
            "HANGAR_FAKE_ACCELERATORS": FAKE_INVENTORY,
            "HANGAR_ENDPOINT_CHECK_SECONDS": "0.3",
            "HANGAR_ENDPOINT_BACKOFF_SECONDS": "0.2",
            "HANGAR_ENDPOINT_WORKER_START_SECONDS": "30",
        },
    )
    live.start()
    try:
        yield live
    finally:
        live.stop()


def yotta(server: LiveServer, *args: str) -> Any:
    done = run_yotta(server, admin_key(server), "serverless", *args)
    assert done.returncode == 0, done.stdout + done.stderr
    body = json.loads(done.stdout)
    assert (body["code"], body["message"]) == (10000, "success"), body
    return body["data"]


def wait_for(check: Callable[[], Any], what: str, timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    while not (found := check()):
        assert time.monotonic() < deadline, what
        time.sleep(0.3)
    return found


def endpoint(server: LiveServer, endpoint_id: str) -> dict[str, Any]:
    return dict(yotta(server, "get", endpoint_id))


def workers(server: LiveServer, endpoint_id: str, *status: str) -> list[dict[str, Any]]:
    args = [a for s in status for a in ("--status", s)]
    return list(yotta(server, "workers", endpoint_id, *args))


def test_cli_create_scale_stop_start_delete(server: LiveServer) -> None:
    created = yotta(
        server, "create", "--name", "web-1", "--image", "python:3",
        "--resources", json.dumps([{"region": "local", "gpuType": RTX, "gpuCount": 1}]),
        "--workers", "1", "--service-mode", "ALB", "--volume", "20",
        "--init-cmd", SERVE, "--env", "GREETING=hi", "--expose-port", "8080",
        "--expose-protocol", "HTTP",
    )  # fmt: skip
    eid = created["id"]
    assert isinstance(eid, str) and eid.isdigit()
    assert (created["status"], created["totalWorkers"], created["serviceMode"]) == (
        "INITIALIZING",
        1,
        "ALB",
    )
    assert created["environmentVars"] == [{"key": "GREETING", "value": "hi"}]
    wait_for(lambda: endpoint(server, eid)["status"] == "RUNNING", "endpoint running")
    shown = endpoint(server, eid)
    assert (shown["runningWorkers"], shown["totalWorkers"]) == (1, 1)
    [first] = workers(server, eid, "RUNNING")
    assert first["workerId"] == first["id"] and first["gpuType"] == RTX
    assert f"ep{eid}-w{first['id']}" in server.official("ps").stdout

    assert yotta(server, "scale", eid, "--workers", "2") is True
    wait_for(lambda: endpoint(server, eid)["runningWorkers"] == 2, "two workers running")
    assert yotta(server, "scale", eid, "--workers", "1") is True
    wait_for(lambda: len(workers(server, eid, "RUNNING")) == 1, "back to one worker")

    assert yotta(server, "stop", eid) is True
    wait_for(lambda: endpoint(server, eid)["status"] == "STOPPED", "stopped")
    assert workers(server, eid, "RUNNING", "INITIALIZING") == []
    assert endpoint(server, eid)["runningWorkers"] == 0
    assert yotta(server, "start", eid) is True
    wait_for(lambda: endpoint(server, eid)["status"] == "RUNNING", "running again")
    [again] = workers(server, eid, "RUNNING")
    assert again["id"] != first["id"]  # fresh workers after a start

    assert yotta(server, "delete", eid) is True
    gone = run_yotta(server, admin_key(server), "serverless", "get", eid)
    assert json.loads(gone.stdout)["code"] == 14000
    wait_for(lambda: f"ep{eid}-w" not in server.official("ps").stdout, "workers removed")
