"""Task events through the official clearml SDK and the raw API against a live server:
scalars, plots, images, text, tables, single values and console output reported and read
back, downsampled histories, two users kept apart, bad input refused whole."""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import signal
import sqlite3
import threading
import time
import zlib
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.clearml import ClearmlApi, ClearmlCallError, ClearmlUser, run_sdk, users
from tests.support.live import LiveServer, wait_for

pytestmark = pytest.mark.integration
CRASH_BATCH = 2000


alice, bob, alice_api, bob_api = users("clearml_live", "events")


def new_task(api: ClearmlApi, name: str) -> str:
    response = api.raw("tasks.create", {"name": name, "type": "training", "project": None})
    if response.status_code != 200:
        raise ClearmlCallError(response)
    task: str = response.json()["data"]["id"]
    return task


def lines(events: list[dict[str, Any]]) -> bytes:
    return "\n".join(json.dumps(e) for e in events).encode()


def add_batch(api: ClearmlApi, events: list[dict[str, Any]]) -> dict[str, Any]:
    response = api.raw(
        "events.add_batch", content=lines(events),
        headers={"Authorization": f"Bearer {api.token}", "Content-Type": "application/json-lines"},
    )  # fmt: skip
    if response.status_code != 200:
        raise ClearmlCallError(response)
    data: dict[str, Any] = response.json()["data"]
    return data


def scalar(task: str, it: int, value: float, metric: str = "loss") -> dict[str, Any]:
    return {
        "type": "training_stats_scalar", "task": task, "metric": metric, "variant": "train",
        "iter": it, "value": value, "timestamp": 1_765_000_000_000 + it, "allow_locked": False,
        "model_event": False, "method": "get",
    }  # fmt: skip


REPORTING = """
import json
import numpy as np
from clearml import Task

task = Task.init(project_name="events", task_name="reporting")
log = task.get_logger()
for i in range(20):
    log.report_scalar("loss", "train", value=1.0 / (i + 1), iteration=i)
    log.report_scalar("loss", "eval", value=2.0 / (i + 1), iteration=i)
log.report_single_value("accuracy", 0.93)
log.report_scatter2d("scatter", "points", iteration=3, scatter=[[0, 1], [1, 2], [2, 5]])
log.report_plotly("plotly", "fig", iteration=3,
                  figure={"data": [{"type": "bar", "x": [1, 2], "y": [3, 4]}], "layout": {}})
log.report_table("table", "t", iteration=3, table_plot=[["a", "b"], [1, 2]])
log.report_text("hello from report_text")
print("printed by the script")
log.report_image("img", "by url", iteration=1, url="http://example.com/pic.png")
log.report_image("img", "array", iteration=2, image=np.zeros((8, 8, 3), dtype=np.uint8))
task.flush(wait_for_uploads=True)
import time; time.sleep(2.5)  # console lines go out every 2 s
task.flush(wait_for_uploads=True)
result = {
    "id": task.id,
    "scalars": task.get_reported_scalars(),
    "all_scalars": task.get_all_reported_scalars(),
    "singles": task.get_reported_single_values(),
    "plots": [(p["metric"], p["variant"], p["iter"], json.loads(p["plot_str"]).get("data"))
              for p in task.get_reported_plots()],
    "console": task.get_reported_console_output(100),
    "images": task.get_debug_samples("img", "by url"),
    "last": task.get_last_scalar_metrics(),
}
task.close()
print(json.dumps(result, default=str))
"""


@pytest.fixture(scope="module")
def reported(clearml_live: LiveServer, alice: ClearmlUser) -> dict[str, Any]:
    done = run_sdk(clearml_live, REPORTING, user=alice)
    assert done.returncode == 0, done.stderr[-4000:]
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def test_reported_scalars_come_back_from_the_sdk(reported: dict[str, Any]) -> None:
    train = reported["scalars"]["loss"]["train"]
    assert train["x"] == list(range(20))
    assert train["y"] == pytest.approx([1.0 / (i + 1) for i in range(20)])
    assert reported["scalars"]["loss"]["eval"]["y"][4] == pytest.approx(0.4)
    every = reported["all_scalars"]["loss"]["train"]
    assert every["x"] == list(range(20))
    assert reported["singles"] == {"accuracy": pytest.approx(0.93)}
    assert reported["last"]["loss"]["train"]["last"] == pytest.approx(1.0 / 20)
    assert reported["last"]["loss"]["train"]["min"] == pytest.approx(1.0 / 20)
    assert reported["last"]["loss"]["train"]["max"] == pytest.approx(1.0)


