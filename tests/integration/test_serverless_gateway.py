"""The ALB gateway of serverless endpoints (cloud spec §3.6) against a live server: an
endpoint created with the official ``yotta`` CLI, two host-Python workers whose init
command runs tests/support/gateway_worker.py, reached through the endpoint's host name and
the ``/serverless-proxy/{id}/...`` fallback with the owner's key as ``Authorization:
Bearer``. One server for the module; tests run in file order (the last two stop the
endpoint and use the CPUs it freed)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.sync.client import connect as ws_connect

from tests.support.cloud import (
    admin_key,
    create_scale_to_zero,
    new_user,
    serverless_server,
    yotta_data,
)
from tests.support.live import LiveServer, wait_for

RTX = "NVIDIA_RTX_4090_24G"
WORKER_PY = (Path(__file__).parents[1] / "support" / "gateway_worker.py").read_text()
SERVE = 'exec python3 -c "$WORKER_PY"'


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    home = tmp_path_factory.mktemp("gateway")
    yield from serverless_server(home, HANGAR_ENDPOINT_GATEWAY_WAIT_SECONDS="45")


def yotta(server: LiveServer, *args: str) -> Any:
    return yotta_data(server, "serverless", *args)


@pytest.fixture(scope="module")
def endpoint(server: LiveServer) -> dict[str, Any]:
    """An ALB endpoint with two RUNNING workers."""
    created = yotta(
        server, "create", "--name", "gw", "--image", "python:3",
        "--resources", json.dumps([{"region": "local", "gpuType": RTX, "gpuCount": 1}]),
        "--workers", "2", "--service-mode", "ALB", "--volume", "20", "--init-cmd", SERVE,
        "--env", f"WORKER_PY={WORKER_PY}", "--expose-port", "8080", "--expose-protocol", "HTTP",
    )  # fmt: skip
    eid = created["id"]
    wait_for(lambda: yotta(server, "get", eid)["runningWorkers"] == 2, "two workers running")
    return dict(yotta(server, "get", eid))


def client(server: LiveServer, key: str | None = None, **headers: str) -> httpx.Client:
    if key is not None:
        headers["Authorization"] = f"Bearer {key}"
    return httpx.Client(base_url=server.endpoint, headers=headers, timeout=60)


def via_path(endpoint: dict[str, Any], path: str) -> str:
    return f"/serverless-proxy/{endpoint['id']}{path}"


def test_path_and_host_routes_reach_both_workers(
    server: LiveServer, endpoint: dict[str, Any]
) -> None:
    key = admin_key(server)
    with client(server, key) as http:
        names = {http.get(via_path(endpoint, "/who")).text for _ in range(6)}
        assert len(names) == 2  # least outstanding requests, ties in turn
        host = endpoint["domain"]
        assert host.endswith(".localhost") and len(host.split(".")[0]) == 12
        by_host = http.get("/who", headers={"Host": host})
        assert by_host.status_code == 200 and by_host.text in names
        assert by_host.headers["x-worker"] == by_host.text
        echoed = http.post(via_path(endpoint, "/echo?x=1"), content=iter([b"ab", b"cd"]))
        assert (echoed.status_code, echoed.content) == (200, b"abcd")  # a chunked body
        missing = http.get(via_path(endpoint, "/nothing"))
        assert missing.status_code == 404 and missing.text == "no such path"
    metrics = httpx.get(server.endpoint + "/metrics").text
    line = f'hangar_gateway_requests_total{{endpoint="{endpoint["id"]}",status="2xx"}}'
    assert line in metrics


def test_endpoint_object_shows_the_gateway_metrics(
    server: LiveServer, endpoint: dict[str, Any]
) -> None:
    before = yotta(server, "get", endpoint["id"])["gatewayMetrics"]
    with client(server, admin_key(server)) as http:
        for _ in range(3):
            assert http.get(via_path(endpoint, "/who")).status_code == 200
    after = yotta(server, "get", endpoint["id"])["gatewayMetrics"]
    assert after["requests"] == before["requests"] + 3
    assert (after["inFlight"], after["errors"]) == (0, before["errors"])
    assert after["latencyMs"]["p50"] is not None and after["latencyMs"]["p99"] > 0


def test_keys_other_users_and_unknown_endpoints(
    server: LiveServer, endpoint: dict[str, Any]
) -> None:
    with client(server) as anonymous:
        refused = anonymous.get(via_path(endpoint, "/who"))
        assert refused.status_code == 401 and refused.json()["code"] == 40101
    with client(server, "not-a-key") as bad:
        assert bad.get(via_path(endpoint, "/who")).status_code == 401
    other = new_user(server, "gateway-other@example.com")
    with client(server, other.key) as stranger:
        for answer in (
            stranger.get(via_path(endpoint, "/who")),
            stranger.get("/who", headers={"Host": endpoint["domain"]}),
        ):
            assert answer.status_code == 404 and answer.json()["code"] == 14000
    with client(server, admin_key(server)) as owner:
        assert owner.get("/serverless-proxy/999999/who").status_code == 404
        assert owner.get("/who", headers={"Host": "zzzzzzzzzzzz.localhost"}).status_code == 404
        by_header = owner.get(via_path(endpoint, "/who"), headers={"X-Api-Key": "x"})
        assert by_header.status_code == 200  # Bearer wins; X-Api-Key alone works too


def test_server_sent_events_arrive_one_by_one(server: LiveServer, endpoint: dict[str, Any]) -> None:
    arrived: list[float] = []
    with client(server, admin_key(server)) as http:
        started = time.monotonic()
        with http.stream("GET", via_path(endpoint, "/sse?n=4&gap=0.3")) as answer:
            assert answer.headers["content-type"] == "text/event-stream"
            for line in answer.iter_lines():
                if line.startswith("data: tok"):
                    arrived.append(time.monotonic() - started)
    assert len(arrived) == 4
    assert arrived[0] < 0.8 and arrived[3] - arrived[0] > 0.6, arrived  # not buffered


def test_websocket_echo(server: LiveServer, endpoint: dict[str, Any]) -> None:
    url = server.endpoint.replace("http", "ws", 1) + via_path(endpoint, "/ws")
    headers = {"Authorization": f"Bearer {admin_key(server)}"}
    with ws_connect(url, additional_headers=headers, open_timeout=30) as socket:
        socket.send("hello")
        assert socket.recv(timeout=10) == "hello"
        socket.send(b"\x00\x01")
        assert socket.recv(timeout=10) == b"\x00\x01"


def test_killed_worker_request_goes_to_the_other(
    server: LiveServer, endpoint: dict[str, Any]
) -> None:
    with client(server, admin_key(server)) as http:
        names = {http.get(via_path(endpoint, "/who")).text for _ in range(4)}
        victim, survivor = sorted(names)
        # The victim dies while answering; the GET is sent again to the survivor.
        for _ in range(3):
            answer = http.get(via_path(endpoint, f"/exit/{victim}"))
            assert (answer.status_code, answer.text) == (200, survivor)
        assert {http.get(via_path(endpoint, "/who")).text for _ in range(3)} == {survivor}
        retries = f'hangar_gateway_retries_total{{endpoint="{endpoint["id"]}"}}'
        assert retries in httpx.get(server.endpoint + "/metrics").text
        # The dead worker is replaced. A POST is not sent twice: its worker dying is a 502.
        eid = endpoint["id"]
        wait_for(lambda: yotta(server, "get", eid)["runningWorkers"] == 2, "replaced")
        names = wait_for(
            lambda: len(n := {http.get(via_path(endpoint, "/who")).text for _ in range(4)}) == 2
            and n, "both answer",
        )  # fmt: skip
        [replacement] = names - {survivor}
        answers = [http.post(via_path(endpoint, f"/exit/{replacement}")) for _ in range(3)]
        statuses = [a.status_code for a in answers]
        assert statuses.count(502) == 1, statuses
        assert all(a.text == survivor for a in answers if a.status_code == 200)
        failed = next(a for a in answers if a.status_code == 502).json()
        assert failed["code"] == 10002 and "Worker" in failed["message"]


def test_stopped_endpoint_answers_503(server: LiveServer, endpoint: dict[str, Any]) -> None:
    eid = endpoint["id"]
    assert yotta(server, "stop", eid) is True
    wait_for(lambda: yotta(server, "get", eid)["status"] == "STOPPED", "stopped")
    with client(server, admin_key(server)) as http:
        answer = wait_for(
            lambda: (a := http.get(via_path(endpoint, "/who"))).status_code == 503 and a,
            "503 once stopped", timeout=5,
        )  # fmt: skip
    assert answer.json()["code"] == 24000 and "STOPPED" in answer.json()["message"]


def test_scaled_to_zero_endpoint_wakes_for_a_request(server: LiveServer) -> None:
    """After the stop above: the agent's two CPUs are free for this endpoint's worker."""
    key = admin_key(server)
    eid = create_scale_to_zero(server, key, "gw-zero")
    # No load for idleSeconds: down to zero workers (its first may never have answered).
    wait_for(lambda: yotta(server, "get", eid)["totalWorkers"] == 0, "scaled to zero")
    wait_for(lambda: not yotta(server, "workers", eid, "--status", "INITIALIZING"), "none left")
    with client(server, key) as http:
        answer = http.get(f"/serverless-proxy/{eid}/who")
    shown = yotta(server, "workers", eid)
    assert answer.status_code == 200, (answer.text, shown)
    assert answer.headers["x-worker"] == answer.text
