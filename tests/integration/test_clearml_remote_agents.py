"""A queue Hangar serves, mapped to a remote agent's scaling group: its tasks run on a real
second ``hangar agent`` process. The run's directory is shipped to that agent and the run
reaches the API through the agent's relay to the manager; the script's own Task.init,
its scalars and console output arrive as with the server's own agent."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.test_clearml_remote import (
    CREATE_AND_ENQUEUE,
    FINAL,
    JOB,
    READ_BACK,
    executor_env,
    sdk_json,
    wait_status,
)
from tests.support.clearml import ClearmlApi, ClearmlUser, clearml_server, new_user, user_api
from tests.support.live import LiveAgent, LiveServer, running_agent

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap is not installed"),
]

FARM = "farm"
AGENT_ID = "i-farm-1"
GROUP = (
    'mutation { create_scaling_group(name: "farm", props: {driver: "static", '
    'scheduler: "fifo", driver_opts: "{}", scheduler_opts: "{}"}) { ok msg } }'
)
ASSOCIATE = (
    'mutation { associate_scaling_group_with_domain(scaling_group: "farm", domain: "default") '
    "{ ok msg } }"
)
SESSIONS = (
    'query { compute_session_list(limit: 100, offset: 0, status: "TERMINATED") '
    "{ items { name status agents scaling_group } } }"
)


def gql(server: LiveServer, query: str) -> dict[str, Any]:
    response = server.signed("POST", "/admin/gql", {"query": query, "variables": {}})
    body: dict[str, Any] = response.json()
    assert response.status_code == 200 and not body.get("errors"), body
    return body["data"]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    yield from clearml_server(tmp_path_factory.mktemp("farm"), extra_env=executor_env())


@pytest.fixture(scope="module")
def agent(server: LiveServer) -> Iterator[LiveAgent]:
    """A remote agent in scaling group ``farm`` (its own process and data dir)."""
    assert gql(server, GROUP)["create_scaling_group"]["ok"]
    assert gql(server, ASSOCIATE)["associate_scaling_group_with_domain"]["ok"]
    remote = LiveAgent(server, server.home / "agent", agent_id=AGENT_ID, scaling_group=FARM)
    yield from running_agent(remote)


@pytest.fixture(scope="module")
def alice(server: LiveServer) -> ClearmlUser:
    return new_user(server, "alice@farm.test")


@pytest.fixture(scope="module")
def api(server: LiveServer, alice: ClearmlUser) -> Iterator[ClearmlApi]:
    yield from user_api(server, alice)


@pytest.fixture(scope="module")
def farm_queue(server: LiveServer, agent: LiveAgent) -> str:
    """An administrator maps a queue Hangar serves to the remote agent's group."""
    admin = ClearmlApi.of(server)
    try:
        queue: str = admin.call("queues.create", name="farm-q", scaling_group=FARM)["id"]
        shown = admin.call("queues.get_by_id", queue=queue)["queue"]
    finally:
        admin.close()
    assert (shown["served_by"], shown["scaling_group"]) == ("hangar", FARM)
    return queue


def test_a_task_of_a_queue_mapped_to_a_remote_group_runs_on_that_agent(
    server: LiveServer, agent: LiveAgent, alice: ClearmlUser, api: ClearmlApi, farm_queue: str
) -> None:
    script = CREATE_AND_ENQUEUE.replace("NAME", repr("far job")).replace(
        'queue_name="default"', 'queue_name="farm-q"'
    )
    task_id = sdk_json(server, alice, script, **{"job.py": JOB})
    task = wait_status(api, task_id, FINAL, timeout=180)
    assert task["status"] == "completed", (task, agent.log_path.read_text()[-3000:])
    assert task["last_worker"] == f"hangar:{FARM}"
    seen = sdk_json(server, alice, READ_BACK.replace("TASK_ID", repr(task_id)))
    console = "\n".join(seen["console"])
    assert "first line of the job" in console and "lr is 0.1" in console
    assert seen["scalars"]["loss"]["train"]["y"] == [0.25]  # Task.init through the relay
    rows = gql(server, SESSIONS)["compute_session_list"]["items"]
    ran = [row for row in rows if row["name"].startswith("far-job")]
    assert [(r["agents"], r["scaling_group"]) for r in ran] == [([AGENT_ID], FARM)], rows
    runs = agent.home / "data" / "agent-runs"
    deadline = time.monotonic() + 30
    while runs.is_dir() and any(runs.iterdir()):  # the agent's copy goes with the kernel
        assert time.monotonic() < deadline, list(runs.iterdir())
        time.sleep(0.2)


def test_a_failing_script_on_the_remote_agent_fails_once_with_its_exit_code(
    server: LiveServer, alice: ClearmlUser, api: ClearmlApi, farm_queue: str
) -> None:
    job = "import sys\nprint('about to fail', flush=True)\nsys.exit(3)\n"
    script = CREATE_AND_ENQUEUE.replace("NAME", repr("far failure")).replace(
        'queue_name="default"', 'queue_name="farm-q"'
    )
    task_id = sdk_json(server, alice, script, **{"job.py": job})
    task = wait_status(api, task_id, FINAL, timeout=180)
    assert task["status"] == "failed", task
    assert "exit code 3" in task["status_reason"]
    log = [e["msg"] for e in api.call("events.get_task_log", task=task_id)["events"]]
    assert sum("about to fail" in line for line in log) == 1, log  # not run again