def test_plots_text_console_and_images_come_back(reported: dict[str, Any]) -> None:
    plots = {(metric, variant): (it, data) for metric, variant, it, data in reported["plots"]}
    assert plots[("plotly", "fig")] == (3, [{"type": "bar", "x": [1, 2], "y": [3, 4]}])
    assert plots[("scatter", "points")][1][0]["y"] == [1, 2, 5]
    assert ("table", "t") in plots
    console = "\n".join(reported["console"])
    assert "hello from report_text" in console
    assert "printed by the script" in console
    assert [s["url"] for s in reported["images"]] == ["http://example.com/pic.png"]


def test_tasks_show_their_last_iteration_and_metrics(
    alice_api: ClearmlApi, reported: dict[str, Any]
) -> None:
    task = alice_api.call("tasks.get_by_id", task=reported["id"])["task"]
    assert task["last_iteration"] == 19
    entries = [v for m in task["last_metrics"].values() for v in m.values()]
    train = next(e for e in entries if (e["metric"], e["variant"]) == ("loss", "train"))
    assert train["value"] == pytest.approx(0.05) and train["count"] == 20
    series = alice_api.call("events.get_scalar_metrics_and_variants", task=reported["id"])
    assert series["metrics"]["loss"] == {"train": {"name": "train"}, "eval": {"name": "eval"}}
    names = alice_api.call("events.get_task_metrics", tasks=[reported["id"]],
                           event_type="training_debug_image")  # fmt: skip
    assert names["metrics"] == [{"task": reported["id"], "metrics": ["img"]}]
    images = alice_api.call("events.debug_images", metrics=[{"task": reported["id"],
                            "metric": "img"}], iters=5)  # fmt: skip
    iterations = images["metrics"][0]["iterations"]
    assert [i["iter"] for i in iterations] == [2, 1]
    uploaded = iterations[0]["events"][0]["url"]  # the array, on the file server
    picture = alice_api.http.get(uploaded, headers={"Authorization": f"Bearer {alice_api.token}"})
    assert picture.status_code == 200 and len(picture.content) > 0
    more = alice_api.call("events.debug_images", metrics=[{"task": reported["id"],
                          "metric": "img"}], iters=5, scroll_id=images["scroll_id"])  # fmt: skip
    assert more["metrics"][0]["iterations"] == []


def test_histories_are_downsampled_to_the_samples_asked(alice_api: ClearmlApi) -> None:
    task = new_task(alice_api, "downsampled")
    assert add_batch(alice_api, [scalar(task, i, float(i)) for i in range(3000)])["added"] == 3000
    whole = alice_api.call("events.scalar_metrics_iter_histogram", task=task)
    assert whole["loss"]["train"]["x"] == list(range(3000))
    fewer = alice_api.call("events.scalar_metrics_iter_histogram", task=task, samples=30)
    series = fewer["loss"]["train"]
    assert series["x"] == [i * 100 for i in range(30)]
    assert series["y"] == pytest.approx([i * 100 + 49.5 for i in range(30)])
    by_time = alice_api.call("events.scalar_metrics_iter_histogram", task=task, key="timestamp",
                             samples=3000)  # fmt: skip
    assert by_time["loss"]["train"]["x"][0] == 1_765_000_000_000
    compared = alice_api.call("events.multi_task_scalar_metrics_iter_histogram", tasks=[task],
                              samples=3)  # fmt: skip
    assert compared["metrics"]["loss"]["train"][task]["name"] == "downsampled"
    assert len(compared["metrics"]["loss"]["train"][task]["x"]) == 3
    page = alice_api.call("events.get_scalar_metric_data", task=task, metric="loss",
                          batch_size=2000)  # fmt: skip
    assert (page["returned"], page["total"]) == (2000, 3000)
    assert page["events"][0]["iter"] == 2999
    rest = alice_api.call("events.get_scalar_metric_data", task=task, metric="loss",
                          scroll_id=page["scroll_id"], batch_size=2000)  # fmt: skip
    assert [e["iter"] for e in rest["events"]] == list(range(999, -1, -1))


