"""Serverless endpoints (E1-E8) and workers (W1) with the official ``yotta`` CLI and
``yottaml`` SDK against a live server with the fake inventory (2x RTX 4090, 1x H100).

The test worker is the host-Python image whose init command serves HTTP
(``python3 -m http.server``): a worker counts as RUNNING once that port answers. One
server for the module; the loop's timings are shortened through its settings."""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from tests.support.cloud import (
    CloudApi,
    admin_key,
    new_user,
    run_sdk,
    run_yotta,
    serverless_server,
    yotta_data,
)
from tests.support.live import LiveServer, wait_for

RTX = "NVIDIA_RTX_4090_24G"
H100 = "NVIDIA_H100_80G"
SERVE = "echo worker up; exec python3 -m http.server 8080"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    yield from serverless_server(tmp_path_factory.mktemp("serverless"))


def yotta(server: LiveServer, *args: str) -> Any:
    return yotta_data(server, "serverless", *args)


def endpoint(server: LiveServer, endpoint_id: str) -> dict[str, Any]:
    return dict(yotta(server, "get", endpoint_id))


def workers(server: LiveServer, endpoint_id: str, *status: str) -> list[dict[str, Any]]:
    args = [a for s in status for a in ("--status", s)]
    return list(yotta(server, "workers", endpoint_id, *args))


def free_rtx(server: LiveServer) -> int:
    types = CloudApi(server, admin_key(server)).get("/v2/vms/types").json()["data"]
    return next(int(t["regions"][0]["availableCount"]) for t in types if t["gpuType"] == RTX)


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
    assert free_rtx(server) == 1  # the scheduler gave the worker one of the two RTX 4090s
    assert [e["id"] for e in yotta(server, "list", "--status", "RUNNING")] == [eid]
    assert yotta(server, "list", "--status", "STOPPED") == []

    assert yotta(server, "scale", eid, "--workers", "2") is True
    wait_for(lambda: endpoint(server, eid)["runningWorkers"] == 2, "two workers running")
    assert free_rtx(server) == 0
    assert yotta(server, "scale", eid, "--workers", "1") is True
    wait_for(lambda: len(workers(server, eid, "RUNNING")) == 1, "back to one worker")

    assert yotta(server, "stop", eid) is True
    wait_for(lambda: endpoint(server, eid)["status"] == "STOPPED", "stopped")
    assert workers(server, eid, "RUNNING", "INITIALIZING") == []
    assert endpoint(server, eid)["runningWorkers"] == 0
    assert free_rtx(server) == 2  # stopped: the GPUs are free again
    assert yotta(server, "start", eid) is True
    wait_for(lambda: endpoint(server, eid)["status"] == "RUNNING", "running again")
    [again] = workers(server, eid, "RUNNING")
    assert again["id"] != first["id"]  # fresh workers after a start

    assert yotta(server, "delete", eid) is True
    gone = run_yotta(server, admin_key(server), "serverless", "get", eid)
    assert json.loads(gone.stdout)["code"] == 14000
    wait_for(lambda: f"ep{eid}-w" not in server.official("ps").stdout, "workers removed")


def cpu_endpoint(server: LiveServer, name: str, init: str, **extra: Any) -> str:
    """A CUSTOM endpoint of CPU-only workers serving HTTP on 8080 (made with the SDK)."""
    done = run_sdk(
        server,
        admin_key(server),
        f"""
        import json
        from yottaml.elastic import ElasticApi
        api = ElasticApi(api_key=KEY, base_url=BASE)
        made = api.create_deployment(
            name={name!r}, image="python:3", resources=[{{"region": "local", "gpuCount": 0}}],
            workers=1, service_mode="CUSTOM", container_volume_in_gb=20,
            initialization_command={init!r}, expose={{"port": 8080, "protocol": "http"}})
        print(json.dumps(made))
        """,
    )
    assert done.returncode == 0, done.stderr
    body = json.loads(done.stdout)
    assert body["code"] == 10000, body
    eid = str(body["data"]["id"])
    if extra:
        api = CloudApi(server, admin_key(server))
        shown = api.get(f"/v2/serverless/{eid}").json()["data"]
        patch = {"name": shown["name"], "resources": shown["resources"], "workers": 1,
                 "containerVolumeInGb": 20, **extra}  # fmt: skip
        assert api.request("PATCH", f"/v2/serverless/{eid}", json=patch).json()["code"] == 10000
    return eid