def test_abort_of_a_remote_run_stops_it_and_clears_the_agents_copy(
    server: LiveServer, agent: LiveAgent, alice: ClearmlUser, api: ClearmlApi, farm_queue: str
) -> None:
    job = "import time\nprint('sleeping far away', flush=True)\ntime.sleep(300)\n"
    script = CREATE_AND_ENQUEUE.replace("NAME", repr("far sleeper")).replace(
        'queue_name="default"', 'queue_name="farm-q"'
    )
    task_id = sdk_json(server, alice, script, **{"job.py": job})
    deadline = time.monotonic() + 120
    while not any(  # its code runs on the agent and its log reaches the API
        e["msg"] == "sleeping far away"
        for e in api.call("events.get_task_log", task=task_id)["events"]
    ):
        assert time.monotonic() < deadline, agent.log_path.read_text()[-3000:]
        time.sleep(0.3)
    runs = agent.home / "data" / "agent-runs"
    assert [p.name for p in runs.iterdir()] == [task_id[:16]]
    api.call("tasks.stop", task=task_id)
    task = wait_status(api, task_id, FINAL, timeout=60)
    assert task["status"] == "stopped", task
    deadline = time.monotonic() + 30
    while any(runs.iterdir()):
        assert time.monotonic() < deadline, list(runs.iterdir())
        time.sleep(0.2)


def test_a_server_without_an_agent_of_its_own_runs_queued_tasks_on_its_remote_agents(
    tmp_path: Path,
) -> None:
    """A manager that runs no sessions itself (HANGAR_AGENT_RUNTIME=none): its default
    queue's tasks run on the remote agents of the default group."""
    manager = LiveServer(home=tmp_path, database_url=f"sqlite+aiosqlite:///{tmp_path}/h.db",
                         extra_env={**executor_env(), "HANGAR_AGENT_RUNTIME": "none"})  # fmt: skip
    manager.start()
    remote = LiveAgent(manager, tmp_path / "agent", agent_id="i-only")
    try:
        remote.start()
        remote.wait_status("ALIVE")
        bob = new_user(manager, "bob@farm.test")
        api = ClearmlApi.of(manager, bob)
        script = CREATE_AND_ENQUEUE.replace("NAME", repr("only remote"))
        task_id = sdk_json(manager, bob, script, **{"job.py": JOB})
        task = wait_status(api, task_id, FINAL, timeout=180)
        assert task["status"] == "completed", (task, remote.log_path.read_text()[-3000:])
        seen = sdk_json(manager, bob, READ_BACK.replace("TASK_ID", repr(task_id)))
        assert seen["scalars"]["loss"]["train"]["y"] == [0.25]
        rows = gql(manager, SESSIONS)["compute_session_list"]["items"]
        assert [r["agents"] for r in rows if r["name"].startswith("only-remote")] == [["i-only"]]
        api.close()
    finally:
        remote.stop()
        manager.stop()


RESTART_JOB = """
import os, time
from clearml import Task
task = Task.init()
print("waiting for the go", flush=True)
deadline = time.monotonic() + 150
while not os.path.exists("/home/work/go") and time.monotonic() < deadline:
    time.sleep(0.2)
print("going on after the restart", flush=True)
task.get_logger().report_scalar("loss", "train", value=0.5, iteration=1)
task.flush(wait_for_uploads=True)
"""


def test_a_remote_run_goes_on_across_its_agents_restart(
    server: LiveServer, agent: LiveAgent, alice: ClearmlUser, api: ClearmlApi, farm_queue: str
) -> None:
    """The agent restarts while the task runs: its kernel runs on, the new agent process
    opens the run's API socket again, the script reaches the API afterwards and the task
    completes, run once; the agent's copy goes with the kernel."""
    script = CREATE_AND_ENQUEUE.replace("NAME", repr("far restart")).replace(
        'queue_name="default"', 'queue_name="farm-q"'
    )
    task_id = sdk_json(server, alice, script, **{"job.py": RESTART_JOB})

    def log() -> list[str]:
        return [e["msg"] for e in api.call("events.get_task_log", task=task_id)["events"]]

    deadline = time.monotonic() + 120
    while "waiting for the go" not in log():
        assert time.monotonic() < deadline, agent.log_path.read_text()[-3000:]
        time.sleep(0.3)
    agent.stop(keep_sessions=True)
    agent.start()
    agent.wait_status("ALIVE")
    scratch = [p for p in (agent.home / "data" / "scratch").glob("*-*-*-*-*") if p.is_dir()]
    assert len(scratch) == 1, scratch
    (scratch[0] / "go").write_text("")
    task = wait_status(api, task_id, FINAL, timeout=120)
    why = (task["status_reason"], log(), agent.log_path.read_text()[-3000:])
    assert task["status"] == "completed", why
    seen = sdk_json(server, alice, READ_BACK.replace("TASK_ID", repr(task_id)))
    assert seen["scalars"]["loss"]["train"]["y"] == [0.5]  # reported after the restart
    lines = log()
    assert lines.count("waiting for the go") == 1, lines  # run once
    assert lines.count("going on after the restart") == 1, lines
    runs = agent.home / "data" / "agent-runs"
    deadline = time.monotonic() + 30
    while any(p.name != ".kernels" for p in runs.iterdir()):
        assert time.monotonic() < deadline, list(runs.iterdir())
        time.sleep(0.2)