def test_a_whole_metric_comes_in_one_answer_as_its_pages_do(
    alice_api: ClearmlApi, bob_api: ClearmlApi
) -> None:
    task = new_task(alice_api, "whole metric")
    points = [scalar(task, i, i / 3) for i in range(12_000)]
    points += [{**scalar(task, i, 2.0), "variant": "eval"} for i in range(3)]
    points += [{**scalar(task, 0, 7.0), "metric": "other"}, {**scalar(task, 5, 1.0), "value": None}]
    add_batch(alice_api, points)
    whole = alice_api.call("events.get_scalar_metric_data", task=task, metric="loss",
                           no_scroll=True)  # fmt: skip
    paged, scroll = [], None
    for _ in range(5):  # three pages, then nothing: a used-up scroll does not start again
        page = alice_api.call("events.get_scalar_metric_data", task=task, metric="loss",
                              batch_size=5000, scroll_id=scroll)  # fmt: skip
        paged += page["events"]
        scroll = page["scroll_id"]
        assert page["total"] == 12_003
    assert (whole["returned"], whole["total"], whole["scroll_id"]) == (12_003, 12_003, None)
    assert whole["events"] == paged
    assert [e["iter"] for e in whole["events"][:3]] == [2, 1, 0]  # eval, reported second
    assert whole["events"][3] == {
        "type": "training_stats_scalar", "task": task, "metric": "loss", "variant": "train",
        "iter": 11_999, "value": 11_999 / 3, "timestamp": 1_765_000_000_000 + 11_999,
    }  # fmt: skip
    every = alice_api.call("events.get_scalar_metric_data", task=task, no_scroll=True)
    assert every["returned"] == 12_004
    with pytest.raises(ClearmlCallError) as hidden:
        bob_api.call("events.get_scalar_metric_data", task=task, metric="loss", no_scroll=True)
    assert (hidden.value.code, hidden.value.subcode) == (400, 101)
    none = alice_api.call("events.get_scalar_metric_data", task=task, metric="x", no_scroll=True)
    assert none == {"events": [], "returned": 0, "total": 0, "scroll_id": None}


def test_a_kept_whole_history_follows_every_change_to_it(alice_api: ClearmlApi) -> None:
    """The server keeps a long history's encoded answer; a point reported again, a
    deleted history and a history written anew each show in the next read."""
    task = new_task(alice_api, "kept history")
    add_batch(alice_api, [scalar(task, i, i / 7) for i in range(12_000)])

    def values() -> dict[int, float | None]:
        found = alice_api.call("events.get_scalar_metric_data", task=task, metric="loss",
                               no_scroll=True)  # fmt: skip
        assert found["returned"] == found["total"] == len(found["events"])
        return {e["iter"]: e["value"] for e in found["events"]}

    first = values()
    assert values() == first and first[11_999] == 11_999 / 7
    add_batch(alice_api, [scalar(task, 5, 42.0)])  # an old point, the aggregates barely move
    assert values()[5] == 42.0
    add_batch(alice_api, [{**scalar(task, 6, 6 / 7), "timestamp": 1}])  # only its time changes
    found = alice_api.call("events.get_scalar_metric_data", task=task, metric="loss",
                           no_scroll=True)  # fmt: skip
    assert [e["timestamp"] for e in found["events"] if e["iter"] == 6] == [1]
    alice_api.call("events.delete_for_task", task=task)
    assert values() == {}
    add_batch(alice_api, [scalar(task, i, -i / 7) for i in range(12_000)])
    assert values() == {i: -i / 7 for i in range(12_000)}


