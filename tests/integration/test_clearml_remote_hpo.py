"""Hyper-parameter sweeps with Hangar as the executor: the official HyperParameterOptimizer
clones the base task, edits its parameters, enqueues the clones, Hangar runs them, and the
optimizer reads their ``last_metrics`` to pick the best."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.integration.test_clearml_remote import FINAL, executor_env, sdk_json, wait_status
from tests.support.clearml import ClearmlApi, ClearmlUser, clearml_server, new_user
from tests.support.live import LiveServer

pytestmark = pytest.mark.integration

BASE = """
import json
from clearml import Task
task = Task.create(project_name="sweep", task_name="base", script="train.py")
task.set_parameters({"Args/lr": "0.05"})
Task.enqueue(task, queue_name="default")
print(json.dumps(task.id))
"""

TRAIN = """
from clearml import Task
task = Task.init()
lr = float(task.get_parameters()["Args/lr"])
for step in range(3):
    loss = (lr - 0.2) ** 2 + step * 0.001
    task.get_logger().report_scalar("loss", "train", value=loss, iteration=step)
print("trained with", lr)
"""

SWEEP = """
import json
from clearml import Task
from clearml.automation import HyperParameterOptimizer, GridSearch, RandomSearch
from clearml.automation import DiscreteParameterRange
Task.init(project_name="sweep", task_name="controller", task_type=Task.TaskTypes.optimizer)
opt = HyperParameterOptimizer(
    base_task_id=BASE_ID,
    hyper_parameters=[DiscreteParameterRange("Args/lr", values=[0.1, 0.2, 0.3])],
    objective_metric_title="loss", objective_metric_series="train", objective_metric_sign="min",
    optimizer_class=STRATEGY, execution_queue="default", max_number_of_concurrent_tasks=3,
    total_max_jobs=3, pool_period_min=0.02,
)
opt.set_report_period(0.01)  # stop() waits for the reporter's sleep
opt.start()
opt.wait()
top = opt.get_top_experiments(3)
opt.stop()
print(json.dumps([[t.id, t.get_parameters()["Args/lr"]] for t in top]))
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    yield from clearml_server(tmp_path_factory.mktemp("hpo"), extra_env=executor_env())


@pytest.fixture(scope="module")
def alice(server: LiveServer) -> ClearmlUser:
    return new_user(server, "alice@hpo.test")


@pytest.mark.parametrize("strategy", ["GridSearch", "RandomSearch"])
def test_optimizer_runs_its_trials_on_hangar_and_finds_the_best(
    server: LiveServer, alice: ClearmlUser, strategy: str
) -> None:
    api = ClearmlApi.of(server, alice)
    base = sdk_json(server, alice, BASE, **{"train.py": TRAIN})
    assert wait_status(api, base, FINAL)["status"] == "completed"
    script = SWEEP.replace("BASE_ID", repr(base)).replace("STRATEGY", strategy)
    top = sdk_json(server, alice, script)
    assert top, "no trial finished"
    for task_id, _ in top:
        task = wait_status(api, task_id, FINAL)
        assert task["status"] == "completed", task
        assert task["last_worker"] == "hangar:default"
    if strategy == "GridSearch":
        assert sorted(float(lr) for _, lr in top) == [0.1, 0.2, 0.3]
    best = min(top, key=lambda t: abs(float(t[1]) - 0.2))
    assert top[0][1] == best[1]  # the best trial is the one closest to lr = 0.2
    api.close()
