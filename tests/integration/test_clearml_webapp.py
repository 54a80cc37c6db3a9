"""The reads the ClearML web app makes, on events the official SDK reported to a live
server: the task log as a file, plots by iteration, debug images one at a time, the
latest scalar values and the metrics to compare tasks by; another user sees none of it."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.support.clearml import ClearmlApi, ClearmlCallError, ClearmlUser, run_sdk, users
from tests.support.live import LiveServer

pytestmark = pytest.mark.integration

alice, bob, alice_api, bob_api = users("clearml_live", "webapp")

REPORTING = """
import json
import numpy as np
from clearml import Task

task = Task.init(project_name="webapp", task_name="browsed")
log = task.get_logger()
for i in range(150):
    log.report_scalar("loss", "train", value=float(i), iteration=i)
log.report_scalar("acc", "eval", value=0.5, iteration=3)
for it in (1, 2, 4):
    for variant in ("a", "b"):
        log.report_image("img", variant, iteration=it, image=np.full((4, 4, 3), it, np.uint8))
    log.report_plotly("curve", "fig", iteration=it,
                      figure={"data": [{"type": "scatter", "y": [it]}], "layout": {}})
log.report_image("other", "c", iteration=2, url="http://example.com/c.png")
for variant in ("v", "h"):
    log.report_plotly("bars", variant, iteration=2,
                      figure={"data": [{"type": "bar", "y": [variant]}], "layout": {}})
for n in range(3):
    log.report_text(f"line {n} of the log")