def test_large_answers_come_gzipped_to_clients_that_take_it(alice_api: ClearmlApi) -> None:
    """A kept whole history and a large envelope come as one valid gzip member with the
    same data as the plain answer; a small answer is never compressed."""
    task = new_task(alice_api, "gzipped")
    add_batch(alice_api, [scalar(task, i, i / 3) for i in range(12_000)])

    def raw(name: str, encoding: str, **body: Any) -> tuple[httpx.Headers, bytes]:
        request = alice_api.http.build_request(
            "POST", alice_api.url(name), json=body,
            headers={"Authorization": f"Bearer {alice_api.token}", "Accept-Encoding": encoding},
        )  # fmt: skip
        response = alice_api.http.send(request, stream=True)
        try:
            return response.headers, b"".join(response.iter_raw())
        finally:
            response.close()

    def data(packed: bytes) -> Any:
        return json.loads(gzip.decompress(packed))["data"]

    whole = {"task": task, "metric": "loss", "no_scroll": True}
    headers, plain = raw("events.get_scalar_metric_data", "gzip, deflate", **whole)
    assert "content-encoding" not in headers  # read anew: plain, deflated after for later

    def gzipped() -> tuple[httpx.Headers, bytes] | None:
        found = raw("events.get_scalar_metric_data", "gzip, deflate", **whole)
        return found if found[0].get("content-encoding") == "gzip" else None

    for _ in range(2):  # the kept history, spliced in
        _, packed = wait_for(gzipped, "the kept history comes gzipped", 30)
        assert len(packed) < len(plain) / 5 and data(packed) == json.loads(plain)["data"]
        unpacker = zlib.decompressobj(16 + zlib.MAX_WBITS)  # one member, nothing after it
        assert unpacker.decompress(packed) and unpacker.eof and not unpacker.unused_data
    headers, packed = raw("events.scalar_metrics_iter_histogram", "gzip", task=task)
    assert headers["content-encoding"] == "gzip"
    assert len(data(packed)["loss"]["train"]["y"]) == 12_000
    headers, small = raw("events.get_task_metrics", "gzip", tasks=[task])
    assert "content-encoding" not in headers and json.loads(small)["data"]["metrics"]


def test_a_models_events_are_read_with_model_events_and_go_with_the_model(
    clearml_live: LiveServer, alice_api: ClearmlApi, bob_api: ClearmlApi
) -> None:
    task = new_task(alice_api, "with a model")
    model = alice_api.call("models.create", uri="file:///w.pt", name="evented", task=task)["id"]
    events = [{**scalar(model, i, float(i)), "model_event": True} for i in range(4)]
    assert add_batch(alice_api, events)["added"] == 4
    read = alice_api.call("events.scalar_metrics_iter_histogram", task=model, model_events=True)
    assert read["loss"]["train"]["y"] == [0.0, 1.0, 2.0, 3.0]
    data = alice_api.call("events.get_scalar_metric_data", task=model, metric="loss",
                          model_events=True, no_scroll=True)  # fmt: skip
    assert [e["iter"] for e in data["events"]] == [3, 2, 1, 0]
    for api, body in ((alice_api, {}), (bob_api, {"model_events": True})):
        with pytest.raises(ClearmlCallError) as hidden:
            api.call("events.scalar_metrics_iter_histogram", task=model, **body)
        assert (hidden.value.code, hidden.value.subcode) == (400, 101)
    database = clearml_live.database_url.split(":///", 1)[1]

    def series_of(owner: str) -> int:
        with sqlite3.connect(database) as db:
            sql = "SELECT count(*) FROM tracking_metric_series WHERE task_id = ?"
            found: int = db.execute(sql, (owner,)).fetchone()[0]
        return found

    assert series_of(model) == 1
    alice_api.call("models.delete", model=model)
    assert series_of(model) == 0


def test_reporting_a_point_again_overwrites_it(alice_api: ClearmlApi) -> None:
    task = new_task(alice_api, "overwrite")
    add_batch(alice_api, [scalar(task, i, 1.0) for i in range(5)])
    add_batch(alice_api, [scalar(task, 2, 9.0)])
    history = alice_api.call("events.scalar_metrics_iter_histogram", task=task)
    assert history["loss"]["train"]["y"] == [1.0, 1.0, 9.0, 1.0, 1.0]


