"""Projects and tasks through the official clearml SDK against a live server: Task.init (new
and reused), parameters and configuration, queries, status changes, clone, delete, and two
users who never see or change each other's work."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.clearml import (
    ClearmlApi,
    ClearmlCallError,
    ClearmlUser,
    new_user,
    run_sdk,
)
from tests.support.live import LiveServer

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def alice(clearml_live: LiveServer) -> ClearmlUser:
    return new_user(clearml_live, "alice@tasks.test")


@pytest.fixture(scope="module")
def bob(clearml_live: LiveServer) -> ClearmlUser:
    return new_user(clearml_live, "bob@tasks.test")


@pytest.fixture(scope="module")
def alice_api(clearml_live: LiveServer, alice: ClearmlUser) -> Iterator[ClearmlApi]:
    api = ClearmlApi.of(clearml_live, alice)
    yield api
    api.close()


@pytest.fixture(scope="module")
def bob_api(clearml_live: LiveServer, bob: ClearmlUser) -> Iterator[ClearmlApi]:
    api = ClearmlApi.of(clearml_live, bob)
    yield api
    api.close()


def call(api: ClearmlApi, endpoint: str, body: dict[str, Any]) -> dict[str, Any]:
    """``api.call`` for bodies with a ``name`` key."""
    response = api.raw(endpoint, body)
    if response.status_code != 200:
        raise ClearmlCallError(response)
    data: dict[str, Any] = response.json()["data"]
    return data


def sdk(server: LiveServer, user: ClearmlUser, script: str) -> dict[str, Any]:
    """Runs ``script`` with the SDK; its last printed line is JSON, returned parsed."""
    done = run_sdk(server, script, user=user)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    assert lines, done.stdout[-3000:] + done.stderr[-3000:]
    result: dict[str, Any] = json.loads(lines[-1])
    result["_stdout"] = done.stdout
    return result


INIT = """
import argparse, json
from clearml import Task
task = Task.init(project_name="vision/{project}", task_name="{name}")
params = {{"lr": 0.1, "layers": 3, "nested": {{"dropout": 0.5}}, "odd.name$": "x y"}}
task.connect(params)
task.connect({{"batch": 64}}, name="Data")
parser = argparse.ArgumentParser()
parser.add_argument("--epochs", type=int, default=7)
args = parser.parse_args([])
task.connect_configuration({{"optimizer": {{"name": "adam", "beta": 0.9}}}}, name="train")
print(json.dumps({{"id": task.id, "project": task.project}}))
task.close()
"""


def test_task_init_records_parameters_configuration_and_completes(
    clearml_live: LiveServer, alice: ClearmlUser, alice_api: ClearmlApi
) -> None:
    made = sdk(clearml_live, alice, INIT.format(project="cats", name="first run"))

    task = alice_api.call("tasks.get_by_id", task=made["id"])["task"]
    assert task["status"] == "completed"
    assert task["name"] == "first run" and task["type"] == "training"
    assert "development" in task["system_tags"]
    general = task["hyperparams"]["General"]
    assert general["lr"]["value"] == "0.1" and general["lr"]["type"] == "float"
    assert general["nested/dropout"]["value"] == "0.5"
    assert general["odd.name$"]["value"] == "x y"  # names come back exactly as sent
    assert task["hyperparams"]["Data"]["batch"]["value"] == "64"
    assert task["hyperparams"]["Args"]["epochs"]["value"] == "7"
    assert "adam" in task["configuration"]["train"]["value"]
    assert task["script"]["requirements"]["pip"]
    assert task["execution"]["artifacts"] == [] and task["models"]["output"] == []
    assert task["completed"] and task["started"] and task["last_iteration"] == 0
    project = alice_api.call("projects.get_by_id", project=made["project"])["project"]
    assert project["name"] == "vision/cats" and project["basename"] == "cats"
    parent = call(alice_api, "projects.get_all", {"name": "^vision$"})["projects"]
    assert [p["id"] for p in parent] == [project["parent"]]


def test_second_task_init_reuses_the_task(
    clearml_live: LiveServer, alice: ClearmlUser, alice_api: ClearmlApi
) -> None:
    first = sdk(clearml_live, alice, INIT.format(project="reuse", name="again"))
    second = sdk(clearml_live, alice, INIT.format(project="reuse", name="again"))

    assert second["id"] == first["id"]
    assert "reusing" in second["_stdout"] or "overwriting" in second["_stdout"]
    task = alice_api.call("tasks.get_by_id", task=first["id"])["task"]
    assert task["status"] == "completed"
    found = call(alice_api, "tasks.get_all", {"name": "^again$", "only_fields": ["id"]})
    assert [t["id"] for t in found["tasks"]] == [first["id"]]
