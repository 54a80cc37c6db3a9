"""Two real ``hangar server`` processes on one PostgreSQL database both run queued tasks.
One is killed with SIGKILL while it runs a task: the other runs every task still queued
(each once), takes the dead one's run over when its lease runs out, and the task ends
``completed`` once the dead server is back and its agent sees the session's end."""

from __future__ import annotations

import base64
import json
import os
import shutil
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.test_clearml_remote import FINAL, executor_env, wait_status
from tests.integration.test_remote_agents import free_port
from tests.support.clearml import ClearmlApi, ClearmlUser, new_user, run_sdk
from tests.support.live import LiveServer, listening_url

pytestmark = [
    pytest.mark.integration,
    pytest.mark.backends("postgresql"),
    pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap is not installed"),
]

ENQUEUE = """
import json
from clearml import Task
ids = []
for name in NAMES:
    task = Task.create(project_name="handoff", task_name=name, script="job.py")
    Task.enqueue(task, queue_name="default")
    ids.append(task.id)
print(json.dumps(ids))
"""

JOB = """
import os, sys, time
print("run of", os.environ["CLEARML_TASK_ID"], flush=True)
time.sleep(float(sys.argv[1]) if len(sys.argv) > 1 else SECONDS)
"""


@pytest.fixture
def servers(database_url: str, tmp_path: Path) -> Iterator[list[LiveServer]]:
    """Two servers with their own data dirs, agents and fixed ports (a restart keeps its
    address), one task at a time each."""
    key = base64.urlsafe_b64encode(os.urandom(32)).decode()
    started: list[LiveServer] = []
    try:
        for name in ("a", "b"):
            env = {**executor_env(), "HANGAR_SERVER_KEY": key, "HANGAR_PORT": str(free_port()),
                   "HANGAR_AGENT_ID": f"i-{name}", "HANGAR_EXECUTOR_MAX_RUNNING": "1"}  # fmt: skip
            server = LiveServer(home=tmp_path / name, database_url=database_url, extra_env=env)
            if started:  # the first one's admin keys
                shutil.copytree(started[0].home / "config", server.home / "config")
            server.start()
            server.endpoint = listening_url(server)
            started.append(server)
        yield started
    finally:
        for server in reversed(started):
            server.stop()


def enqueue(server: LiveServer, user: ClearmlUser, names: list[str], seconds: float) -> list[str]:
    folder = server.home / f"work-{time.monotonic_ns()}"
    folder.mkdir()
    (folder / "job.py").write_text(JOB.replace("SECONDS", str(seconds)))
    done = run_sdk(server, ENQUEUE.replace("NAMES", repr(names)), user=user, cwd=folder)
    assert done.returncode == 0, done.stderr[-3000:]
    ids: list[str] = json.loads(done.stdout.strip().splitlines()[-1])
    return ids


def runner_of(servers: list[LiveServer], task_id: str) -> int:
    """Which server runs the task: the one whose data dir holds its run directory."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        for n, server in enumerate(servers):
            if (server.data_dir / "executor" / task_id[:16]).is_dir():
                return n
        time.sleep(0.1)
    raise TimeoutError(f"no server holds the run of {task_id}")


def runs_of(api: ClearmlApi, task_id: str) -> int:
    log = api.call("events.get_task_log", task=task_id, batch_size=500)["events"]
    return sum(e["msg"] == f"run of {task_id}" for e in log)


def test_a_killed_servers_queue_and_run_are_handed_to_the_other(
    servers: list[LiveServer],
) -> None:
    alice = new_user(servers[0], "alice@handoff.test")
    api = ClearmlApi.of(servers[0], alice)
    (long_id,) = enqueue(servers[0], alice, ["long"], 10)
    wait_status(api, long_id, ("in_progress",), timeout=60)
    dead = runner_of(servers, long_id)
    alive = servers[1 - dead]
    api.close()
    api = ClearmlApi.of(alive, alice)
    queued = enqueue(alive, alice, ["q1", "q2", "q3"], 0)
    victim = servers[dead]
    assert victim.proc is not None
    victim.proc.send_signal(signal.SIGKILL)
    victim.proc.wait()

    ended = {task_id: wait_status(api, task_id, FINAL, timeout=120) for task_id in queued}
    assert {t["status"] for t in ended.values()} == {"completed"}, ended
    assert [runs_of(api, task_id) for task_id in queued] == [1, 1, 1]
    deadline = time.monotonic() + 150  # the dead one's lease (60 s) runs out
    while f"took over task {long_id}" not in alive.log_path.read_text():
        assert time.monotonic() < deadline, alive.log_path.read_text()[-3000:]
        time.sleep(0.5)
    assert api.call("tasks.get_all", id=[long_id])["tasks"][0]["status"] == "in_progress"

    victim.start()  # its agent finds the session ended while it was down
    task = wait_status(api, long_id, FINAL, timeout=120)
    assert task["status"] == "completed", task
    assert runs_of(api, long_id) == 1
    api.close()