def remove(server: LiveServer, eid: str) -> None:
    assert yotta(server, "delete", eid) is True


def test_sdk_update_rolls_workers_over_and_scale_forms(server: LiveServer) -> None:
    eid = cpu_endpoint(server, "roll", SERVE)
    wait_for(lambda: endpoint(server, eid)["status"] == "RUNNING", "running")
    [old] = workers(server, eid, "RUNNING")
    done = run_sdk(
        server,
        admin_key(server),
        f"""
        import json
        from yottaml.elastic import ElasticApi
        api = ElasticApi(api_key=KEY, base_url=BASE)
        made = api.update_deployment({eid}, name="roll2", resources=[{{"gpuCount": 0}}],
                                     workers=1, container_volume_in_gb=20,
                                     environment_vars=[{{"key": "V", "value": "2"}}])
        print(json.dumps([made, api.get_workers({eid}), api.get_deployments(["RUNNING"])]))
        """,
    )
    assert done.returncode == 0, done.stderr
    updated, listed, running = json.loads(done.stdout)
    assert updated["data"]["name"] == "roll2"
    assert updated["data"]["environmentVars"] == [{"key": "V", "value": "2"}]
    assert updated["data"]["initializationCommand"] == SERVE  # kept: not in the update
    assert old["id"] in [w["id"] for w in listed["data"]]  # the new one may be there too
    assert eid in [e["id"] for e in running["data"]]
    seen_running: list[int] = []

    def rolled() -> bool:
        now = workers(server, eid)
        seen_running.append(sum(w["status"] == "RUNNING" for w in now))
        new = [w for w in now if w["id"] != old["id"] and w["status"] == "RUNNING"]
        gone = [w for w in now if w["id"] == old["id"] and w["status"] == "TERMINATED"]
        return bool(new and gone)

    wait_for(rolled, "the new worker replaced the old one")
    assert min(seen_running) >= 1  # new workers answer before old ones go
    api = CloudApi(server, admin_key(server))
    forms: list[tuple[str, str, Any]] = [
        ("PUT", f"/v2/serverless/{eid}/workers?count=2", None),  # the SDK's form
        ("PUT", f"/v2/serverless/{eid}/workers/3", None),
        ("POST", f"/v2/serverless/{eid}/workers", {"workers": 2}),
    ]
    for method, path, body in forms:
        answer = api.request(method, path, json=body).json()
        assert (answer["code"], answer["data"]) == (10000, True), (path, answer)
    assert endpoint(server, eid)["totalWorkers"] == 2
    wait_for(lambda: endpoint(server, eid)["runningWorkers"] == 2, "two running")
    bad = api.request("PUT", f"/v2/serverless/{eid}/workers?count=-1")
    assert (bad.status_code, bad.json()["code"]) == (400, 10001)
    remove(server, eid)


