"""Two SDK processes on one pooled connection: the official clearml SDK forks its reporting
process after ``Task.init`` has used its ``requests`` session, so the parent and the child
both hold the kept-alive socket of the session's pool and write requests on it at the same
time. Interleaved on the wire, one request's head lands inside another's body: the server saw
garbage ("Invalid HTTP request received") and the SDK dropped a batch of 5,000 points.
ClearML's own server never keeps an API connection alive; neither does Hangar's ClearML face,
so no socket outlives the answer it carried and a fork shares none."""

from __future__ import annotations

import json
import subprocess
import textwrap

import pytest

from tests.support.clearml import CLEARML_PYTHON, ClearmlApi, ClearmlUser, new_user, run_sdk
from tests.support.live import LiveServer

pytestmark = pytest.mark.integration

BATCHES, PER_BATCH = 40, 2_000

# What the SDK's transport does, without the SDK's timing: one requests.Session used once,
# then forked; the child sends big add_batch bodies while the parent polls small calls.
FORKED_SESSION = """
import json, os, sys
import requests

endpoint, token, task, batches, per_batch = sys.argv[1:6]
batches, per_batch = int(batches), int(per_batch)
session = requests.Session()
session.headers.update({"Authorization": "Bearer " + token})

def call(name, body, **headers):
    return session.get(f"{endpoint}/v2.23/{name}", data=body, headers=headers, timeout=20)

assert call("debug.ping", "{}").status_code == 200  # the pool now holds a kept-alive socket
child = os.fork()
problems = []
if child == 0:
    for b in range(batches):
        lines = "\\n".join(json.dumps({
            "type": "training_stats_scalar", "task": task, "metric": "loss",
            "variant": "train", "iter": it, "value": float(it), "timestamp": 1765000000000 + it,
        }) for it in range(b * per_batch, (b + 1) * per_batch))
        try:
            reply = call("events.add_batch", lines, **{"Content-Type": "application/json-lines"})
            if reply.status_code != 200 or reply.json()["data"].get("added") != per_batch:
                problems.append(f"batch {b}: {reply.status_code} {reply.text[:200]}")
        except requests.RequestException as exc:
            problems.append(f"batch {b}: {exc!r}")
    print(json.dumps(problems))
    sys.stdout.flush()
    os._exit(0)
polls = 0
while os.waitpid(child, os.WNOHANG) == (0, 0):
    polls += 1
    try:
        reply = call("tasks.get_all", json.dumps({"id": [task], "only_fields": ["status"]}))
        if reply.status_code != 200 or "tasks" not in reply.json()["data"]:
            problems.append(f"poll {polls}: {reply.status_code} {reply.text[:200]}")
    except (requests.RequestException, ValueError) as exc:
        problems.append(f"poll {polls}: {exc!r}")
print(json.dumps(problems))
"""


@pytest.fixture(scope="module")
def carol(clearml_live: LiveServer) -> ClearmlUser:
    return new_user(clearml_live, "carol@connections.test")


def test_a_connection_shared_by_forked_processes_loses_nothing(
    clearml_live: LiveServer, carol: ClearmlUser
) -> None:
    api = ClearmlApi.of(clearml_live, carol)
    task = api.call("tasks.create", name="forked", type="training")["id"]
    done = subprocess.run(
        [str(CLEARML_PYTHON), "-c", textwrap.dedent(FORKED_SESSION), clearml_live.endpoint,
         api.token, task, str(BATCHES), str(PER_BATCH)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    child, parent = (json.loads(line) for line in done.stdout.splitlines()[-2:])
    assert child == [] and parent == [], (child, parent)
    history = api.call(
        "events.scalar_metrics_iter_histogram", task=task, samples=BATCHES * PER_BATCH
    )
    assert len(history["loss"]["train"]["x"]) == BATCHES * PER_BATCH
    api.close()


SDK_100K = """
from clearml import Task
task = Task.init(project_name="connections", task_name="100k")
log = task.get_logger()
for i in range(100_000):
    log.report_scalar("loss", "train", value=1.0 / (i + 1), iteration=i)
task.close()
print("TASK", task.id)
"""


def test_every_point_of_a_100k_sdk_run_arrives(
    clearml_live: LiveServer, carol: ClearmlUser
) -> None:
    done = run_sdk(clearml_live, SDK_100K, user=carol, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    task = next(line.split()[1] for line in done.stdout.splitlines() if line.startswith("TASK"))
    api = ClearmlApi.of(clearml_live, carol)
    history = api.call("events.scalar_metrics_iter_histogram", task=task, samples=200_000)
    assert history["loss"]["train"]["x"] == list(range(100_000))
    api.close()
    assert "Invalid HTTP request" not in clearml_live.log_path.read_text()
