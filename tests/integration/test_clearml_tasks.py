"""Projects and tasks through the official clearml SDK against a live server: Task.init (new
and reused), parameters and configuration, queries, status changes, clone, delete, and two
users who never see or change each other's work."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

import pytest

from tests.support.clearml import (
    ClearmlApi,
    ClearmlCallError,
    ClearmlUser,
    admin_of,
    run_sdk,
    sdk,
    users,
)
from tests.support.live import LiveServer

pytestmark = pytest.mark.integration


alice, bob, alice_api, bob_api = users("clearml_live", "tasks")


def call(api: ClearmlApi, endpoint: str, body: dict[str, Any]) -> dict[str, Any]:
    """``api.call`` for bodies with a ``name`` key."""
    response = api.raw(endpoint, body)
    if response.status_code != 200:
        raise ClearmlCallError(response)
    data: dict[str, Any] = response.json()["data"]
    return data


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


QUERY_SETUP = """
import json
from clearml import Task
ids = {{}}
for name, tags in (("q-alpha", ["red"]), ("q-beta", ["blue"]), ("q-gamma", ["red", "big"])):
    task = Task.create(project_name="{project}", task_name=name)
    task.set_tags(tags)
    ids[name] = task.id
Task.get_task(task_id=ids["q-beta"]).mark_started()
Task.get_task(task_id=ids["q-beta"]).mark_completed()
Task.get_task(task_id=ids["q-gamma"]).mark_started()
Task.get_task(task_id=ids["q-gamma"]).mark_failed(status_reason="broken")
print(json.dumps(ids))
"""

QUERIES = """
import json
from clearml import Task
ids = {ids}
def names(tasks):
    return sorted(t.name for t in tasks)