def test_users_neither_read_nor_write_each_others_events(
    alice_api: ClearmlApi, bob_api: ClearmlApi
) -> None:
    task = new_task(alice_api, "private")
    add_batch(alice_api, [scalar(task, 0, 1.0)])
    with pytest.raises(ClearmlCallError) as refused:
        add_batch(bob_api, [scalar(task, 1, 666.0)])
    assert (refused.value.code, refused.value.subcode) == (400, 131)
    for name, body in (
        ("events.scalar_metrics_iter_histogram", {"task": task}),
        ("events.get_task_log", {"task": task}),
        ("events.get_task_events", {"task": task}),
        ("events.get_scalar_metric_data", {"task": task, "metric": "loss"}),
        ("events.get_task_plots", {"task": task}),
        ("events.debug_images", {"metrics": [{"task": task}]}),
        ("events.delete_for_task", {"task": task}),
        ("events.multi_task_scalar_metrics_iter_histogram", {"tasks": [task]}),
    ):
        with pytest.raises(ClearmlCallError) as hidden:
            bob_api.call(name, **body)
        assert (hidden.value.code, hidden.value.subcode) == (400, 101), name
    history = alice_api.call("events.scalar_metrics_iter_histogram", task=task)
    assert history["loss"]["train"]["y"] == [1.0]


@pytest.mark.parametrize(
    ("body", "content_type", "result"),
    [
        (b"", "application/json-lines", (400, 17)),
        (b'{"type": "log"\n', "application/json-lines", (400, 12)),
        (b"[1, 2]\n", "application/json-lines", (400, 12)),
        (b'{"type": "nonsense", "task": "x"}', "application/json-lines", (400, 131)),
    ],
)
def test_bad_batches_are_refused_whole(
    alice_api: ClearmlApi, body: bytes, content_type: str, result: tuple[int, int]
) -> None:
    response = alice_api.raw(
        "events.add_batch", content=body,
        headers={"Authorization": f"Bearer {alice_api.token}", "Content-Type": content_type},
    )  # fmt: skip
    meta = response.json()["meta"]
    assert (response.status_code, meta["result_code"], meta["result_subcode"]) == (
        result[0], *result,
    )  # fmt: skip


def test_a_batch_with_a_malformed_line_stores_nothing(alice_api: ClearmlApi) -> None:
    task = new_task(alice_api, "malformed")
    body = lines([scalar(task, 0, 1.0)]) + b"\n{not json\n" + lines([scalar(task, 1, 1.0)])
    response = alice_api.raw(
        "events.add_batch", content=body,
        headers={"Authorization": f"Bearer {alice_api.token}",
                 "Content-Type": "application/json-lines"},
    )  # fmt: skip
    assert (response.status_code, response.json()["meta"]["result_subcode"]) == (400, 12)
    assert alice_api.call("events.scalar_metrics_iter_histogram", task=task) == {}
    assert alice_api.call("tasks.get_by_id", task=task)["task"]["last_iteration"] == 0


def test_bad_events_count_as_errors_and_the_rest_is_stored(alice_api: ClearmlApi) -> None:
    task = new_task(alice_api, "mixed")
    bad = [
        {**scalar(task, 1, 1.0), "value": "high"},
        {**scalar(task, 2, 1.0), "iter": 2**70},
        {**scalar(task, 3, 1.0), "metric": ["x"]},
        {**scalar(task, 4, 1.0), "task": "0" * 32},
        {**scalar(task, 5, 1.0), "type": ["training_stats_scalar"]},
        {"type": "log", "task": task, "level": "x" * 33, "msg": "loud"},
    ]
    answer = add_batch(alice_api, [scalar(task, 0, 5.0), *bad])
    assert (answer["added"], answer["errors"]) == (1, 6)
    history = alice_api.call("events.scalar_metrics_iter_histogram", task=task)
    assert history == {"loss": {"train": {"name": "train", "x": [0], "y": [5.0]}}}
    for name, body in (
        ("events.scalar_metrics_iter_histogram", {"task": task, "samples": 0}),
        ("events.scalar_metrics_iter_histogram", {"task": task, "key": "nonsense"}),
        ("events.get_task_log", {"task": task, "batch_size": "many"}),
        ("events.get_task_events", {"task": task, "scroll_id": "not-a-scroll"}),
        ("events.debug_images", {"metrics": []}),
        (
            "events.get_task_events",
            {
                "task": task,
                "scroll_id": forged(l="events", t=task, o="asc", k=None, p=["x", [1, 2**70]]),
            },
        ),  # fmt: skip
        (
            "events.get_task_events",
            {
                "task": task,
                "scroll_id": forged(l="events", t=task, o="asc", k=None, p=[0, {"a": 1}]),
            },
        ),  # fmt: skip
        (
            "events.get_scalar_metric_data",
            {
                "task": task,
                "metric": "loss",
                "scroll_id": forged(l="metric", t=task, m="loss", a=[1, "x"]),
            },
        ),  # fmt: skip
        (
            "events.debug_images",
            {"metrics": [{"task": task}], "scroll_id": forged(l="images", e=True, b=[2**80])},
        ),  # fmt: skip
        ("events.get_task_log", {"task": task, "from_timestamp": 2**70}),
    ):
        response = alice_api.raw(name, body)
        assert 400 <= response.status_code < 500, (name, response.text)
        assert response.json()["data"] == {}


