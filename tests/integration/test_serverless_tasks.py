"""QUEUE endpoints' tasks (T1-T4) with the official ``yottaml`` SDK and ``yotta`` CLI
against a live server: dispatch to a real worker (the host-Python image serving HTTP),
webhooks to a loopback receiver (header, body, retries), isolation, and a kill -9 of the
server with queued tasks and a pending webhook retry. One server for the module; the
webhook retries wait 2/0.3/0.3 s instead of 1/5/15 min (the first long enough
to kill the server while one is pending)."""

from __future__ import annotations

import json
import signal
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.support.cloud import CloudApi, admin_key, new_user, run_sdk, run_yotta, serverless_server
from tests.support.live import LiveServer
from tests.support.live import wait_for as poll
from tests.support.taskworker import WORKER_INIT, Receiver, start_receiver


def wait_for(check: Callable[[], Any], what: str, timeout: float = 60.0) -> Any:
    return poll(check, what, timeout, 0.1)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    yield from serverless_server(
        tmp_path_factory.mktemp("tasks"),
        HANGAR_ENDPOINT_WEBHOOK_RETRY_SECONDS="[2, 0.3, 0.3]",
        HANGAR_ENDPOINT_TASK_LEASE_SECONDS="2",
    )


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    found = start_receiver()
    yield found
    found.close()


def sdk(server: LiveServer, script: str, key: str | None = None) -> Any:
    """The SDK's answer (printed as JSON by ``script``)."""
    done = run_sdk(server, key or admin_key(server), script)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def queue_endpoint(server: LiveServer, name: str, mode: str = "QUEUE") -> str:
    made = sdk(server, f"""
        import json
        from yottaml.elastic import ElasticApi
        api = ElasticApi(api_key=KEY, base_url=BASE)
        print(json.dumps(api.create_deployment(
            name={name!r}, image="python:3", resources=[{{"region": "local", "gpuCount": 0}}],
            workers=1, service_mode={mode!r}, container_volume_in_gb=20,
            initialization_command={WORKER_INIT!r}, expose={{"port": 8080, "protocol": "http"}})))
        """)  # fmt: skip
    assert made["code"] == 10000, made
    return str(made["data"]["id"])


def api(server: LiveServer, key: str | None = None) -> CloudApi:
    return CloudApi(server, key or admin_key(server))


def running(server: LiveServer, eid: str) -> None:
    def up() -> bool:
        shown = api(server).get(f"/v2/serverless/{eid}").json()["data"]
        return bool(shown["status"] == "RUNNING" and shown["runningWorkers"] >= 1)

    wait_for(up, f"endpoint {eid} running")


def task(server: LiveServer, eid: str, key: str) -> dict[str, Any]:
    answer = api(server).get(f"/v2/serverless/{eid}/tasks/{key}").json()
    assert answer["code"] == 10000, answer
    return dict(answer["data"])


def finished(server: LiveServer, eid: str, key: str) -> dict[str, Any]:
    return dict(wait_for(lambda: (t := task(server, eid, key))["status"] in ("SUCCESS", "FAILED")
                         and t, f"task {key} finished"))  # fmt: skip


def submit(server: LiveServer, eid: str, **body: Any) -> str:
    wire = {"workerPort": 8080, "processUri": "/run", "input": {"n": 1}, **body}
    answer = api(server).post(f"/v2/serverless/{eid}/tasks", json=wire).json()
    assert answer["code"] == 10000, answer
    return str(answer["data"]["taskId"])


@pytest.fixture(scope="module")
def eid(server: LiveServer) -> str:
    made = queue_endpoint(server, "tasks-q")
    running(server, made)
    return made


