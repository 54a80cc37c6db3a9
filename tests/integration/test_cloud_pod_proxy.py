"""A pod's exposed HTTP port through its ``ingressUrl`` behaves as a proxied web app:
server-sent events arrive one by one, a WebSocket echoes, a large body streams both ways,
and only the owner's key gets in. The pod runs tests/support/gateway_worker.py."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect as ws_connect

from tests.support.cloud import CloudApi, admin_key, cloud_server, new_user
from tests.support.live import LiveServer, wait_for

WORKER_PY = (Path(__file__).parents[1] / "support" / "gateway_worker.py").read_text()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    yield from cloud_server(tmp_path_factory.mktemp("cloud-pod-proxy"))


@pytest.fixture(scope="module")
def url(server: LiveServer) -> Iterator[str]:
    """The ingress URL of a running pod whose port 8080 answers."""
    key = admin_key(server)
    api = CloudApi(server, key)
    body = {
        "name": "app", "image": "python:3", "resourceType": "CPU",
        "gpuType": "NVIDIA_RTX_4090_24G", "initializationCommand": 'exec python3 -c "$WORKER_PY"',
        "environmentVars": [{"key": "WORKER_PY", "value": WORKER_PY}],
        "expose": [{"port": 8080, "protocol": "http"}],
    }  # fmt: skip
    made = api.post("/v2/pods", json=body).json()
    assert made["code"] == 10000, made
    pod_id = made["data"]["id"]
    running = wait_for(
        lambda: (p := api.get(f"/v2/pods/{pod_id}").json()["data"])["status"] == "RUNNING" and p,
        "running",
    )
    ingress = str(running["expose"][0]["ingressUrl"])

    def answers() -> bool:
        got = httpx.get(ingress + "who", headers={"X-Api-Key": key}, timeout=10)
        return got.status_code == 200

    wait_for(answers, "the worker answers")
    yield ingress
    api.delete(f"/v2/pods/{pod_id}")


def test_server_sent_events_arrive_one_by_one(server: LiveServer, url: str) -> None:
    arrived: list[float] = []
    headers = {"X-Api-Key": admin_key(server)}
    with httpx.Client(headers=headers, timeout=30) as http:
        started = time.monotonic()
        with http.stream("GET", url + "sse?n=4&gap=0.3") as answer:
            assert answer.headers["content-type"] == "text/event-stream"
            lines = []
            for line in answer.iter_lines():
                lines.append(line)
                if line.startswith("data: tok"):
                    arrived.append(time.monotonic() - started)
    events = [line for line in lines if line]
    assert [e.split()[1] for e in events] == ["tok0", "tok1", "tok2", "tok3"], lines  # unframed
    assert arrived[0] < 0.8 and arrived[3] - arrived[0] > 0.6, arrived  # not buffered


def test_websocket_echo(server: LiveServer, url: str) -> None:
    headers = {"Authorization": f"Bearer {admin_key(server)}"}
    with ws_connect(url.replace("http", "ws", 1) + "ws", additional_headers=headers,
                    open_timeout=30) as socket:  # fmt: skip
        socket.send("hello")
        assert socket.recv(timeout=10) == "hello"
        socket.send(b"\x00\x01")
        assert socket.recv(timeout=10) == b"\x00\x01"


def test_a_5mb_body_streams_through_and_back(server: LiveServer, url: str) -> None:
    data = os.urandom(5 * 1024 * 1024)
    pieces = (data[i : i + 256 * 1024] for i in range(0, len(data), 256 * 1024))
    with httpx.Client(headers={"X-Api-Key": admin_key(server)}, timeout=60) as http:
        chunked = http.post(url + "echo", content=pieces)
        assert (chunked.status_code, chunked.content == data) == (200, True)
        sized = http.post(url + "echo", content=data)
        assert (sized.status_code, sized.content == data) == (200, True)
        for _ in range(5):  # the same client again and again: kept connections answer
            assert http.get(url + "who").status_code == 200
        missing = http.get(url + "nothing?x=1")
        assert (missing.status_code, missing.text) == (404, "no such path")


def test_only_the_owner_gets_in(server: LiveServer, url: str) -> None:
    assert httpx.get(url + "who", timeout=10).status_code == 401
    stranger = new_user(server, "stranger@pod-proxy.test")
    refused = httpx.get(url + "who", headers={"X-Api-Key": stranger.key}, timeout=10)
    assert refused.json()["code"] == 13000  # another user's pod is no pod
    headers = {"X-Api-Key": stranger.key}
    with pytest.raises(InvalidStatus) as denied:  # the upgrade is refused the same way
        ws_connect(url.replace("http", "ws", 1) + "ws", additional_headers=headers,
                   open_timeout=30)  # fmt: skip
    assert b'"code":13000' in denied.value.response.body, denied.value
