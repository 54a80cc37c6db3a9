"""A server killed with SIGKILL while Hangar runs queued tasks: after the restart no queued
task is lost, the running ones end as their sessions end, and every task ran once."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pytest

from tests.integration.test_clearml_remote import FINAL, executor_env, wait_status
from tests.support.clearml import ClearmlApi, new_user, run_sdk
from tests.support.live import LiveServer

pytestmark = pytest.mark.integration

MANY = """
import json
from clearml import Task
ids = []
for n in range(COUNT):
    task = Task.create(project_name="restart", task_name=f"job {n}", script="job.py")
    ids.append(task.id)
for task_id in ids:
    Task.enqueue(task_id, queue_name="default")
print(json.dumps(ids))
"""

JOB = """
import os, time
print("run of", os.environ["CLEARML_TASK_ID"], flush=True)
time.sleep(4)
print("done", flush=True)
"""


def test_kill_9_with_tasks_queued_and_running(database_url: str, tmp_path: Path) -> None:
    env = {**executor_env(), "HANGAR_EXECUTOR_MAX_RUNNING": "2"}
    server = LiveServer(home=tmp_path, database_url=database_url, extra_env=env)
    server.start()
    try:
        alice = new_user(server, "alice@restart.test")
        folder = tmp_path / "work"
        folder.mkdir()
        (folder / "job.py").write_text(JOB)
        done = run_sdk(server, MANY.replace("COUNT", "5"), user=alice, cwd=folder)
        assert done.returncode == 0, done.stderr[-3000:]
        ids: list[str] = json.loads(done.stdout.strip().splitlines()[-1])
        api = ClearmlApi.of(server, alice)
        wait_status(api, ids[0], ("in_progress",), timeout=60)
        statuses = {t["status"] for t in api.call("tasks.get_all", id=ids)["tasks"]}
        assert "queued" in statuses, statuses  # some still wait when the server dies
        api.close()
        assert server.proc is not None
        server.proc.send_signal(signal.SIGKILL)
        server.proc.wait()

        server.start()
        api = ClearmlApi.of(server, alice)
        ended = {task_id: wait_status(api, task_id, FINAL, timeout=180) for task_id in ids}
        assert {t["status"] for t in ended.values()} == {"completed"}, ended
        for task_id in ids:
            log = api.call("events.get_task_log", task=task_id, batch_size=500)["events"]
            runs = [e for e in log if e["msg"] == f"run of {task_id}"]
            assert len(runs) == 1, (task_id, log)
        api.close()
    finally:
        server.stop()
