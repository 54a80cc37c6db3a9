"""Hangar runs queued ClearML tasks itself: the official SDK creates and enqueues a task, the
server pops it, runs it as a batch session of the task's owner (real bubblewrap), the
script's own Task.init attaches to the queued task, and the task ends by the exit code."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.clearml import (
    CLEARML_PYTHON,
    ClearmlApi,
    ClearmlUser,
    admin_of,
    clearml_server,
    new_user,
    run_sdk,
    user_api,
)
from tests.support.live import LiveServer

pytestmark = pytest.mark.integration

SDK_SITE = next((CLEARML_PYTHON.parent.parent / "lib").glob("python3*/site-packages"))
FINAL = ("completed", "failed", "stopped")


def executor_env() -> dict[str, str]:
    return {
        "HANGAR_EXECUTOR_SDK_PATH": str(SDK_SITE),
        "HANGAR_EXECUTOR_SKIP_REQUIREMENTS": "1",
        "HANGAR_EXECUTOR_LOCAL_REPOS": "1",
    }


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    yield from clearml_server(tmp_path_factory.mktemp("remote"), extra_env=executor_env())


@pytest.fixture(scope="module")
def alice(server: LiveServer) -> ClearmlUser:
    return new_user(server, "alice@remote.test")


@pytest.fixture(scope="module")
def api(server: LiveServer, alice: ClearmlUser) -> Iterator[ClearmlApi]:
    yield from user_api(server, alice)


def sdk_json(server: LiveServer, user: ClearmlUser, script: str, **files: str) -> Any:
    """Runs ``script`` with the SDK beside ``files`` (name -> text); its last line, parsed."""
    folder = server.home / f"work-{time.monotonic_ns()}"
    folder.mkdir()
    for name, text in files.items():
        (folder / name).write_text(text)
    done = run_sdk(server, script, user=user, cwd=folder)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def wait_status(
    api: ClearmlApi, task_id: str, wanted: tuple[str, ...], timeout: float = 120
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        task: dict[str, Any] = api.call("tasks.get_all", id=[task_id])["tasks"][0]
        if task["status"] in wanted or time.monotonic() > deadline:
            return task
        time.sleep(0.2)


CREATE_AND_ENQUEUE = """
import json
from clearml import Task
task = Task.create(project_name="remote", task_name=NAME, script="job.py")
task.set_parameters({"Args/lr": "0.1"})
Task.enqueue(task, queue_name="default")
print(json.dumps(task.id))
"""

JOB = """
from clearml import Task
print("first line of the job")
task = Task.init()
params = task.get_parameters()
print("lr is", params.get("Args/lr"))
task.get_logger().report_scalar("loss", "train", value=0.25, iteration=3)
task.flush(wait_for_uploads=True)
"""

READ_BACK = """
import json, sys
from clearml import Task
task = Task.get_task(task_id=TASK_ID)
scalars = task.get_reported_scalars()
console = task.get_reported_console_output(number_of_reports=100)
print(json.dumps({"status": task.get_status(), "scalars": scalars, "console": console}))
"""


def test_created_and_enqueued_task_runs_to_completed(
    server: LiveServer, alice: ClearmlUser, api: ClearmlApi
) -> None:
    script = CREATE_AND_ENQUEUE.replace("NAME", repr("hello remote"))
    task_id = sdk_json(server, alice, script, **{"job.py": JOB})
    task = wait_status(api, task_id, FINAL)
    assert task["status"] == "completed", task
    assert task["last_worker"] == "hangar:default"
    seen = sdk_json(server, alice, READ_BACK.replace("TASK_ID", repr(task_id)))
    console = "\n".join(seen["console"])
    assert "first line of the job" in console
    assert "lr is 0.1" in console
    assert seen["scalars"]["loss"]["train"]["y"] == [0.25]


def test_failing_script_fails_with_its_exit_code(
    server: LiveServer, alice: ClearmlUser, api: ClearmlApi
) -> None:
    job = "import sys\nprint('about to fail')\nsys.exit(3)\n"
    script = CREATE_AND_ENQUEUE.replace("NAME", repr("failing"))
    task_id = sdk_json(server, alice, script, **{"job.py": job})
    task = wait_status(api, task_id, FINAL)
    assert task["status"] == "failed", task
    assert "exit code 3" in task["status_reason"]


def test_abort_while_running_stops_the_task_and_ends_its_session(
    server: LiveServer, alice: ClearmlUser, api: ClearmlApi
) -> None:
    job = "import time\nprint('sleeping', flush=True)\ntime.sleep(300)\n"
    script = CREATE_AND_ENQUEUE.replace("NAME", repr("long sleeper"))
    task_id = sdk_json(server, alice, script, **{"job.py": job})
    wait_status(api, task_id, ("in_progress",))
    deadline = time.monotonic() + 60
    while "long-sleeper" not in (listed := ps(server, alice)):
        assert time.monotonic() < deadline, listed
        time.sleep(0.3)
    while not any(
        e["msg"] == "sleeping" for e in api.call("events.get_task_log", task=task_id)["events"]
    ):
        assert time.monotonic() < deadline
        time.sleep(0.3)  # its code runs: the SDK's own tasks.started has come and gone
    api.call("tasks.stop", task=task_id)
    task = wait_status(api, task_id, FINAL, timeout=60)
    assert task["status"] == "stopped", task
    deadline = time.monotonic() + 30
    while "long-sleeper" in (listed := ps(server, alice)):
        assert time.monotonic() < deadline, listed
        time.sleep(0.3)


STOPPED_BEFORE_INIT = """
import os, time
from clearml.backend_api.session.client import APIClient
client, me = APIClient(), os.environ["CLEARML_TASK_ID"]
print("waiting for the stop", flush=True)
deadline = time.time() + 120
while client.tasks.get_all(id=[me], only_fields=["status_message"])[0].status_message \\
        != "stopping" and time.time() < deadline:
    time.sleep(0.05)