def forged(**state: Any) -> str:
    """A scroll id of the face's form (base64 JSON) holding ``state``."""
    return base64.urlsafe_b64encode(json.dumps(state).encode()).decode().rstrip("=")


def test_logs_page_by_time_and_events_go_with_their_task(alice_api: ClearmlApi) -> None:
    task = new_task(alice_api, "logs")
    logs = [{"type": "log", "task": task, "timestamp": 1000 + i, "level": "info",
             "msg": f"line {i}", "worker": "w"} for i in range(10)]  # fmt: skip
    add_batch(alice_api, [*logs, scalar(task, 0, 1.0)])
    last = alice_api.call("events.get_task_log", task=task, batch_size=3, order="asc")
    assert [e["msg"] for e in last["events"]] == ["line 7", "line 8", "line 9"]
    assert last["total"] == 10
    earlier = alice_api.call("events.get_task_log", task=task, batch_size=3, from_timestamp=1007)
    assert [e["msg"] for e in earlier["events"]] == ["line 6", "line 5", "line 4"]
    seen, scroll = [], None
    while True:
        page = alice_api.call("events.get_task_events", task=task, batch_size=4,
                              **({"scroll_id": scroll} if scroll else {}))  # fmt: skip
        seen += page["events"]
        scroll = page["scroll_id"]
        assert page["total"] == 11
        if page["returned"] < 4:
            break
    assert len(seen) == 11
    now_ms = int(time.time() * 1000)
    add_batch(alice_api, [{"type": "log", "task": task, "timestamp": now_ms, "msg": "new"}])
    assert alice_api.call("events.clear_task_log", task=task, threshold_sec=3600)["deleted"] == 10
    assert [e["msg"] for e in alice_api.call("events.get_task_log", task=task)["events"]] == ["new"]
    assert alice_api.call("events.delete_for_task", task=task)["deleted"] == 2
    assert alice_api.call("events.get_task_log", task=task)["total"] == 0


def test_every_acknowledged_point_survives_a_kill(database_url: str, tmp_path: Path) -> None:
    """kill -9 during a 100k-point ingestion: after a restart, every batch the server
    answered with 200 is there, whole."""
    server = LiveServer(home=tmp_path / "home", database_url=database_url)
    server.start()
    try:
        api = ClearmlApi.of(server)
        task = new_task(api, "crash")
        acknowledged: list[int] = []

        def ingest() -> None:
            sender = ClearmlApi.of(server)
            try:
                for start in range(0, 100_000, CRASH_BATCH):
                    batch = [scalar(task, i, float(i)) for i in range(start, start + CRASH_BATCH)]
                    add_batch(sender, batch)
                    acknowledged.append(start)
            except (httpx.HTTPError, ClearmlCallError):
                return  # the server is gone
            finally:
                sender.close()

        thread = threading.Thread(target=ingest)
        thread.start()
        deadline = time.monotonic() + 60
        while len(acknowledged) < 5 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert server.proc is not None
        server.proc.send_signal(signal.SIGKILL)
        server.proc.wait()
        thread.join(timeout=60)
        sent = list(acknowledged)
        assert 5 <= len(sent) < 100_000 // CRASH_BATCH, "the kill came during the ingestion"

        server.start()
        after = ClearmlApi.of(server)
        history = after.call("events.scalar_metrics_iter_histogram", task=task)
        stored = set(history["loss"]["train"]["x"])
        missing = [s for s in sent if not set(range(s, s + CRASH_BATCH)) <= stored]
        assert missing == [], f"acknowledged batches lost: {missing}"
        after.close()
        api.close()
    finally:
        server.stop()


