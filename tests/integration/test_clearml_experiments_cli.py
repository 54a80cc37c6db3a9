"""``hangar experiments`` over experiments the official ClearML SDK tracked."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from tests.support.clearml import ClearmlApi, new_user, run_sdk
from tests.support.live import LiveServer

pytestmark = pytest.mark.integration

TRACKED = """
from clearml import Task

task = Task.init(project_name="cli-demo", task_name="train-cli")
task.connect({"lr": 0.25, "epochs": 4}, name="General")
logger = task.get_logger()
for i in range(6):
    logger.report_scalar("loss", "train", value=1.0 / (i + 1), iteration=i)
    logger.report_scalar("loss", "val", value=2.0 / (i + 1), iteration=i)
print("TASK", task.id)
task.close()
"""


@pytest.fixture(scope="module")
def task_id(clearml_live: LiveServer) -> str:
    done = run_sdk(clearml_live, TRACKED)
    assert done.returncode == 0, done.stdout + done.stderr
    found = re.search(r"^TASK (\w+)$", done.stdout, re.M)
    assert found, done.stdout
    return found[1]


def hangar_json(server: LiveServer, *args: str) -> dict[str, Any]:
    done = server.hangar("--output", "json", "experiments", *args)
    assert done.returncode == 0, done.stdout + done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def test_ls_lists_tracked_experiments(clearml_live: LiveServer, task_id: str) -> None:
    listed = hangar_json(clearml_live, "ls", "--project", "cli-demo")
    assert [(i["id"], i["project"], i["name"], i["status"]) for i in listed["items"]] == [
        (task_id, "cli-demo", "train-cli", "completed")
    ]
    table = clearml_live.hangar("experiments", "ls")
    assert table.returncode == 0, table.stderr
    assert "train-cli" in table.stdout and "cli-demo" in table.stdout
    assert hangar_json(clearml_live, "ls", "--status", "failed")["count"] == 0


def test_show_prints_fields_hyperparameters_and_last_metrics(
    clearml_live: LiveServer, task_id: str
) -> None:
    shown = hangar_json(clearml_live, "show", "train-cli")
    assert shown["id"] == task_id and shown["project"] == "cli-demo"
    assert shown["hyperparams"]["General"]["lr"]["value"] == "0.25"
    text = clearml_live.hangar("experiments", "show", task_id)
    assert text.returncode == 0, text.stderr
    for expected in ("completed", "General", "lr", "0.25", "loss", "val", "0.3333"):
        assert expected in text.stdout, (expected, text.stdout)


def test_scalars_prints_a_metrics_last_values(clearml_live: LiveServer, task_id: str) -> None:
    values = hangar_json(clearml_live, "scalars", task_id, "loss", "--last", "2")["items"]
    assert [(v["variant"], v["iteration"]) for v in values] == [
        ("train", 5), ("train", 4), ("val", 5), ("val", 4),
    ]  # fmt: skip
    assert values[0]["value"] == pytest.approx(1 / 6)
    last = hangar_json(clearml_live, "scalars", "train-cli")["items"]
    assert {(v["metric"], v["variant"]) for v in last} == {("loss", "train"), ("loss", "val")}
    assert next(v for v in last if v["variant"] == "val")["last"] == pytest.approx(2 / 6)


def test_other_users_experiments_stay_out_of_sight(clearml_live: LiveServer, task_id: str) -> None:
    erin = new_user(clearml_live, "erin@cli.test")
    env = {
        "CLEARML_API_HOST": clearml_live.endpoint,
        "CLEARML_API_ACCESS_KEY": erin.access_key,
        "CLEARML_API_SECRET_KEY": erin.secret_key,
    }
    listed = clearml_live.hangar("--output", "json", "experiments", "ls", **env)
    assert listed.returncode == 0, listed.stderr
    assert task_id not in listed.stdout
    missing = clearml_live.hangar("experiments", "show", task_id, **env)
    assert missing.returncode == 1
    assert "Traceback" not in missing.stderr and missing.stderr.strip()
    assert ClearmlApi.of(clearml_live, erin).call("tasks.get_all", id=[task_id])["tasks"] == []


def test_bad_credentials_are_one_line(clearml_live: LiveServer) -> None:
    done = clearml_live.hangar(
        "experiments", "ls", CLEARML_API_HOST=clearml_live.endpoint,
        CLEARML_API_ACCESS_KEY=clearml_live.access_key, CLEARML_API_SECRET_KEY="wrong",
    )  # fmt: skip
    assert done.returncode == 1
    assert "401" in done.stderr and "Traceback" not in done.stderr