client.tasks.started(task=me)  # what Task.init sends first, right after the stop
from clearml import Task
Task.init()
print("ran on after the stop", flush=True)
time.sleep(300)
"""


def test_a_stop_before_the_runs_task_init_ends_it_stopped(
    server: LiveServer, alice: ClearmlUser, api: ClearmlApi
) -> None:
    script = CREATE_AND_ENQUEUE.replace("NAME", repr("early stop"))
    task_id = sdk_json(server, alice, script, **{"job.py": STOPPED_BEFORE_INIT})
    deadline = time.monotonic() + 120
    while not any(
        "waiting for the stop" in e["msg"]
        for e in api.call("events.get_task_log", task=task_id)["events"]
    ):
        assert time.monotonic() < deadline
        time.sleep(0.2)
    assert api.call("tasks.stop", task=task_id)["fields"]["status_message"] == "stopping"
    task = wait_status(api, task_id, FINAL, timeout=60)
    assert task["status"] == "stopped", task
    deadline = time.monotonic() + 30
    while "early-stop" in (listed := ps(server, alice)):
        assert time.monotonic() < deadline, listed
        time.sleep(0.3)


def ps(server: LiveServer, user: ClearmlUser) -> str:
    """``backend.ai ps`` of ``user``: their live sessions."""
    keys = {"BACKEND_ACCESS_KEY": user.access_key, "BACKEND_SECRET_KEY": user.secret_key}
    done = server.official("ps", **keys)
    assert done.returncode == 0, done.stderr
    return done.stdout


REMOTELY = """
import json, sys
from clearml import Task
task = Task.init(project_name="remote", task_name="remotely")
args = task.connect({"lr": 0.1, "epochs": 2})
print("TASK", json.dumps(task.id), flush=True)
task.execute_remotely(queue_name="default")
print("remote run with lr", args["lr"], "epochs", args["epochs"])
"""


def test_execute_remotely_from_a_running_script(
    server: LiveServer, alice: ClearmlUser, api: ClearmlApi
) -> None:
    folder = server.home / "remotely"
    folder.mkdir()
    done = run_sdk(server, REMOTELY, user=alice, cwd=folder)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "remote run with" not in done.stdout  # the local process stopped there
    marked = [line for line in done.stdout.splitlines() if line.startswith("TASK ")]
    task_id = json.loads(marked[0].split(" ", 1)[1])
    task = wait_status(api, task_id, FINAL)
    assert task["status"] == "completed", task
    log = api.call("events.get_task_log", task=task_id, batch_size=200)["events"]
    assert any("remote run with lr 0.1 epochs 2" in e["msg"] for e in log), log


CLONE = """
import json
from clearml import Task
source = Task.get_task(task_id=SOURCE)
clone = Task.clone(source_task=source, name="tuned")
clone.set_parameters({"Args/lr": "0.5"})
Task.enqueue(clone, queue_name="default")
print(json.dumps(clone.id))
"""


def test_clone_with_changed_hyperparameters_runs_with_the_new_values(
    server: LiveServer, alice: ClearmlUser, api: ClearmlApi
) -> None:
    script = CREATE_AND_ENQUEUE.replace("NAME", repr("to clone"))
    source = sdk_json(server, alice, script, **{"job.py": JOB})
    assert wait_status(api, source, FINAL)["status"] == "completed"
    clone = sdk_json(server, alice, CLONE.replace("SOURCE", repr(source)))
    task = wait_status(api, clone, FINAL)
    assert task["status"] == "completed", task
    log = api.call("events.get_task_log", task=clone, batch_size=200)["events"]
    assert any("lr is 0.5" in e["msg"] for e in log), log


def test_a_task_that_cannot_start_fails_saying_why(api: ClearmlApi) -> None:
    script = {"entry_point": "job.py", "diff": "print(1)\n"}
    task_id = api.call("tasks.create", name="no such image", type="training", script=script,
                       container={"image": "no-such-image:1"})["id"]  # fmt: skip
    api.call("tasks.enqueue", task=task_id, queue_name="default")
    task = wait_status(api, task_id, FINAL)
    assert task["status"] == "failed", task
    log = api.call("events.get_task_log", task=task_id)["events"]
    assert any("could not start" in e["msg"] and "no-such-image" in e["msg"] for e in log), log


def test_worker_shows_as_hangar_scaling_group(api: ClearmlApi) -> None:
    workers = api.call("workers.get_all")["workers"]
    assert any(w["id"] == "hangar:default" for w in workers), workers


def _hangars_worker(client: ClearmlApi) -> dict[str, Any]:
    found = [w for w in client.call("workers.get_all")["workers"] if w["id"] == "hangar:default"]
    assert len(found) == 1, found
    return found[0]


def test_hangars_worker_shows_alices_task_to_her_only(
    server: LiveServer, alice: ClearmlUser, api: ClearmlApi
) -> None:
    """While Hangar's executor runs alice's task, bob's workers.get_all shows the worker as
    Hangar's, busy with nothing he may see: no email, user id, task or queue of alice's."""
    job = "import time\nprint('busy', flush=True)\ntime.sleep(300)\n"
    script = CREATE_AND_ENQUEUE.replace("NAME", repr("private sleeper"))
    task_id = sdk_json(server, alice, script, **{"job.py": job})
    owner = wait_status(api, task_id, ("in_progress",))["user"]
    bob = new_user(server, "bob@remote.test")
    bob_api, admin_api = ClearmlApi.of(server, bob), ClearmlApi.of(server, admin_of(server))
    try:
        deadline = time.monotonic() + 30
        while (mine := _hangars_worker(api)).get("task", {}).get("id") != task_id:
            assert time.monotonic() < deadline, mine
            time.sleep(0.2)
        seen = _hangars_worker(bob_api)
        shown = json.dumps(bob_api.call("workers.get_all"))
        admin = _hangars_worker(admin_api)  # an administrator sees every task of the domain
    finally:
        bob_api.close()
        admin_api.close()
    assert admin["task"]["id"] == task_id, admin
    assert mine["user"]["name"] == "Hangar", mine
    assert mine["queue"]["name"] == "default", mine
    for secret in (alice.email, owner, task_id, "sleeper"):
        assert secret not in shown, (secret, shown)
    assert "task" not in seen and "queue" not in seen and "project" not in seen, seen
    assert seen["user"]["name"] == "Hangar", seen
    api.call("tasks.stop", task=task_id)
    assert wait_status(api, task_id, FINAL, timeout=60)["status"] == "stopped"