out = {{
    "by_id": Task.get_task(task_id=ids["q-alpha"]).name,
    "by_name": Task.get_task(project_name="{project}", task_name="q-beta").id,
    "all": names(Task.get_tasks(project_name="{project}")),
    "regex": names(Task.get_tasks(project_name="{project}", task_name="q-(alpha|gamma)")),
    "partial": sorted(Task.query_tasks(project_name="{project}", task_name="amm")),
    "tag": names(Task.get_tasks(project_name="{project}", tags=["red"])),
    "not_tag": names(Task.get_tasks(project_name="{project}", tags=["-red"])),
    "all_tags": names(Task.get_tasks(project_name="{project}", tags=["__$all", "red", "big"])),
    "completed": names(Task.get_tasks(
        project_name="{project}", task_filter={{"status": ["completed"]}})),
    "newest_first": [t.name for t in Task.get_tasks(
        project_name="{project}", task_filter={{"order_by": ["-created"]}})],
    "failed_reason": Task.get_task(task_id=ids["q-gamma"]).data.status_reason,
}}
print(json.dumps(out))
"""


def test_get_task_and_get_tasks_filter_by_name_tags_and_status(
    clearml_live: LiveServer, alice: ClearmlUser
) -> None:
    ids = sdk(clearml_live, alice, QUERY_SETUP.format(project="queries"))
    ids.pop("_stdout")

    out = sdk(clearml_live, alice, QUERIES.format(project="queries", ids=ids))

    assert out["by_id"] == "q-alpha"
    assert out["by_name"] == ids["q-beta"]
    assert out["all"] == ["q-alpha", "q-beta", "q-gamma"]
    assert out["regex"] == ["q-alpha", "q-gamma"]
    assert out["partial"] == [ids["q-gamma"]]
    assert out["tag"] == ["q-alpha", "q-gamma"]
    assert out["not_tag"] == ["q-beta"]
    assert out["all_tags"] == ["q-gamma"]
    assert out["completed"] == ["q-beta"]
    assert out["newest_first"] == ["q-gamma", "q-beta", "q-alpha"]
    assert out["failed_reason"] == "broken"


LIFECYCLE = """
import json
from clearml import Task
source = Task.create(project_name="life", task_name="source")
source.connect({"lr": 0.5})
source.mark_started()
source.mark_stopped()
stopped = Task.get_task(task_id=source.id).status
clone = Task.clone(source_task=source, name="the clone")
cloned = Task.get_task(task_id=clone.id)
doomed = Task.create(project_name="life", task_name="doomed")
doomed_id = doomed.id
doomed.delete()
gone = Task.query_tasks(project_name="life", task_name="doomed")
print(json.dumps({
    "stopped": stopped,
    "clone_status": cloned.status, "clone_parent": cloned.parent,
    "clone_params": cloned.get_parameters(), "source": source.id,
    "gone": gone, "doomed": doomed_id,
}))
"""


def test_stop_clone_and_delete(
    clearml_live: LiveServer, alice: ClearmlUser, alice_api: ClearmlApi
) -> None:
    out = sdk(clearml_live, alice, LIFECYCLE)

    assert out["stopped"] == "stopped"
    assert out["clone_status"] == "created"
    assert out["clone_parent"] == out["source"]
    assert out["clone_params"]["General/lr"] == "0.5"
    assert out["gone"] == []
    with pytest.raises(ClearmlCallError) as missing:
        alice_api.call("tasks.get_by_id", task=out["doomed"])
    assert (missing.value.code, missing.value.subcode) == (400, 101)


FAILING = """
from clearml import Task
Task.init(project_name="life", task_name="crash")
raise RuntimeError("boom")
"""


def test_an_uncaught_exception_marks_the_task_failed(
    clearml_live: LiveServer, alice: ClearmlUser, alice_api: ClearmlApi
) -> None:
    done = run_sdk(clearml_live, FAILING, user=alice)
    assert done.returncode != 0

    found = call(
        alice_api, "tasks.get_all", {"name": "^crash$", "only_fields": ["status", "status_reason"]}
    )
    assert [(t["status"], t["status_reason"]) for t in found["tasks"]] == [
        ("failed", "Exception boom")
    ]


def test_two_users_neither_see_nor_change_each_others_tasks(
    clearml_live: LiveServer, alice: ClearmlUser, bob: ClearmlUser,
    alice_api: ClearmlApi, bob_api: ClearmlApi,
) -> None:  # fmt: skip
    mine = sdk(clearml_live, alice, INIT.format(project="private", name="secret run"))
    theirs = sdk(clearml_live, bob, INIT.format(project="private", name="secret run"))

    assert theirs["id"] != mine["id"] and theirs["project"] != mine["project"]
    assert call(bob_api, "tasks.get_all", {"name": "secret"})["tasks"] == [
        *call(bob_api, "tasks.get_all", {"id": [theirs["id"]]})["tasks"]
    ]
    assert call(bob_api, "tasks.get_all", {"id": [mine["id"]]})["tasks"] == []
    bob_projects = call(bob_api, "projects.get_all", {"name": "private"})["projects"]
    assert mine["project"] not in {p["id"] for p in bob_projects}
    for name, body in (
        ("tasks.get_by_id", {"task": mine["id"]}),
        ("tasks.edit", {"task": mine["id"], "force": True, "comment": "mine now"}),
        ("tasks.stopped", {"task": mine["id"], "force": True}),
        ("tasks.delete", {"task": mine["id"], "force": True}),
        ("tasks.add_or_update_artifacts", {"task": mine["id"], "force": True,
                                           "artifacts": [{"key": "x", "type": "str"}]}),
        ("tasks.create", {"name": "intruder", "type": "training", "project": mine["project"]}),
        ("projects.get_by_id", {"project": mine["project"]}),
    ):  # fmt: skip
        with pytest.raises(ClearmlCallError) as refused:
            call(bob_api, name, body)
        assert refused.value.code == 400 and refused.value.subcode in (101, 401), name
    task = alice_api.call("tasks.get_by_id", task=mine["id"])["task"]
    assert task["status"] == "completed" and task["comment"] != "mine now"
    assert task["execution"]["artifacts"] == []


def refused(api: ClearmlApi, endpoint: str, body: dict[str, Any]) -> tuple[int, int]:
    response = api.raw(endpoint, body)
    envelope = response.json()
    assert envelope["data"] == {} and envelope["meta"]["result_msg"], envelope
    assert response.status_code == envelope["meta"]["result_code"]
    return envelope["meta"]["result_code"], envelope["meta"]["result_subcode"]


def test_bad_input_gets_the_envelope_and_changes_nothing(alice_api: ClearmlApi) -> None:
    project = alice_api.call("projects.create", name="strict")["id"]
    task = call(alice_api, "tasks.create", {"name": "kept", "type": "training",
                                            "project": project})["id"]  # fmt: skip
    before = alice_api.call("tasks.get_by_id", task=task)["task"]
    cases: list[tuple[str, dict[str, Any], tuple[int, int]]] = [
        ("tasks.create", {"type": "training"}, (400, 11)),
        ("tasks.create", {"name": "x", "type": "spaceship"}, (400, 12)),
        ("tasks.create", {"name": "x", "type": "training", "project": "0" * 32}, (400, 401)),
        ("tasks.create", {"name": "   ", "type": "training"}, (400, 12)),
        ("tasks.edit", {"task": task, "hyperparams": ["not", "a", "map"]}, (400, 12)),
        ("tasks.edit", {"task": task, "tags": "not-a-list"}, (400, 12)),
        ("tasks.edit", {"task": "f" * 32, "comment": "x"}, (400, 101)),
        ("tasks.completed", {"task": task}, (400, 110)),  # created -> completed needs force
        ("tasks.publish", {"task": task}, (400, 110)),
        ("tasks.get_all", {"name": "(unclosed"}, (400, 21)),
        ("tasks.get_all", {"page": -1, "page_size": 10}, (400, 12)),
        ("tasks.get_all", {"order_by": [{"a": 1}]}, (400, 12)),
        ("tasks.get_all", {"created": [1, 2, 3]}, (400, 12)),
        ("tasks.get_all", {"last_update": [">=not a date"]}, (400, 12)),
        ("tasks.get_all", {"size": 5, "scroll_id": "%%%"}, (400, 1104)),
        ("tasks.get_all", {"tags": [{"nested": True}]}, (400, 12)),
        ("tasks.add_or_update_artifacts", {"task": task, "artifacts": [{"type": "x"}]},
         (400, 11)),
        ("tasks.edit_hyper_params", {"task": task, "hyperparams": [{"value": "1"}]}, (400, 12)),
        ("tasks.get_by_id", {}, (400, 11)),
        ("projects.create", {"name": "strict"}, (400, 801)),
        ("projects.create", {"name": "a//b"}, (400, 12)),
        ("projects.get_by_id", {"project": "nope"}, (400, 401)),
    ]  # fmt: skip
    for endpoint, body, expected in cases:
        assert refused(alice_api, endpoint, body) == expected, (endpoint, body)
    after = alice_api.call("tasks.get_by_id", task=task)["task"]
    assert after == before


def test_status_table_force_and_field_rules(alice_api: ClearmlApi) -> None:
    task = call(alice_api, "tasks.create", {"name": "rules", "type": "testing"})["id"]
    alice_api.call("tasks.started", task=task)
    artifact = {"key": "a", "type": "str", "uri": "http://x/a", "mode": "output"}
    alice_api.call("tasks.add_or_update_artifacts", task=task, artifacts=[artifact], force=True)
    alice_api.call("tasks.completed", task=task)
    assert refused(alice_api, "tasks.edit", {"task": task, "comment": "late"}) == (400, 110)
    assert refused(alice_api, "tasks.delete", {"task": task}) == (400, 123)
    assert alice_api.call("tasks.edit", task=task, comment="late", force=True)["updated"] == 1

    done = alice_api.call("tasks.completed", task=task)  # the same status again is fine
    assert done["updated"] == 1 and done["fields"]["status"] == "completed"
    alice_api.call("tasks.publish", task=task)
    assert refused(alice_api, "tasks.started", {"task": task}) == (400, 110)
    assert refused(alice_api, "tasks.reset", {"task": task}) == (400, 110)
    alice_api.call("tasks.reset", task=task, force=True)
    task_now = alice_api.call("tasks.get_by_id", task=task)["task"]
    assert task_now["status"] == "created" and task_now["status_reason"] == "reset"
    assert task_now["started"] is None and task_now["execution"]["artifacts"] == []
    assert task_now["comment"] == "late"


def test_project_statistics_subprojects_paging_and_projection(alice_api: ClearmlApi) -> None:
    root = alice_api.call("projects.create", name="stats")["id"]
    child = alice_api.call("projects.create", name="stats/child")["id"]
    made = []
    for project, name in ((root, "s1"), (child, "s2"), (child, "s3")):
        made.append(call(alice_api, "tasks.create", {"name": name, "type": "training",
                                                     "project": project})["id"])  # fmt: skip
    alice_api.call("tasks.started", task=made[1])
    alice_api.call("tasks.completed", task=made[1])
    alice_api.call("tasks.edit", task=made[2], system_tags=["archived"], force=True)

    ex = call(alice_api, "projects.get_all_ex", {"id": [root], "include_stats": True})
    stats = ex["projects"][0]["stats"]["active"]
    assert stats["total_tasks"] == 2 and stats["status_count"]["completed"] == 1
    assert stats["completed_tasks_24h"] == 1
    assert ex["projects"][0]["sub_projects"] == [{"id": child, "name": "stats/child"}]
    assert call(alice_api, "projects.get_all", {"name": "^stats", "shallow_search": True,
                                                "only_fields": ["name"]})["projects"] == [
        {"id": root, "name": "stats"}]  # fmt: skip
    nested = call(alice_api, "tasks.get_all", {"project": [root], "include_subprojects": True,
                                               "system_tags": ["-archived"]})  # fmt: skip
    assert sorted(t["name"] for t in nested["tasks"]) == ["s1", "s2"]

    pages = [call(alice_api, "tasks.get_all", {"project": [root, child], "order_by": ["name"],
                                               "page": page, "page_size": 2})["tasks"]
             for page in (0, 1)]  # fmt: skip
    assert [[t["name"] for t in p] for p in pages] == [["s1", "s2"], ["s3"]]
    first = call(alice_api, "tasks.get_all", {"project": [child], "size": 1, "order_by": ["name"]})
    rest = call(alice_api, "tasks.get_all", {"project": [child], "size": 1, "order_by": ["name"],
                                             "scroll_id": first["scroll_id"]})  # fmt: skip
    assert [t["name"] for t in first["tasks"] + rest["tasks"]] == ["s2", "s3"]
    projected = call(alice_api, "tasks.get_all", {"id": [made[0]], "only_fields": [
        "name", "execution.queue", "script.nothing"]})["tasks"]  # fmt: skip
    assert projected == [{"id": made[0], "name": "s1", "execution": {}, "script": {}}]


def test_parameters_configuration_and_artifacts_endpoints(alice_api: ClearmlApi) -> None:
    task = call(alice_api, "tasks.create", {"name": "fields", "type": "training"})["id"]
    params = [{"section": "A.b", "name": "x$y", "value": "1", "type": "int"},
              {"section": "properties", "name": "version", "value": "1.0"}]  # fmt: skip
    alice_api.call("tasks.edit_hyper_params", task=task, hyperparams=params)
    got = alice_api.call("tasks.get_hyper_params", tasks=[task])["params"][0]
    assert {(p["section"], p["name"], p["value"]) for p in got["hyperparams"]} == {
        ("A.b", "x$y", "1"), ("properties", "version", "1.0")}  # fmt: skip
    config = [{"name": "cfg", "value": "a: 1", "type": "yaml"}]
    alice_api.call("tasks.edit_configuration", task=task, configuration=config)
    assert alice_api.call("tasks.get_configuration_names", tasks=[task])["configurations"] == [
        {"task": task, "names": ["cfg"]}]  # fmt: skip
    artifacts = [{"key": "b", "type": "dict", "uri": "u1"}, {"key": "a", "type": "str",
                                                             "mode": "input"}]  # fmt: skip
    alice_api.call("tasks.add_or_update_artifacts", task=task, artifacts=artifacts)
    alice_api.call("tasks.add_or_update_artifacts", task=task,
                   artifacts=[{"key": "b", "type": "dict", "uri": "u2"}])  # fmt: skip

    alice_api.call("tasks.started", task=task)
    assert refused(alice_api, "tasks.edit_hyper_params", {"task": task, "hyperparams": [
        {"section": "A.b", "name": "z", "value": "2"}]}) == (400, 110)  # fmt: skip
    bumped = [{"section": "properties", "name": "version", "value": "2.0"}]
    alice_api.call("tasks.edit_hyper_params", task=task, hyperparams=bumped)  # any status
    deleted = alice_api.call("tasks.delete_artifacts", task=task, force=True,
                             artifacts=[{"key": "a", "mode": "input"}])  # fmt: skip
    assert deleted == {"deleted": 1}
    stored = alice_api.call("tasks.get_by_id", task=task)["task"]
    assert stored["hyperparams"]["properties"]["version"]["value"] == "2.0"
    assert stored["hyperparams"]["A.b"]["x$y"]["value"] == "1"
    escaped = {"id": [task], "hyperparams.A%2Eb.x%24y.value": ["1"],
               "only_fields": ["hyperparams.A%2Eb.x%24y.value"]}  # fmt: skip
    assert call(alice_api, "tasks.get_all", escaped)["tasks"] == [
        {"id": task, "hyperparams": {"A.b": {"x$y": {"value": "1"}}}}]  # fmt: skip
    escaped["hyperparams.A%2Eb.x%24y.value"] = ["2"]
    assert call(alice_api, "tasks.get_all", escaped)["tasks"] == []
    assert [(a["key"], a["uri"]) for a in stored["execution"]["artifacts"]] == [("b", "u2")]
    assert stored["configuration"]["cfg"]["value"] == "a: 1"


def test_init_reuse_and_query_on_each_database(live_server: LiveServer) -> None:
    admin = admin_of(live_server)
    first = sdk(live_server, admin, INIT.format(project="db", name="on both"))
    second = sdk(live_server, admin, INIT.format(project="db", name="on both"))

    assert second["id"] == first["id"]
    api = ClearmlApi.of(live_server)
    try:
        found = call(api, "tasks.get_all", {"name": "^on\\ both$", "status": ["completed"],
                                            "hyperparams.General.lr.value": ["0.1"]})  # fmt: skip
        assert [t["id"] for t in found["tasks"]] == [first["id"]]
        task = found["tasks"][0]
        assert task["hyperparams"]["General"]["odd.name$"]["value"] == "x y"
        assert task["configuration"]["train"]["type"] == "dictionary"
    finally:
        api.close()


def test_project_hyperparameter_names_and_task_tags(alice_api: ClearmlApi) -> None:
    root = alice_api.call("projects.create", name="hpo")["id"]
    child = alice_api.call("projects.create", name="hpo/sub")["id"]
    for project, section, tags in ((root, "A", ["t1"]), (child, "B", ["t2"])):
        made = call(alice_api, "tasks.create", {"name": "h", "type": "optimizer", "tags": tags,
                                                "project": project})["id"]  # fmt: skip
        alice_api.call("tasks.edit_hyper_params", task=made, hyperparams=[
            {"section": section, "name": "lr", "value": "1"}])  # fmt: skip

    found = alice_api.call("projects.get_hyper_parameters", project=root, page_size=1)
    assert found == {"parameters": [{"section": "A", "name": "lr"}], "total": 2, "remaining": 1}
    tags = alice_api.call("projects.get_task_tags", projects=[child])
    assert tags == {"tags": ["t2"], "system_tags": []}


def test_deleting_projects(alice_api: ClearmlApi) -> None:
    kept = alice_api.call("projects.create", name="bin/kept")["id"]
    emptied = alice_api.call("projects.create", name="bin/emptied")["id"]
    tasks = {
        project: call(alice_api, "tasks.create", {"name": "x", "type": "training",
                                                  "project": project})["id"]
        for project in (kept, emptied)
    }  # fmt: skip
    parent = alice_api.call("projects.get_all", only_fields=["id"], **{"basename": ["bin"]})

    assert refused(alice_api, "projects.delete", {"project": kept}) == (400, 12)  # has a task
    assert refused(alice_api, "projects.delete", {"project": parent["projects"][0]["id"]}) == (
        400,
        12,
    )  # fmt: skip  (has sub-projects)
    answer = alice_api.call("projects.delete", project=emptied, delete_contents=True)
    assert answer["deleted"] == 1 and answer["deleted_tasks"] == 1
    assert refused(alice_api, "tasks.get_by_id", {"task": tasks[emptied]}) == (400, 101)
    alice_api.call("projects.delete", project=kept, force=True)
    assert alice_api.call("tasks.get_by_id", task=tasks[kept])["task"]["project"] is None


def run_with_traces(api: ClearmlApi, name: str) -> tuple[str, str, str]:
    """A started task with 3 scalar events, one stored file and one output model:
    (task id, the file's url, the model id)."""
    task = call(api, "tasks.create", {"name": name, "type": "training"})["id"]
    api.call("tasks.started", task=task)
    events = [{"type": "training_stats_scalar", "task": task, "metric": "loss",
               "variant": "v", "iter": i, "value": 1.0 / (i + 1)} for i in range(3)]  # fmt: skip
    lines = "\n".join(json.dumps(e) for e in events).encode()
    headers = {"Authorization": f"Bearer {api.token}", "Content-Type": "application/json-lines"}
    added = api.http.post(api.url("events.add_batch"), content=lines, headers=headers)
    assert added.json()["data"]["added"] == 3
    key = f"traces/{name}.{task}/artifacts/a/a.txt"
    auth = {"Authorization": f"Bearer {api.token}"}
    stored = api.http.post(f"{api.endpoint}/files/", files=[(f"/{key}", (f"/{key}", b"x"))],
                           headers=auth)  # fmt: skip
    assert stored.status_code == 200, stored.text
    model = api.call("models.create", uri="file:///m.pt", name=f"{name} model", task=task)["id"]
    return task, f"{api.endpoint}/files/{quote(key)}", model


def test_reset_and_delete_say_what_went_with_the_run(alice_api: ClearmlApi) -> None:
    task, url, _ = run_with_traces(alice_api, "reset me")
    reset = alice_api.call("tasks.reset", task=task, force=True, return_file_urls=True)
    assert reset["events"] == {"deleted": 3}
    assert reset["deleted_models"] == 1
    assert reset["urls"]["artifact_urls"] == [url]
    auth = {"Authorization": f"Bearer {alice_api.token}"}
    assert alice_api.http.get(url, headers=auth).status_code == 404

    task, url, _ = run_with_traces(alice_api, "delete me")
    gone = alice_api.call("tasks.delete", task=task, force=True, return_file_urls=True)
    assert (gone["deleted"], gone["events"], gone["deleted_models"]) == (True, {"deleted": 3}, 1)
    assert gone["urls"]["artifact_urls"] == [url]
    quiet = alice_api.call("tasks.delete", task=run_with_traces(alice_api, "q")[0], force=True)
    assert quiet["urls"] == {} and quiet["events"] == {"deleted": 3}


def upload(api: ClearmlApi, key: str, data: bytes = b"x") -> str:
    """Store ``data`` at ``key`` on the file server; its url."""
    auth = {"Authorization": f"Bearer {api.token}"}
    stored = api.http.post(f"{api.endpoint}/files/", files=[(f"/{key}", (f"/{key}", data))],
                           headers=auth)  # fmt: skip
    assert stored.status_code == 200, stored.text
    return f"{api.endpoint}/files/{quote(key)}"


def fetched(api: ClearmlApi, url: str) -> int:
    return api.http.get(url, headers={"Authorization": f"Bearer {api.token}"}).status_code


def test_delete_and_reset_keep_models_and_files_when_asked(
    alice_api: ClearmlApi, bob_api: ClearmlApi
) -> None:
    task, url, _ = run_with_traces(alice_api, "keep models")
    weights = upload(alice_api, f"traces/keep models.{task}/models/m.pt", b"weights")
    model = alice_api.call("models.create", uri=weights, name="kept", task=task)["id"]
    image = {"type": "training_debug_image", "task": task, "metric": "img", "variant": "v",
             "iter": 1, "url": url}  # fmt: skip
    headers = {"Authorization": f"Bearer {alice_api.token}",
               "Content-Type": "application/json-lines"}  # fmt: skip
    alice_api.http.post(alice_api.url("events.add_batch"), content=json.dumps(image).encode(),
                        headers=headers)  # fmt: skip
    gone = alice_api.call("tasks.delete", task=task, force=True, return_file_urls=True,
                          delete_output_models=False)  # fmt: skip
    assert (gone["deleted_models"], gone["updated_models"]) == (0, 2)
    assert gone["urls"]["event_urls"] == [url] and gone["urls"]["model_urls"] == []
    assert alice_api.call("models.get_by_id", model=model)["model"]["uri"] == weights
    assert (fetched(alice_api, weights), fetched(alice_api, url)) == (200, 404)
    assert fetched(bob_api, weights) == 404

    task, url, _ = run_with_traces(alice_api, "keep files")
    weights = upload(alice_api, f"traces/keep files.{task}/models/m.pt", b"weights")
    alice_api.call("models.create", uri=weights, name="goes", task=task)
    reset = alice_api.call("tasks.reset", task=task, force=True, return_file_urls=True,
                           delete_external_artifacts=False)  # fmt: skip
    assert reset["deleted_models"] == 2 and sorted(reset["urls"]["model_urls"]) == sorted(
        ["file:///m.pt", weights]
    )  # fmt: skip
    assert reset["urls"]["artifact_urls"] == []
    assert (fetched(alice_api, url), fetched(alice_api, weights)) == (200, 200)
    alice_api.call("tasks.delete", task=task, force=True, delete_external_artifacts=False)
    assert (fetched(alice_api, url), fetched(bob_api, url)) == (200, 404)
    deleted = alice_api.http.delete(url, headers={"Authorization": f"Bearer {alice_api.token}"})
    assert deleted.status_code == 200 and fetched(alice_api, url) == 404


def test_deleting_a_project_with_its_contents_counts_what_went(alice_api: ClearmlApi) -> None:
    project = alice_api.call("projects.create", name="bin/counted")["id"]
    task, url, _ = run_with_traces(alice_api, "counted")
    alice_api.call("tasks.update", task=task, project=project)
    answer = alice_api.call("projects.delete", project=project, delete_contents=True,
                            return_file_urls=True)  # fmt: skip
    assert (answer["deleted"], answer["deleted_tasks"], answer["deleted_models"]) == (1, 1, 1)
    assert answer["urls"]["artifact_urls"] == [url]
    assert answer["urls"]["model_urls"] == ["file:///m.pt"]
    assert fetched(alice_api, url) == 404


def test_publishing_a_task_publishes_its_output_models(alice_api: ClearmlApi) -> None:
    task, _, model = run_with_traces(alice_api, "publish me")
    assert alice_api.call("models.get_by_id", model=model)["model"]["ready"] is False
    alice_api.call("tasks.stopped", task=task)
    alice_api.call("tasks.publish", task=task)
    assert alice_api.call("models.get_by_id", model=model)["model"]["ready"] is True

    task, _, model = run_with_traces(alice_api, "complete and publish me")
    alice_api.call("tasks.completed", task=task, publish=True)
    assert alice_api.call("models.get_by_id", model=model)["model"]["ready"] is True

    task, _, model = run_with_traces(alice_api, "publish me alone")
    alice_api.call("tasks.stopped", task=task)
    alice_api.call("tasks.publish", task=task, publish_model=False)
    assert alice_api.call("models.get_by_id", model=model)["model"]["ready"] is False
    assert alice_api.call("tasks.get_by_id", task=task)["task"]["status"] == "published"
