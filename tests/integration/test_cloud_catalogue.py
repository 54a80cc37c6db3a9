"""GPU types and regions from the agent's inventory (the fake one: 2x RTX 4090, 1x H100),
read with the official ``yottaml`` SDK and ``yotta`` CLI; availability follows the devices
that sessions hold, whichever face started them."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.cloud import CloudApi, admin_key, cloud_server, run_sdk, run_yotta
from tests.support.live import LiveServer


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    yield from cloud_server(tmp_path_factory.mktemp("cloud-gpus"))


def by_type(types: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {t["gpuType"]: t for t in types}


def test_cli_lists_the_inventory_as_seed_gpu_types(server: LiveServer) -> None:
    done = run_yotta(server, admin_key(server), "gpus", "list")
    assert done.returncode == 0, done.stderr
    types = by_type(json.loads(done.stdout)["data"])
    assert set(types) == {"NVIDIA_RTX_4090_24G", "NVIDIA_H100_80G"}
    [rtx] = types["NVIDIA_RTX_4090_24G"]["regions"]
    [h100] = types["NVIDIA_H100_80G"]["regions"]
    assert (rtx["region"], rtx["available"], rtx["availableCount"]) == ("local", True, 2)
    assert (h100["region"], h100["available"], h100["availableCount"]) == ("local", True, 1)
    assert isinstance(rtx["vmTypeId"], int) and rtx["vmTypeId"] != h100["vmTypeId"]
    assert types["NVIDIA_H100_80G"]["gpuDisplayName"] == "H100"


def test_sdk_get_gpus_reads_the_same_shapes(server: LiveServer) -> None:
    done = run_sdk(
        server,
        admin_key(server),
        """
        import json
        from yottaml.gpu import GpuApi
        body = GpuApi(api_key=KEY, base_url=BASE).get_gpus()
        print(json.dumps(sorted(
            (t["gpuType"], r["region"], r["regionName"], r["available"], r["vmTypeId"])
            for t in body["data"] for r in t["regions"]
        )))
        """,
    )
    assert done.returncode == 0, done.stderr
    rows = json.loads(done.stdout)
    assert [r[:4] for r in rows] == [
        ["NVIDIA_H100_80G", "local", "local", True],
        ["NVIDIA_RTX_4090_24G", "local", "local", True],
    ]


def test_gpu_list_route_accepts_any_or_no_body(server: LiveServer) -> None:
    api = CloudApi(server, admin_key(server))
    for kwargs in ({}, {"json": {}}, {"json": {"anything": 1}}):
        body = api.post("/api/v2/resource/gpu/list", **kwargs).json()
        assert body["code"] == 10000, kwargs
        types = by_type(body["data"])
        assert types["NVIDIA_RTX_4090_24G"]["vramInGb"] == 24
        assert types["NVIDIA_H100_80G"]["regions"][0]["available"] is True


def wait_until(check: Any, what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, what
        time.sleep(0.3)


def test_availability_is_the_devices_free_now(server: LiveServer) -> None:
    api = CloudApi(server, admin_key(server))

    def free() -> dict[str, int]:
        types = api.get("/v2/vms/types").json()["data"]
        return {t["gpuType"]: t["regions"][0]["availableCount"] for t in types}

    done = server.official("start", "-r", "cuda.device=3", "-t", "all-gpus", "python")
    assert done.returncode == 0, done.stdout + done.stderr
    try:
        wait_until(lambda: free() == {"NVIDIA_RTX_4090_24G": 0, "NVIDIA_H100_80G": 0}, "held")
        types = api.get("/v2/vms/types").json()["data"]
        assert all(r["available"] is False for t in types for r in t["regions"])
    finally:
        server.official("rm", "all-gpus")
    wait_until(lambda: free() == {"NVIDIA_RTX_4090_24G": 2, "NVIDIA_H100_80G": 1}, "released")


def test_an_administrator_names_the_region(server: LiveServer) -> None:
    api = CloudApi(server, admin_key(server))

    def names() -> set[str]:
        types = api.get("/v2/vms/types").json()["data"]
        return {r["regionName"] for t in types for r in t["regions"]}

    assert names() == {"local"}
    done = server.official("admin", "scaling", "update", "default", "-d", "Basement rack")
    assert done.returncode == 0, done.stdout + done.stderr
    try:
        assert names() == {"Basement rack"}
        regions = [
            r["region"] for t in api.get("/v2/vms/types").json()["data"] for r in t["regions"]
        ]
        assert set(regions) == {"local"}  # the code a pod names stays the same
    finally:
        server.official("admin", "scaling", "update", "default", "-d", "The default scaling group")
    assert names() == {"local"}