task.flush(wait_for_uploads=True)
task.close()
print(json.dumps({"id": task.id}))
"""


@pytest.fixture(scope="module")
def task(clearml_live: LiveServer, alice: ClearmlUser) -> str:
    done = run_sdk(clearml_live, REPORTING, user=alice)
    assert done.returncode == 0, done.stderr[-4000:]
    found: str = json.loads(done.stdout.strip().splitlines()[-1])["id"]
    return found


def refused(api: ClearmlApi, name: str, **body: Any) -> tuple[int, int]:
    with pytest.raises(ClearmlCallError) as error:
        api.call(name, **body)
    return error.value.code, error.value.subcode


def test_the_log_downloads_as_a_file_oldest_line_first(
    alice_api: ClearmlApi, bob_api: ClearmlApi, task: str
) -> None:
    as_json = alice_api.raw("events.download_task_log", {"task": task})
    assert as_json.status_code == 200
    assert as_json.headers["content-disposition"] == f'attachment; filename="task_{task}.log"'
    events = [json.loads(line) for line in as_json.text.splitlines()]
    stamps = [event["asctime"] for event in events]
    assert stamps == sorted(stamps) and {"msg", "level", "worker"} <= set(events[0])
    assert "line 0 of the log\nline 1 of the log\nline 2 of the log" in events[-1]["msg"]
    text = alice_api.raw("events.download_task_log", {"task": task, "line_type": "text",
                         "line_format": "{level}|{msg}"})  # fmt: skip
    assert text.text == "".join(f"{e['level']}|{e['msg']}\n" for e in events)
    assert text.text.startswith("info|ClearML Task: created new task")
    for bad in ("{nope}", "{msg"):
        assert refused(alice_api, "events.download_task_log", task=task, line_type="text",
                       line_format=bad) == (400, 12)  # fmt: skip
    assert refused(bob_api, "events.download_task_log", task=task) == (400, 101)


def test_plots_come_by_iteration_newest_first_then_earlier(
    alice_api: ClearmlApi, bob_api: ClearmlApi, task: str
) -> None:
    first = alice_api.call("events.plots", metrics=[{"task": task, "metric": "curve"}], iters=2)
    [found] = first["metrics"]
    assert [i["iter"] for i in found["iterations"]] == [4, 2]
    plot = json.loads(found["iterations"][0]["events"][0]["plot_str"])
    assert plot["data"][0]["y"] == [4]
    more = alice_api.call("events.plots", metrics=[{"task": task, "metric": "curve"}], iters=2,
                          scroll_id=first["scroll_id"])  # fmt: skip
    assert [i["iter"] for i in more["metrics"][0]["iterations"]] == [1]
    assert refused(bob_api, "events.plots", metrics=[{"task": task}]) == (400, 101)


def test_debug_images_are_browsed_one_at_a_time(
    alice_api: ClearmlApi, bob_api: ClearmlApi, task: str
) -> None:
    latest = alice_api.call("events.get_debug_image_sample", task=task, metric="img",
                            variant="b")  # fmt: skip
    assert (latest["event"]["iter"], latest["event"]["variant"]) == (4, "b")
    assert (latest["min_iteration"], latest["max_iteration"]) == (1, 4)
    picture = alice_api.http.get(
        latest["event"]["url"], headers={"Authorization": f"Bearer {alice_api.token}"}
    )
    assert picture.status_code == 200 and picture.content

    def step(scroll: str, **how: Any) -> dict[str, Any]:
        found: dict[str, Any] = alice_api.call(
            "events.next_debug_image_sample", task=task, scroll_id=scroll, **how
        )
        return found

    where = []
    scroll = latest["scroll_id"]
    for _ in range(6):  # b@4, a@4, b@2, a@2, b@1, a@1, then nothing further
        found = step(scroll, navigate_earlier=True)
        if found["event"] is None:
            break
        where.append((found["event"]["iter"], found["event"]["variant"]))
        scroll = found["scroll_id"]
    assert where == [(4, "a"), (2, "b"), (2, "a"), (1, "b"), (1, "a")]
    later = step(scroll, navigate_earlier=False, next_iteration=True)  # a@1 -> a@2
    assert (later["event"]["iter"], later["event"]["variant"]) == (2, "a")
    at = alice_api.call("events.get_debug_image_sample", task=task, metric="img", variant="a",
                        iteration=2, navigate_current_metric=False)  # fmt: skip
    across = step(at["scroll_id"], navigate_earlier=False)  # a@2 -> b@2 -> other/c@2
    assert (across["event"]["metric"], across["event"]["variant"]) == ("img", "b")
    last = step(across["scroll_id"], navigate_earlier=False)
    assert (last["event"]["metric"], last["event"]["url"]) == ("other", "http://example.com/c.png")
    assert refused(alice_api, "events.next_debug_image_sample", task=task,
                   scroll_id="forged") == (400, 1104)  # fmt: skip
    assert refused(bob_api, "events.get_debug_image_sample", task=task, metric="img",
                   variant="a") == (400, 101)  # fmt: skip


def test_plots_are_browsed_one_metric_and_iteration_at_a_time(
    alice_api: ClearmlApi, bob_api: ClearmlApi, task: str
) -> None:
    latest = alice_api.call("events.get_plot_sample", task=task, metric="curve")
    [event] = latest["events"]
    assert (event["metric"], event["iter"]) == ("curve", 4)
    assert json.loads(event["plot_str"])["data"][0]["y"] == [4]
    assert (latest["min_iteration"], latest["max_iteration"]) == (1, 4)

    def step(scroll: str, **how: Any) -> dict[str, Any]:
        found: dict[str, Any] = alice_api.call(
            "events.next_plot_sample", task=task, scroll_id=scroll, **how
        )
        return found

    where, scroll = [], latest["scroll_id"]
    for _ in range(4):  # the current metric only: curve@2, curve@1, then nothing further
        found = step(scroll, navigate_earlier=True)
        if not found["events"]:
            break
        where.append(found["events"][0]["iter"])
        scroll = found["scroll_id"]
    assert where == [2, 1]
    assert step(scroll, navigate_earlier=False, next_iteration=True)["events"][0]["iter"] == 2
    at = alice_api.call("events.get_plot_sample", task=task, metric="curve", iteration=2,
                        navigate_current_metric=False)  # fmt: skip
    bars = step(at["scroll_id"], navigate_earlier=True)  # curve@2 -> bars@2, both variants
    assert [(e["metric"], e["variant"], e["iter"]) for e in bars["events"]] == [
        ("bars", "h", 2), ("bars", "v", 2)
    ]  # fmt: skip
    assert (bars["min_iteration"], bars["max_iteration"]) == (2, 2)
    assert step(bars["scroll_id"], navigate_earlier=True)["events"][0]["iter"] == 1  # curve@1
    assert step(bars["scroll_id"], navigate_earlier=False)["events"][0]["metric"] == "curve"
    assert (
        step(bars["scroll_id"], navigate_earlier=False, next_iteration=True)["events"][0]["iter"]
        == 4
    )  # the next iteration, whichever metric
    up_to = alice_api.call("events.get_plot_sample", task=task, metric="curve", iteration=3)
    assert [e["iter"] for e in up_to["events"]] == [2]  # the last one up to iteration 3
    none = alice_api.call("events.get_plot_sample", task=task, metric="curve", iteration=0)
    assert none["events"] == [] and (none["min_iteration"], none["max_iteration"]) == (1, 4)
    for scroll_id in ("forged", "", latest["scroll_id"][:-4]):
        assert refused(alice_api, "events.next_plot_sample", task=task,
                       scroll_id=scroll_id) == (400, 1104)  # fmt: skip
    image_scroll = alice_api.call("events.get_debug_image_sample", task=task, metric="img",
                                  variant="a")["scroll_id"]  # fmt: skip
    assert refused(alice_api, "events.next_plot_sample", task=task,
                   scroll_id=image_scroll) == (400, 1104)  # fmt: skip
    assert refused(bob_api, "events.get_plot_sample", task=task, metric="curve") == (400, 101)
    assert refused(bob_api, "events.next_plot_sample", task=task,
                   scroll_id=latest["scroll_id"]) == (400, 101)  # fmt: skip


def test_a_models_own_scalars_and_plots_are_read_with_model_events(
    alice_api: ClearmlApi, bob_api: ClearmlApi, task: str
) -> None:
    model = alice_api.call("models.create", uri="file:///w.pt", name="scored", task=task)["id"]
    plot = json.dumps({"data": [{"type": "scatter", "y": [7]}], "layout": {}})
    events = [
        {"type": "training_stats_scalar", "task": model, "metric": "m_loss", "variant": "val",
         "iter": it, "value": float(it) / 2, "model_event": True} for it in range(5)
    ] + [{"type": "plot", "task": model, "metric": "m_plot", "variant": "p", "iter": 3,
          "plot_str": plot, "model_event": True}]  # fmt: skip
    added = alice_api.raw(
        "events.add_batch", content="\n".join(map(json.dumps, events)).encode(),
        headers={"Content-Type": "application/json-lines"},
    )  # fmt: skip
    assert added.status_code == 200, added.text
    assert added.json()["data"]["added"] == 6
    found = alice_api.call("events.get_task_latest_scalar_values", task=model, model_events=True)
    [metric] = found["metrics"]
    assert metric["name"] == "m_loss"
    assert metric["variants"] == [{"name": "val", "last_value": 2.0, "last_100_value": 1.0}]
    assert (found["name"], found["status"]) == ("scored", "created")
    sample = alice_api.call("events.get_plot_sample", task=model, metric="m_plot",
                            model_events=True)  # fmt: skip
    assert [json.loads(e["plot_str"])["data"][0]["y"] for e in sample["events"]] == [[7]]
    assert alice_api.call("events.get_task_latest_scalar_values", task=task)["name"] == "browsed"
    assert refused(alice_api, "events.get_task_latest_scalar_values", task=model) == (400, 101)
    assert refused(bob_api, "events.get_task_latest_scalar_values", task=model,
                   model_events=True) == (400, 101)  # fmt: skip
    assert refused(bob_api, "events.get_plot_sample", task=model, metric="m_plot",
                   model_events=True) == (400, 101)  # fmt: skip


def test_latest_scalar_values_and_the_average_of_the_last_hundred(
    alice_api: ClearmlApi, bob_api: ClearmlApi, task: str
) -> None:
    found = alice_api.call("events.get_task_latest_scalar_values", task=task)
    metrics = {m["name"]: {v["name"]: v for v in m["variants"]} for m in found["metrics"]}
    train = metrics["loss"]["train"]
    assert train["last_value"] == 149.0
    assert train["last_100_value"] == pytest.approx(sum(range(50, 150)) / 100)
    assert metrics["acc"]["eval"]["last_value"] == 0.5
    assert (found["name"], found["status"], found["last_iter"]) == ("browsed", "completed", 149)
    assert refused(bob_api, "events.get_task_latest_scalar_values", task=task) == (400, 101)


def test_the_metrics_of_tasks_to_compare(
    alice_api: ClearmlApi, bob_api: ClearmlApi, task: str
) -> None:
    other = alice_api.call("tasks.create", name="to compare", type="training")["id"]
    line = {"type": "training_stats_scalar", "task": other, "metric": "loss",
            "variant": "eval", "iter": 0, "value": 1.0}  # fmt: skip
    alice_api.call("events.add", **line)
    both = alice_api.call("events.get_multi_task_metrics", tasks=[task, other])
    assert both["metrics"] == [
        {"metric": "acc", "variants": ["eval"]},
        {"metric": "loss", "variants": ["eval", "train"]},
    ]
    images = alice_api.call("events.get_multi_task_metrics", tasks=[task, other],
                            event_type="training_debug_image")  # fmt: skip
    assert images["metrics"] == [
        {"metric": "img", "variants": ["a", "b"]},
        {"metric": "other", "variants": ["c"]},
    ]
    assert refused(bob_api, "events.get_multi_task_metrics", tasks=[task]) == (400, 101)
    assert refused(alice_api, "events.get_multi_task_metrics", tasks=[task],
                   event_type="nope") == (400, 12)  # fmt: skip