def pid_serving(marker: bytes) -> int | None:
    """The host pid of the process whose command line has ``marker`` (the worker's server:
    sandboxed processes are the host's too)."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"http.server" in cmdline and marker in cmdline:
            return int(entry.name)
    return None


def test_a_killed_worker_is_replaced(server: LiveServer) -> None:
    eid = cpu_endpoint(server, "crashy", "exec python3 -m http.server 8080 -d ./crashy")
    wait_for(lambda: endpoint(server, eid)["status"] == "RUNNING", "running")
    [first] = workers(server, eid, "RUNNING")
    pid = wait_for(lambda: pid_serving(b"./crashy"), "the worker's server process")
    os.kill(pid, signal.SIGKILL)

    def replaced() -> list[dict[str, Any]]:
        return [w for w in workers(server, eid, "RUNNING") if w["id"] != first["id"]]

    wait_for(replaced, "a new worker runs")
    [dead] = [w for w in workers(server, eid) if w["id"] == first["id"]]
    assert dead["status"] == "FAILED" and "exited with code" in dead["statusInfo"], dead
    assert endpoint(server, eid)["status"] == "RUNNING"
    remove(server, eid)


def test_workers_that_keep_failing_fail_the_endpoint(server: LiveServer) -> None:
    eid = cpu_endpoint(server, "broken", "echo boom; exit 3")
    shown = wait_for(lambda: (e := endpoint(server, eid))["status"] == "FAILED" and e, "FAILED")
    assert "exited with code 3" in shown["statusInfo"], shown
    failed = workers(server, eid, "FAILED")
    assert len(failed) == 3 and workers(server, eid, "RUNNING", "INITIALIZING") == []
    api = CloudApi(server, admin_key(server))
    logs = api.get(f"/v2/serverless/{eid}/workers/{failed[0]['id']}/logs").json()["data"]
    assert [e["log"] for e in logs["logs"]] == [
        "boom", "[hangar] the initialization command exited with code 3"]  # fmt: skip
    assert yotta(server, "start", eid) is True  # a fresh try
    assert endpoint(server, eid)["status"] in ("INITIALIZING", "FAILED")
    remove(server, eid)


def test_worker_logs_pages_filters_and_isolation(server: LiveServer) -> None:
    lines = "for i in $(seq 1 25); do echo line-$i; done; "
    eid = cpu_endpoint(server, "chatty", lines + "exec python3 -m http.server 8080")
    api = CloudApi(server, admin_key(server))
    [worker] = wait_for(lambda: workers(server, eid, "RUNNING"), "running")
    base = f"/v2/serverless/{eid}/workers/{worker['id']}/logs"

    def page(**query: Any) -> dict[str, Any]:
        body = api.get(base, params=query).json()
        assert body["code"] == 10000, body
        return dict(body["data"])

    wait_for(lambda: len(page(keyword="line-")["logs"]) == 25, "all lines logged")
    seen: list[str] = []
    offsets: list[int] = []
    cursor: dict[str, Any] = {"pageSize": 10, "keyword": "line-"}
    while True:
        got = page(**cursor)
        seen += [e["log"] for e in got["logs"]]
        offsets += [e["offset"] for e in got["logs"]]
        if not got["hasMore"]:
            assert got["nextSearchAfterTime"] is None and got["nextSearchAfterOffset"] is None
            break
        cursor = {"pageSize": 10, "keyword": "line-", "searchAfterTime": got["nextSearchAfterTime"],
                  "searchAfterOffset": got["nextSearchAfterOffset"]}  # fmt: skip
    assert seen == [f"line-{i}" for i in range(1, 26)]
    assert offsets == sorted(set(offsets))
    first = page(pageSize=3)["logs"]
    assert [e["offset"] for e in first] == [0, 7, 14]  # byte positions in the stream
    assert first[0]["timestamp"].endswith("Z") and "T" in first[0]["timestamp"]
    back = page(pageSize=3, direction="Backward", keyword="line-")
    assert [e["log"] for e in back["logs"]] == ["line-25", "line-24", "line-23"]
    older = page(pageSize=2, direction="backward", keyword="line-",
                 searchAfterOffset=back["nextSearchAfterOffset"])  # fmt: skip
    assert [e["log"] for e in older["logs"]] == ["line-22", "line-21"]
    assert [e["log"] for e in page(keyword="line-2")["logs"]] == (
        ["line-2"] + [f"line-{i}" for i in range(20, 26)])  # fmt: skip
    later = first[0]["timestamp"].replace("Z", "+00:00")
    assert page(startTime="4102444800000")["logs"] == []  # 2100: nothing yet
    assert page(endTime="946684800000")["logs"] == []  # 2000: nothing then
    assert len(page(startTime=later, keyword="line-")["logs"]) == 25  # ISO 8601 works too
    bad = api.get(base, params={"direction": "sideways"})
    assert (bad.status_code, bad.json()["code"]) == (400, 10001)
    unknown = api.get(f"/v2/serverless/{eid}/workers/999999/logs").json()
    assert unknown["code"] == 10007

    other = new_user(server, "bob@serverless.test")
    bob = CloudApi(server, other.key)
    for path in (f"/v2/serverless/{eid}", f"/v2/serverless/{eid}/workers", base):
        assert bob.get(path).json()["code"] == 14000, path
    assert bob.post(f"/v2/serverless/{eid}/stop").json()["code"] == 14000
    assert bob.get("/v2/serverless").json()["data"] == []
    assert endpoint(server, eid)["status"] == "RUNNING"  # bob's stop changed nothing
    remove(server, eid)


def test_an_idle_autoscaled_endpoint_scales_to_zero(server: LiveServer) -> None:
    eid = cpu_endpoint(server, "idle", SERVE, minWorkers=0, maxWorkers=2, idleSeconds=4)
    shown = endpoint(server, eid)
    assert (shown["minWorkers"], shown["maxWorkers"], shown["idleSeconds"]) == (0, 2, 4)
    wait_for(lambda: workers(server, eid), "a worker was started at first")
    gone = wait_for(lambda: (e := endpoint(server, eid))["totalWorkers"] == 0 and e, "to zero")
    assert gone["status"] == "RUNNING"  # scaled to zero, not stopped: demand wakes it
    wait_for(lambda: workers(server, eid, "RUNNING", "INITIALIZING") == [], "workers gone")
    remove(server, eid)


def test_an_endpoint_holds_its_registry_credential(server: LiveServer) -> None:
    api = CloudApi(server, admin_key(server))
    cred = {"name": "epReg", "type": "PRIVATE", "username": "u", "password": "p"}
    cred_id = api.post("/v2/container-registry-auths", json=cred).json()["data"]["id"]
    body = {"name": "held", "image": "python:3", "resources": [{"gpuCount": 0}], "workers": 1,
            "containerVolumeInGb": 20, "serviceMode": "CUSTOM",
            "containerRegistryAuthId": cred_id}  # fmt: skip
    made = api.post("/v2/serverless", json=body).json()
    assert made["data"]["containerRegistryAuthId"] == cred_id, made
    refused = api.delete(f"/v2/container-registry-auths/{cred_id}").json()
    assert refused["code"] == 12001, refused  # in use
    bad = api.post("/v2/serverless", json={**body, "containerRegistryAuthId": 999999}).json()
    assert bad["code"] == 10001 and "containerRegistryAuthId" in bad["message"], bad
    remove(server, made["data"]["id"])
    assert api.delete(f"/v2/container-registry-auths/{cred_id}").json()["code"] == 10000


def test_cost_counts_the_workers_running_time(server: LiveServer) -> None:
    done = server.hangar("admin", "price", "set", "cpu", "3600")  # 1 per core-second
    assert done.returncode == 0, done.stderr
    eid = cpu_endpoint(server, "priced", SERVE)
    wait_for(lambda: workers(server, eid, "RUNNING"), "running")
    shown = wait_for(lambda: (e := endpoint(server, eid))["cost"] > 0 and e, "cost accrues")
    [worker] = workers(server, eid, "RUNNING")
    assert 0 < worker["cost"] <= shown["cost"] + 5
    remove(server, eid)


def test_concurrent_creates_never_answer_500(server: LiveServer) -> None:
    """Endpoints created at once, half with one shared name: each answers an envelope
    (one H100 in the inventory: at most one worker starts before they are deleted)."""
    body = {"image": "python:3", "workers": 1, "serviceMode": "CUSTOM", "containerVolumeInGb": 20,
            "initializationCommand": "exec sleep 300",
            "resources": [{"region": "local", "gpuType": H100, "gpuCount": 1}]}  # fmt: skip
    names = ["same" if i % 2 else f"many-{i}" for i in range(16)]

    def create(name: str) -> tuple[int, dict[str, Any]]:
        api = CloudApi(server, admin_key(server))
        answer = api.post("/v2/serverless", json={**body, "name": name})
        return answer.status_code, answer.json()

    with ThreadPoolExecutor(max_workers=16) as pool:
        answers = list(pool.map(create, names))
    assert all(status != 500 for status, _ in answers), answers
    created = [env["data"]["id"] for status, env in answers if env["code"] == 10000]
    assert len(created) == 16, answers
    assert len({endpoint(server, eid)["domain"] for eid in created}) == 16
    for eid in created:
        yotta(server, "delete", eid)
