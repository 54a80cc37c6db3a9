"""Queues and workers through the official clearml SDK, a raw ClearML client and the official
clearml-agent daemon against a live server: Task.create + Task.enqueue, Task.dequeue before
the task starts, queue order and moves, permissions between users and for queue
administration, workers' reports, and the agent running an enqueued task to completed."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.clearml import (
    CLEARML_AGENT,
    CLEARML_PYTHON,
    ClearmlApi,
    ClearmlCallError,
    ClearmlUser,
    clearml_env,
    new_user,
    run_sdk,
)
from tests.support.live import LiveServer

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def admin_api(clearml_live: LiveServer) -> Iterator[ClearmlApi]:
    api = ClearmlApi.of(clearml_live)
    yield api
    api.close()


@pytest.fixture(scope="module")
def alice(clearml_live: LiveServer) -> ClearmlUser:
    return new_user(clearml_live, "alice@queues.test")


@pytest.fixture(scope="module")
def alice_api(clearml_live: LiveServer, alice: ClearmlUser) -> Iterator[ClearmlApi]:
    api = ClearmlApi.of(clearml_live, alice)
    yield api
    api.close()


@pytest.fixture(scope="module")
def bob_api(clearml_live: LiveServer) -> Iterator[ClearmlApi]:
    api = ClearmlApi.of(clearml_live, new_user(clearml_live, "bob@queues.test"))
    yield api
    api.close()


def external_queue(admin_api: ClearmlApi, name: str) -> str:
    """A queue external workers serve (Hangar's executor leaves it alone)."""
    queue_id: str = admin_api.call("queues.create", name=name, served_by="external")["id"]
    return queue_id


def new_task(api: ClearmlApi, name: str) -> str:
    task_id: str = api.call("tasks.create", name=name, type="training")["id"]
    return task_id


def refused(api: ClearmlApi, endpoint: str, **body: Any) -> tuple[int, int]:
    with pytest.raises(ClearmlCallError) as caught:
        api.call(endpoint, **body)
    return caught.value.code, caught.value.subcode


def sdk_json(server: LiveServer, user: ClearmlUser | None, script: str) -> dict[str, Any]:
    done = run_sdk(server, script, user=user)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    assert lines, done.stdout[-3000:] + done.stderr[-3000:]
    result: dict[str, Any] = json.loads(lines[-1])
    return result


def test_sdk_creates_enqueues_and_dequeues_a_task(
    clearml_live: LiveServer, admin_api: ClearmlApi, alice: ClearmlUser, alice_api: ClearmlApi
) -> None:
    queue = external_queue(admin_api, "sdk-q")
    result = sdk_json(
        clearml_live,
        alice,
        """
        import json
        from clearml import Task
        task = Task.create(project_name="queued", task_name="later", script="train.py",
                           add_task_init_call=False)
        Task.enqueue(task, queue_name="sdk-q")
        task.reload()
        queued, waiting = task.get_status(), Task.get_num_enqueued_tasks("sdk-q")
        Task.dequeue(task)
        task.reload()
        print(json.dumps({"id": task.id, "queued": queued, "waiting": waiting,
                          "after": task.get_status()}))
    """.replace("train.py", str(clearml_live.home / "train.py")),
    )

    assert (result["queued"], result["waiting"], result["after"]) == ("queued", 1, "created")
    assert alice_api.call("queues.get_num_entries", queue=queue) == {"num": 0}
    task = alice_api.call("tasks.get_by_id", task=result["id"])["task"]
    assert task["execution"]["queue"] == queue


def test_queue_order_priorities_and_moves(admin_api: ClearmlApi, alice_api: ClearmlApi) -> None:
    queue = external_queue(admin_api, "order-q")
    a, b, c = (new_task(alice_api, f"order-{i}") for i in range(3))
    alice_api.call("tasks.enqueue", task=a, queue=queue)
    alice_api.call("tasks.enqueue", task=b, queue=queue)
    answer = alice_api.call("tasks.enqueue", task=c, queue=queue, priority=5)
    assert answer["queued"] == 1 and answer["fields"]["execution.queue"] == queue

    def entries() -> list[str]:
        got = alice_api.call("queues.get_by_id", queue=queue)["queue"]["entries"]
        return [e["task"] for e in got]

    assert entries() == [c, a, b]
    assert alice_api.call("queues.move_task_to_back", queue=queue, task=c) == {"position": 2}
    assert alice_api.call("queues.move_task_forward", queue=queue, task=b) == {"position": 0}
    assert entries() == [b, a, c]
    popped = admin_api.call("queues.get_next_task", queue=queue, get_task_info=True)
    assert popped["entry"]["task"] == b and popped["task_info"]["user"]
    assert entries() == [a, c]
    assert refused(alice_api, "queues.remove_task", queue=queue, task=b) == (400, 703)
    assert alice_api.call("queues.remove_task", queue=queue, task=a) == {"removed": 1}
    assert admin_api.call("queues.clear_queue", queue=queue)["removed_tasks"] == [c]
    assert admin_api.call("queues.get_next_task", queue=queue) == {}


def test_users_keep_to_their_own_tasks_and_admins_run_queues(
    admin_api: ClearmlApi, alice_api: ClearmlApi, bob_api: ClearmlApi
) -> None:
    queue = external_queue(admin_api, "perm-q")
    task = new_task(alice_api, "alice-only")

    assert refused(bob_api, "tasks.enqueue", task=task, queue=queue) == (400, 101)
    alice_api.call("tasks.enqueue", task=task, queue=queue)
    assert refused(bob_api, "tasks.dequeue", task=task) == (400, 101)
    assert refused(bob_api, "tasks.stop", task=task) == (400, 101)
    assert refused(bob_api, "queues.move_task_to_front", queue=queue, task=task) == (400, 101)
    assert bob_api.call("queues.get_next_task", queue=queue) == {}  # not bob's to take
    assert alice_api.call("tasks.get_by_id", task=task)["task"]["status"] == "queued"
    for endpoint, body in (
        ("queues.create", {"name": "bobs"}),
        ("queues.update", {"queue": queue, "name": "renamed"}),
        ("queues.delete", {"queue": queue, "force": True}),
        ("queues.clear_queue", {"queue": queue}),
    ):
        assert refused(bob_api, endpoint, **body) == (403, 20)
    assert alice_api.call("queues.get_num_entries", queue=queue) == {"num": 1}

    assert alice_api.call("tasks.stop", task=task)["updated"] == 1
    assert alice_api.call("tasks.get_by_id", task=task)["task"]["status"] == "stopped"
    assert alice_api.call("queues.get_num_entries", queue=queue) == {"num": 0}


def test_a_stop_after_an_agents_pop_wins_over_its_starts(
    admin_api: ClearmlApi, alice_api: ClearmlApi
) -> None:
    """clearml-agent's calls after a pop (spec 5.2) against a stop that arrives between the
    pop and the task's own Task.init: the request stays until the worker ends the task."""
    queue = external_queue(admin_api, "stop-race-q")
    task = new_task(alice_api, "stopped-early")
    alice_api.call("tasks.enqueue", task=task, queue=queue)
    assert admin_api.call("queues.get_next_task", queue=queue)["entry"]["task"] == task

    asked = alice_api.call("tasks.stop", task=task)
    assert asked["fields"]["status_message"] == "stopping"
    admin_api.call("tasks.started", task=task, force=True, status_message="pulled by agent")
    admin_api.call("workers.status_report", worker="racer:0", task=task, queue=queue,
                   timestamp=int(time.time() * 1000))  # fmt: skip
    admin_api.call("tasks.dequeue", task=task, new_status="in_progress")
    admin_api.call("tasks.started", task=task, force=True, status_message="Changed by racer:0")
    alice_api.call("tasks.started", task=task)  # the SDK's Task.init inside the run
    seen = alice_api.call("tasks.get_all", id=[task], only_fields=["status", "status_message"])
    assert (seen["tasks"][0]["status"], seen["tasks"][0]["status_message"]) == (
        "in_progress", "stopping",
    )  # fmt: skip
    admin_api.call("tasks.stopped", task=task, status_reason="task was stopped by tasks.stop")
    assert alice_api.call("tasks.get_by_id", task=task)["task"]["status"] == "stopped"


def test_a_stop_between_an_agents_first_start_and_its_report_wins(
    admin_api: ClearmlApi, alice_api: ClearmlApi
) -> None:
    """The stop lands after the agent's first forced tasks.started (queued -> in_progress)
    but before its first status report names it: the next forced starts keep the request
    and the task ends stopped."""
    queue = external_queue(admin_api, "stop-window-q")
    task = new_task(alice_api, "stopped-in-window")
    alice_api.call("tasks.enqueue", task=task, queue=queue)
    assert admin_api.call("queues.get_next_task", queue=queue)["entry"]["task"] == task
    admin_api.call("tasks.started", task=task, force=True, status_message="pulled by agent")

    asked = alice_api.call("tasks.stop", task=task)
    assert asked["fields"]["status_message"] == "stopping"
    admin_api.call("workers.status_report", worker="racer:1", task=task, queue=queue,
                   timestamp=int(time.time() * 1000))  # fmt: skip
    admin_api.call("tasks.started", task=task, force=True, status_message="launch by agent")
    admin_api.call("tasks.dequeue", task=task, new_status="in_progress")
    admin_api.call("tasks.started", task=task, force=True, status_message="Changed by racer:1")
    seen = alice_api.call("tasks.get_all", id=[task], only_fields=["status", "status_message"])
    assert (seen["tasks"][0]["status"], seen["tasks"][0]["status_message"]) == (
        "in_progress", "stopping",
    )  # fmt: skip
    admin_api.call("tasks.stopped", task=task, status_reason="task was stopped by tasks.stop")
    assert alice_api.call("tasks.get_by_id", task=task)["task"]["status"] == "stopped"


def test_pops_skip_tasks_stopped_in_the_queue_and_hand_out_the_next(
    admin_api: ClearmlApi, alice_api: ClearmlApi
) -> None:
    queue = external_queue(admin_api, "stale-q")
    stale = [new_task(alice_api, f"stale-{i}") for i in range(25)]
    waiting = new_task(alice_api, "waiting")
    for task in [*stale, waiting]:
        alice_api.call("tasks.enqueue", task=task, queue=queue)
    for task in stale:  # a worker's late report: stopped, its entry kept
        alice_api.call("tasks.stopped", task=task)

    popped = admin_api.call("queues.get_next_task", queue=queue)
    assert popped["entry"]["task"] == waiting
    assert alice_api.call("queues.get_num_entries", queue=queue) == {"num": 0}
    statuses = alice_api.call("tasks.get_all", id=stale, only_fields=["status"])["tasks"]
    assert {t["status"] for t in statuses} == {"stopped"}


def test_queue_metadata_is_added_updated_and_deleted(
    clearml_live: LiveServer, admin_api: ClearmlApi, alice_api: ClearmlApi
) -> None:
    queue = external_queue(admin_api, "meta-q")
    result = sdk_json(clearml_live, None, f"""
        import json
        from clearml.backend_api.session.client import APIClient
        from clearml.backend_api.services import queues
        client = APIClient()
        items = [queues.MetadataItem(key="gpu", type="str", value="a100"),
                 queues.MetadataItem(key="zone", type="str", value="eu")]
        client.queues.add_or_update_metadata(queue={queue!r}, metadata=items)
        print(json.dumps(client.queues.get_by_id(queue={queue!r}).metadata))
    """)  # fmt: skip
    assert result == {"gpu": {"key": "gpu", "type": "str", "value": "a100"},
                      "zone": {"key": "zone", "type": "str", "value": "eu"}}  # fmt: skip
    updated = admin_api.call("queues.add_or_update_metadata", queue=queue,
                             metadata=[{"key": "gpu", "value": 2}])  # fmt: skip
    assert updated == {"updated": 1}
    assert admin_api.call("queues.delete_metadata", queue=queue, keys=["zone", "x"]) == {
        "updated": 1
    }
    found = admin_api.call("queues.get_all", id=[queue], only_fields=["metadata"])["queues"]
    assert found[0]["metadata"] == {"gpu": {"key": "gpu", "type": "", "value": "2"}}
    admin_api.call("queues.add_or_update_metadata", queue=queue, replace_metadata=True,
                   metadata=[{"key": "only", "type": "int", "value": "1"}])  # fmt: skip
    shown = alice_api.call("queues.get_by_id", queue=queue)["queue"]["metadata"]
    assert list(shown) == ["only"]
    assert refused(alice_api, "queues.delete_metadata", queue=queue, keys=["only"]) == (403, 20)
    assert refused(admin_api, "queues.add_or_update_metadata", queue=queue,
                   metadata=[{"key": ""}]) == (400, 12)  # fmt: skip
    assert refused(admin_api, "queues.delete_metadata", queue="0" * 32, keys=[]) == (400, 701)
    assert refused(admin_api, "queues.delete_metadata", queue=queue) == (400, 11)


def test_hangar_served_queues_map_to_any_scaling_group(
    clearml_live: LiveServer, admin_api: ClearmlApi
) -> None:
    """Runs of a queue mapped to a remote agents' group go to those agents (their run
    files shipped there, test_clearml_remote_agents.py); external queues may map too."""
    queue = admin_api.call("queues.create", name="remote-gpus", scaling_group="gpu-farm")["id"]
    shown = admin_api.call("queues.get_by_id", queue=queue)["queue"]
    assert (shown["served_by"], shown["scaling_group"]) == ("hangar", "gpu-farm")
    farm = external_queue(admin_api, "farm-q")
    admin_api.call("queues.update", queue=farm, scaling_group="gpu-farm")
    admin_api.call("queues.update", queue=farm, served_by="hangar")
    assert admin_api.call("queues.get_by_id", queue=farm)["queue"]["served_by"] == "hangar"
    done = clearml_live.hangar("queue", "create", "cli-farm", "--scaling-group", "gpu-farm")
    assert done.returncode == 0, done.stdout + done.stderr
    for name in ("remote-gpus", "farm-q", "cli-farm"):  # nothing of theirs runs here
        found = admin_api.call("queues.get_all", name=f"^{name}$")["queues"]
        admin_api.call("queues.delete", queue=found[0]["id"], force=True)


def test_queue_lookups_fail_the_way_the_clients_expect(admin_api: ClearmlApi) -> None:
    assert refused(admin_api, "queues.get_by_id", queue="default") == (400, 701)
    assert refused(admin_api, "workers.get_runtime_properties", worker="w") == (404, 0)
    default = admin_api.call("queues.get_default")
    assert default["name"] == "default"
    found = admin_api.call("queues.get_all", name="default", only_fields=["name", "id"])
    assert default["id"] in [q["id"] for q in found["queues"]]
    assert refused(admin_api, "tasks.enqueue", task="0" * 32, queue=default["id"]) == (400, 101)
    assert refused(admin_api, "tasks.enqueue", task=123, queue=[]) == (400, 12)
    metrics = admin_api.call(
        "queues.get_queue_metrics", from_date=time.time() - 3600, to_date=time.time(),
        interval=60, queue_ids=[default["id"]],
    )  # fmt: skip
    assert metrics["queues"][0]["queue"] == default["id"]


def test_workers_report_and_time_out(admin_api: ClearmlApi, alice_api: ClearmlApi) -> None:
    task = new_task(alice_api, "reported")
    alice_api.call("workers.register", worker="box:0", timeout=1, queues=[])
    alice_api.call(
        "workers.status_report", worker="box:0", timestamp=int(time.time() * 1000),
        task=task, machine_stats={"cpu_usage": [10, 20], "memory_used": 512}, is_daemon=True,
    )  # fmt: skip
    listed = {w["id"]: w for w in alice_api.call("workers.get_all")["workers"]}
    assert listed["box:0"]["task"]["id"] == task
    assert listed["box:0"]["user"]["name"] == "alice@queues.test"  # her name: no full name
    seen_by_admin = {w["id"]: w for w in admin_api.call("workers.get_all")["workers"]}
    assert seen_by_admin["box:0"]["user"] == listed["box:0"]["user"]
    assert alice_api.call("tasks.get_by_id", task=task)["task"]["last_worker"] == "box:0"
    stats = alice_api.call(
        "workers.get_stats", from_date=time.time() - 60, to_date=time.time() + 60,
        interval=3600, items=[{"key": "cpu_usage", "category": "avg"}], worker_ids=["box:0"],
    )  # fmt: skip
    assert stats["workers"][0]["metrics"][0]["stats"][0]["values"] == [15.0]
    time.sleep(1.5)
    assert "box:0" not in {w["id"] for w in alice_api.call("workers.get_all")["workers"]}


AGENT_SCRIPT = """
print("hello from a queued task")
import sys
print("python", sys.version_info[0])
"""
SLEEPER = """
import time
print("sleeping until stopped", flush=True)
time.sleep(300)
"""


def sdk_task(server: LiveServer, name: str, body: str, queue_name: str) -> str:
    script = server.home / f"{name}.py"
    script.write_text(body)
    created = sdk_json(server, None, f"""
        import json
        from clearml import Task
        task = Task.create(project_name="agent", task_name={name!r}, script={str(script)!r},
                           add_task_init_call=False)
        Task.enqueue(task, queue_name={queue_name!r})
        print(json.dumps({{"id": task.id}}))
    """)  # fmt: skip
    return str(created["id"])


@contextlib.contextmanager
def _agent_running(clearml_live: LiveServer) -> Iterator[subprocess.Popen[bytes]]:
    """The official clearml-agent daemon serving queue agent-q (venv mode, no installs)."""
    env = clearml_env(
        clearml_live, CLEARML_WORKER_ID="hangar-test:0",
        CLEARML_AGENT_SKIP_PIP_VENV_INSTALL=str(CLEARML_PYTHON),
        CLEARML_AGENT_SKIP_PYTHON_ENV_INSTALL="1",
    )  # fmt: skip
    with open(clearml_live.home / "agent.log", "wb") as log:
        daemon = subprocess.Popen(
            [str(CLEARML_AGENT), "daemon", "--queue", "agent-q", "--foreground"],
            env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            cwd=clearml_live.home,
        )  # fmt: skip
        try:
            yield daemon
        finally:
            os.killpg(daemon.pid, signal.SIGINT)
            try:
                daemon.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(daemon.pid, signal.SIGKILL)
                daemon.wait()


def agent_log(server: LiveServer) -> str:
    return (server.home / "agent.log").read_text(errors="replace")[-4000:]


def test_clearml_agent_daemon_runs_an_enqueued_task_and_aborts_one(
    clearml_live: LiveServer, admin_api: ClearmlApi
) -> None:
    queue = external_queue(admin_api, "agent-q")
    hello = sdk_task(clearml_live, "hello", AGENT_SCRIPT, "agent-q")
    sleeper = sdk_task(clearml_live, "sleeper", SLEEPER, "agent-q")
    early = sdk_task(clearml_live, "early", SLEEPER, "agent-q")

    with _agent_running(clearml_live) as daemon:
        status, seen_worker = _wait_for(admin_api, hello, ("completed", "failed", "stopped"))
        assert status == "completed", agent_log(clearml_live)
        assert seen_worker, agent_log(clearml_live)
        assert _wait_log(admin_api, sleeper, "sleeping until stopped"), agent_log(clearml_live)
        assert admin_api.call("tasks.stop", task=sleeper)["fields"]["status_message"] == (
            "stopping"
        )
        status, _ = _wait_for(admin_api, sleeper, ("stopped", "failed", "completed"), 90)
        assert status == "stopped", agent_log(clearml_live)
        # stopped as soon as the agent took it: before its own starts and the task's Task.init
        assert _wait_taken(admin_api, early), agent_log(clearml_live)
        assert admin_api.call("tasks.stop", task=early)["fields"]["status_message"] == "stopping"
        status, _ = _wait_for(admin_api, early, ("stopped", "failed", "completed"), 90)
        assert status == "stopped", agent_log(clearml_live)
        assert daemon.poll() is None  # the daemon lives on, back to polling

    text = _log_text(admin_api, hello)
    assert "hello from a queued task" in text, text[-3000:]
    assert admin_api.call("queues.get_num_entries", queue=queue) == {"num": 0}
    workers = admin_api.call("workers.get_all")["workers"]
    assert "hangar-test:0" not in {w["id"] for w in workers}  # unregistered at exit


def _log_text(api: ClearmlApi, task_id: str) -> str:
    logs = api.call("events.get_task_log", task=task_id, batch_size=500)["events"]
    return "\n".join(str(e.get("msg", "")) for e in logs)


def _wait_log(api: ClearmlApi, task_id: str, text: str, timeout: float = 120) -> bool:
    """Until the task's console log shows ``text`` (its script runs; the agent is done
    changing the task's status message)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if text in _log_text(api, task_id):
            return True
        time.sleep(1)
    return False


def _wait_taken(api: ClearmlApi, task_id: str, timeout: float = 120) -> bool:
    """Until the agent took the task: in progress on its worker (its first status report)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        task = api.call("tasks.get_by_id", task=task_id)["task"]
        if task["status"] == "in_progress" and task.get("last_worker"):
            return True
        time.sleep(0.05)
    return False


def _wait_for(
    api: ClearmlApi, task_id: str, statuses: tuple[str, ...], timeout: float = 240
) -> tuple[str, bool]:
    deadline, seen_worker, status = time.monotonic() + timeout, False, ""
    while time.monotonic() < deadline:
        status = api.call("tasks.get_by_id", task=task_id)["task"]["status"]
        workers = api.call("workers.get_all")["workers"]
        seen_worker = seen_worker or any(w["id"] == "hangar-test:0" for w in workers)
        if status in statuses:
            return status, seen_worker
        time.sleep(1)
    return status, seen_worker


def hangar_json(server: LiveServer, *args: str) -> Any:
    done = server.hangar("--output", "json", *args)
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads(done.stdout)


def test_hangar_cli_shows_queues_enqueues_and_aborts(
    clearml_live: LiveServer, admin_api: ClearmlApi
) -> None:
    queue = external_queue(admin_api, "cli-q")
    first, second = new_task(admin_api, "cli-first"), new_task(admin_api, "cli-second")

    queued = hangar_json(clearml_live, "experiments", "enqueue", first, "--queue", "cli-q")
    assert (queued["queue"], queued["position"]) == ("cli-q", 0)
    queued = hangar_json(clearml_live, "experiments", "enqueue", "cli-second", "-q", queue,
                         "--priority", "3")  # fmt: skip
    assert queued["position"] == 0  # a higher priority goes first
    listed = {q["name"]: q for q in hangar_json(clearml_live, "queue", "ls")}
    assert listed["cli-q"]["length"] == 2 and listed["cli-q"]["served_by"] == "external"
    assert listed["default"]["default"] is True
    shown = hangar_json(clearml_live, "queue", "show", "cli-q")
    assert [(t["position"], t["task_id"], t["name"]) for t in shown["tasks"]] == [
        (0, second, "cli-second"), (1, first, "cli-first"),
    ]  # fmt: skip
    assert all(t["wait"] >= 0 for t in shown["tasks"])
    assert [t["priority"] for t in shown["tasks"]] == [3, 0]
    table = clearml_live.hangar("queue", "show", "cli-q")
    assert table.returncode == 0 and "cli-second" in table.stdout and "wait" in table.stdout

    aborted = hangar_json(clearml_live, "experiments", "abort", first)
    assert aborted["status"] == "stopped"
    assert [t["task_id"] for t in hangar_json(clearml_live, "queue", "show", "cli-q")["tasks"]] \
        == [second]  # fmt: skip
    missing = clearml_live.hangar("queue", "show", "no-such-queue")
    assert missing.returncode == 1 and "no-such-queue" in missing.stdout + missing.stderr


def test_hangar_cli_administers_queues(clearml_live: LiveServer, alice: ClearmlUser) -> None:
    created = hangar_json(clearml_live, "queue", "create", "cli-adm", "--served-by", "external")
    assert created["name"] == "cli-adm"
    hangar_json(clearml_live, "queue", "update", "cli-adm", "--name", "cli-adm2",
                "--served-by", "hangar", "--resource-preset", "small")  # fmt: skip
    listed = {q["name"]: q for q in hangar_json(clearml_live, "queue", "ls")}
    assert listed["cli-adm2"]["id"] == created["id"] and listed["cli-adm2"]["served_by"] == "hangar"
    as_alice = {"CLEARML_API_HOST": clearml_live.endpoint,
                "CLEARML_API_ACCESS_KEY": alice.access_key,
                "CLEARML_API_SECRET_KEY": alice.secret_key}  # fmt: skip
    refused = clearml_live.hangar("queue", "delete", "cli-adm2", **as_alice)
    assert refused.returncode == 1 and "administrator" in refused.stdout + refused.stderr
    hangar_json(clearml_live, "queue", "delete", "cli-adm2")
    assert "cli-adm2" not in {q["name"] for q in hangar_json(clearml_live, "queue", "ls")}


def test_bad_input_gets_an_envelope_and_changes_nothing(
    admin_api: ClearmlApi, alice_api: ClearmlApi
) -> None:
    queue = external_queue(admin_api, "bad-q")
    task = new_task(alice_api, "bad-input")
    alice_api.call("tasks.enqueue", task=task, queue=queue)
    before = admin_api.call("queues.get_by_id", queue=queue)["queue"]

    for endpoint, body, code in (
        ("queues.move_task_forward", {"queue": queue, "task": task, "count": 0}, (400, 12)),
        ("queues.move_task_to_front", {"queue": queue}, (400, 11)),
        ("queues.add_task", {"queue": queue, "task": task, "priority": "high"}, (400, 12)),
        ("queues.get_queue_metrics", {"from_date": 0, "to_date": 1, "interval": 0}, (400, 12)),
        ("queues.get_all", {"name": "(unclosed"}, (400, 21)),
        ("queues.create", {"name": "  "}, (400, 12)),
        ("queues.create", {"name": "bad-q", "served_by": "nobody"}, (400, 12)),
        ("tasks.enqueue", {"task": task, "queue": queue, "priority": 10**9}, (400, 12)),
        ("tasks.dequeue", {"task": task, "new_status": "sideways"}, (400, 12)),
        ("workers.register", {"worker": "", "timeout": 10}, (400, 12)),
        ("workers.status_report", {"worker": "ghost:0", "task": "0" * 32}, (400, 101)),
    ):
        assert refused(alice_api if "create" not in endpoint else admin_api, endpoint, **body) \
            == code, endpoint  # fmt: skip
    assert admin_api.call("queues.get_by_id", queue=queue)["queue"] == before
    assert alice_api.call("tasks.get_by_id", task=task)["task"]["status"] == "queued"
    assert "ghost:0" not in {w["id"] for w in alice_api.call("workers.get_all")["workers"]}


def test_execute_remotely_leaves_the_task_queued(
    clearml_live: LiveServer, admin_api: ClearmlApi, alice: ClearmlUser, alice_api: ClearmlApi
) -> None:
    queue = external_queue(admin_api, "remote-q")
    done = run_sdk(clearml_live, """
        from clearml import Task
        task = Task.init(project_name="queued", task_name="go remote")
        print("TASK", task.id, flush=True)
        task.execute_remotely(queue_name="remote-q")
        print("still local")
    """, user=alice)  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "still local" not in done.stdout
    task_id = next(line.split()[1] for line in done.stdout.splitlines() if line.startswith("TASK"))
    task = alice_api.call("tasks.get_by_id", task=task_id)["task"]
    assert (task["status"], task["execution"]["queue"]) == ("queued", queue)
    assert "development" not in task["system_tags"]
    entries = alice_api.call("queues.get_by_id", queue=queue)["queue"]["entries"]
    assert [e["task"] for e in entries] == [task_id]