def test_sdk_task_runs_on_a_worker_and_webhook_gets_the_result(
    server: LiveServer, eid: str, receiver: Receiver
) -> None:
    made = sdk(server, f"""
        import json
        from yottaml.skywalker import SkywalkerTaskApi
        api = SkywalkerTaskApi(api_key=KEY, base_url=BASE)
        args = dict(endpoint_id={eid}, worker_port=8080, process_uri="embed",
                    input={{"texts": ["hi"]}}, task_id="job_0001",
                    webhook={receiver.url + "/ok"!r}, webhook_auth_key="s3cr3t",
                    headers={{"X-Tenant": "blue"}})
        print(json.dumps([api.create_task(**args), api.create_task(**args)]))
        """)  # fmt: skip
    assert [m["data"] for m in made] == [{"taskId": "job_0001"}] * 2  # idempotent
    done = finished(server, eid, "job_0001")
    assert done["status"] == "SUCCESS", done
    assert done["output"] == {"echo": {"texts": ["hi"]}, "tenant": "blue",
                              "ctype": "application/json", "times": 1}  # fmt: skip
    assert done["endpointId"] == int(eid) and done["endpointName"] == "tasks-q"
    assert done["workerUrl"].startswith(f"http://ep{eid}-w") and done["workerUrl"].endswith(
        ":8080/embed"
    )
    assert (done["input"], done["headers"], done["error"]) == (
        {"texts": ["hi"]}, {"X-Tenant": "blue"}, None)  # fmt: skip
    delivered = wait_for(lambda: (t := task(server, eid, "job_0001"))["deliveryStatus"]
                         == "SUCCESS" and t, "webhook delivered")  # fmt: skip
    assert delivered["deliveryAttempts"] == 1 and delivered["deliveredAt"] >= done["createdAt"]
    [hook] = receiver.of("job_0001")
    assert hook.headers["X-API-Key"] == "s3cr3t" and hook.path == "/ok"
    body = hook.body
    assert (body["status"], body["success"], body["retry_count"]) == ("Success", True, 1)
    assert (body["taskId"], body["endpointId"], body["endpoint_id"]) == ("job_0001", int(eid), eid)
    assert body["result"] == body["output"] == done["output"]
    checked = sdk(server, f"""
        import json
        from yottaml.skywalker import SkywalkerTaskApi
        SkywalkerTaskApi.validate_notify_payload({body!r})
        print(json.dumps(True))
        """)  # fmt: skip
    assert checked is True


def test_cli_every_task_route(server: LiveServer, eid: str) -> None:
    def yotta(*args: str) -> Any:
        done = run_yotta(server, admin_key(server), "tasks", *args)
        assert done.returncode == 0, done.stdout + done.stderr
        body = json.loads(done.stdout)
        assert body["code"] == 10000, body
        return body["data"]

    made = yotta("create", "--endpoint-id", eid, "--worker-port", "8080",
                 "--process-uri", "/fail", "--input", '{"bad": true}')  # fmt: skip
    key = made["taskId"]
    assert len(key) == 32 and key.isalnum()  # a generated id
    failed = finished(server, eid, key)
    assert failed["status"] == "FAILED" and "HTTP 500" in failed["error"]
    assert failed["deliveryStatus"] == "INIT"  # no webhook
    shown = yotta("get", "--endpoint-id", eid, key)
    assert shown["taskId"] == key and shown["input"] == {"bad": True}
    listed = yotta("list", "--endpoint-id", eid, "--status", "FAILED", "--page-size", "5")
    assert key in [t["taskId"] for t in listed["items"]] and listed["size"] == 5
    assert "input" not in listed["items"][0]
    assert all(t["status"] == "FAILED" for t in listed["items"])
    everything = yotta("list", "--endpoint-id", eid)
    assert everything["total"] >= 2 and everything["page"] == 1
    assert yotta("count", "--endpoint-id", eid)["processing"] == 0


def test_webhook_retries_then_succeeds_or_gives_up(
    server: LiveServer, eid: str, receiver: Receiver
) -> None:
    flaky = submit(server, eid, taskId="flaky_1", webhook=receiver.url + "/flaky")
    down = submit(server, eid, taskId="down_1", webhook=receiver.url + "/down",
                  webhookAuthKey="k")  # fmt: skip
    seen: set[str] = set()

    def settled(key: str, status: str) -> dict[str, Any]:
        shown = task(server, eid, key)
        seen.add(shown["deliveryStatus"])
        return shown if shown["deliveryStatus"] == status else {}

    ok = wait_for(lambda: settled(flaky, "SUCCESS"), "flaky webhook delivered")
    assert ok["deliveryAttempts"] == 3 and ok["deliveredAt"] is not None
    given_up = wait_for(lambda: settled(down, "MAX_RETRIES_EXCEEDED"), "gave up")
    assert given_up["deliveryAttempts"] == 4 and given_up["deliveredAt"] is None
    assert given_up["status"] == "SUCCESS"  # the task itself is done
    assert "FAILED" in seen  # between attempts
    assert [h.body["retry_count"] for h in receiver.of(flaky)] == [1, 2, 3]
    assert [h.body["retry_count"] for h in receiver.of(down)] == [1, 2, 3, 4]
    assert {h.headers["X-API-Key"] for h in receiver.of(down)} == {"k"}
    assert all("X-API-Key" not in h.headers for h in receiver.of(flaky))