MODEL_REPORTING = """
import json
from clearml import OutputModel, Task
task = Task.init(project_name="model-events", task_name="m")
model = OutputModel(task=task, name="net", framework="PyTorch")
model.update_weights(weights_filename=__file__, auto_delete_file=False)
for i in range(3):
    model.report_scalar("loss", "train", value=1.0 / (i + 1), iteration=i)
model.report_single_value("accuracy", 0.75)
task.flush(wait_for_uploads=True)
task.close()
print(json.dumps({"task": task.id, "model": model.id}))
"""


def test_model_events_sum_up_into_the_models_last_metrics(
    clearml_live: LiveServer, alice: ClearmlUser, alice_api: ClearmlApi, bob_api: ClearmlApi
) -> None:
    done = run_sdk(clearml_live, MODEL_REPORTING, user=alice)
    assert done.returncode == 0, done.stderr[-4000:]
    ids = json.loads(done.stdout.strip().splitlines()[-1])
    model = alice_api.call("models.get_by_id", model=ids["model"])["model"]
    loss = model["last_metrics"][md5("loss")][md5("train")]
    assert (loss["value"], loss["min_value"], loss["max_value"]) == (1 / 3, 1 / 3, 1.0)
    assert (loss["count"], model["last_iteration"]) == (3, 2)
    assert model["last_metrics"][md5("Summary")][md5("accuracy")]["value"] == 0.75
    task = alice_api.call("tasks.get_by_id", task=ids["task"])["task"]
    assert md5("loss") not in task.get("last_metrics", {}), "a model's points are not the task's"
    stray = scalar(ids["model"], 9, 666.0) | {"model_event": True}
    with pytest.raises(ClearmlCallError) as refused:
        add_batch(bob_api, [stray])
    assert (refused.value.code, refused.value.subcode) == (400, 131)
    assert "invalid model id" in refused.value.msg
    with pytest.raises(ClearmlCallError):
        add_batch(alice_api, [scalar(ids["task"], 9, 1.0) | {"model_event": True}])


def md5(name: str) -> str:
    return hashlib.md5(name.encode()).hexdigest()


def test_model_metrics_are_kept_on_both_databases(database_url: str, tmp_path: Path) -> None:
    server = LiveServer(home=tmp_path / "home", database_url=database_url)
    server.start()
    try:
        api = ClearmlApi.of(server)
        model = api.call("models.create", name="net", uri="file:///net.pt")["id"]
        events = [scalar(model, i, 1.0 / (i + 1)) | {"model_event": True} for i in range(4)]
        assert add_batch(api, events)["added"] == 4
        found = api.call("models.get_by_id", model=model)["model"]
        loss = found["last_metrics"][md5("loss")][md5("train")]
        assert (loss["value"], loss["min_value"], loss["count"]) == (0.25, 0.25, 4)
        assert found["last_iteration"] == 3
        api.close()
    finally:
        server.stop()


def test_whole_histories_and_latest_values_on_both_databases(
    database_url: str, tmp_path: Path
) -> None:
    """The column reads, the kept history's stamp and the last-100 average, per database."""
    server = LiveServer(home=tmp_path / "home", database_url=database_url)
    server.start()
    try:
        api = ClearmlApi.of(server)
        task = new_task(api, "both databases")
        add_batch(api, [scalar(task, i, i / 7) for i in range(10_500)])
        body = {"task": task, "metric": "loss", "no_scroll": True}
        for _ in range(2):  # read, then kept
            found = api.call("events.get_scalar_metric_data", **body)["events"]
            assert [e["iter"] for e in found[:2]] == [10_499, 10_498]
            assert found[0]["value"] == 10_499 / 7 and len(found) == 10_500
        add_batch(api, [scalar(task, 3, 0.25)])
        found = api.call("events.get_scalar_metric_data", **body)["events"]
        assert [e["value"] for e in found if e["iter"] == 3] == [0.25]
        latest = api.call("events.get_task_latest_scalar_values", task=task)["metrics"]
        [train] = latest[0]["variants"]
        assert train["last_value"] == 10_499 / 7
        assert train["last_100_value"] == pytest.approx(sum(range(10_400, 10_500)) / 700)
        api.close()
    finally:
        server.stop()