def test_refusals_and_isolation(server: LiveServer, eid: str) -> None:
    own = api(server)
    base = f"/v2/serverless/{eid}/tasks"
    bad = [
        {"workerPort": 8080, "processUri": "/x", "input": {}},
        {"workerPort": 0, "processUri": "/x", "input": {"a": 1}},
        {"workerPort": 8080, "processUri": "/a b", "input": {"a": 1}},
        {"workerPort": 8080, "processUri": "/x", "input": {"a": 1}, "taskId": "no-dash"},
        {"workerPort": 8080, "processUri": "/x", "input": {"a": 1}, "taskId": "count"},
        {"workerPort": 8080, "processUri": "/x", "input": {"a": 1}, "webhook": "ftp://x"},
    ]
    for body in bad:
        answer = own.post(base, json=body)
        assert (answer.status_code, answer.json()["code"]) == (400, 10001), body
    assert own.get(f"{base}/nope").json()["code"] == 24011
    assert own.get(f"{base}?status=LOST").json()["code"] == 10001
    assert own.get("/v2/serverless/999999/tasks/count").json()["code"] == 14000
    custom = queue_endpoint(server, "tasks-c", "CUSTOM")
    answer = own.post(f"/v2/serverless/{custom}/tasks",
                      json={"workerPort": 8080, "processUri": "/x", "input": {"a": 1}})  # fmt: skip
    assert (answer.status_code, answer.json()["code"]) == (200, 10001)
    assert own.get(f"/v2/serverless/{custom}/tasks").json()["code"] == 10001
    assert own.delete(f"/v2/serverless/{custom}").json()["code"] in (10000, 12001)
    other = api(server, new_user(server, "tasks-other@example.org").key)
    key = submit(server, eid, taskId="mine_1")
    for method, path, body in [
        ("POST", base, {"workerPort": 8080, "processUri": "/x", "input": {"a": 1}}),
        ("GET", f"{base}/{key}", None), ("GET", base, None), ("GET", f"{base}/count", None),
    ]:  # fmt: skip
        answer = other.request(method, path, json=body).json()
        assert (answer["code"], answer["data"]) == (14000, None), (method, path, answer)


def test_kill_9_keeps_queued_tasks_and_webhook_retries(
    server: LiveServer, eid: str, receiver: Receiver
) -> None:
    own = api(server)
    held = queue_endpoint(server, "tasks-k")
    assert own.request("PUT", f"/v2/serverless/{held}/workers?count=0").json()["code"] == 10000
    keys = [submit(server, held, taskId=f"kept_{i}", input={"kept": i},
                   webhook=receiver.url + "/ok") for i in range(5)]  # fmt: skip
    assert own.get(f"/v2/serverless/{held}/tasks/count").json()["data"]["processing"] == 5
    # a webhook retry pending at the kill: the flaky receiver refused the first attempt
    retried = submit(server, eid, taskId="retry_kill", webhook=receiver.url + "/flaky")
    wait_for(lambda: receiver.of(retried), "first webhook attempt", timeout=30)
    slow = submit(server, eid, taskId="in_flight", processUri="/slow", input={"sleep": 1})
    wait_for(lambda: task(server, eid, slow)["status"] == "DELIVERED", "at the worker")
    assert server.proc is not None
    server.proc.send_signal(signal.SIGKILL)
    server.proc.wait()
    assert [h.body["retry_count"] for h in receiver.of(retried)] == [1]
    server.start()
    wait_for(lambda: task(server, eid, retried)["deliveryStatus"] == "SUCCESS", "retry after")
    assert [h.body["retry_count"] for h in receiver.of(retried)] == [1, 2, 3]
    assert [task(server, held, k)["status"] for k in keys] == ["PROCESSING"] * 5
    # the task at the worker when the server died goes out again once its lease ran out
    again = finished(server, eid, slow)
    assert again["status"] == "SUCCESS", again["error"]
    assert (
        api(server).request("PUT", f"/v2/serverless/{held}/workers?count=1").json()["code"] == 10000
    )
    for key in keys:
        done = finished(server, held, key)
        assert done["status"] == "SUCCESS" and done["output"]["times"] == 1, done  # once
    for key in keys:
        wait_for(lambda k=key: task(server, held, k)["deliveryStatus"] == "SUCCESS", "hooks")
        assert len(receiver.of(key)) == 1
