"""Models through the official clearml SDK against a live server, on both databases:
OutputModel + update_weights + publish + tags + metadata, InputModel by id, Model.query_models,
and two users who neither see nor change each other's models."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.clearml import (
    ClearmlApi,
    ClearmlCallError,
    ClearmlUser,
    clearml_server,
    new_user,
    sdk,
)
from tests.support.live import LiveServer
from tests.support.postgres import create_database, drop_database

pytestmark = pytest.mark.integration

BACKENDS = ("sqlite", "postgresql")


def _selected(config: pytest.Config) -> list[str]:
    raw = config.getoption("--backends") or os.environ.get("HANGAR_TEST_BACKENDS") or ""
    return [name.strip() for name in raw.split(",") if name.strip()] or list(BACKENDS)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """One server per selected database backend, shared by the module's tests."""
    if "server" in metafunc.fixturenames:
        wanted = [b for b in BACKENDS if b in _selected(metafunc.config)]
        params = [pytest.param(b, id=b, marks=getattr(pytest.mark, b)) for b in wanted]
        metafunc.parametrize("server", params, indirect=True, scope="module")


@pytest.fixture(scope="module")
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    """A live server on the backend of this parametrization."""
    backend: str = request.param
    home = tmp_path_factory.mktemp(f"models-{backend}")
    if backend == "sqlite":
        yield from clearml_server(home)
        return
    postgres = request.getfixturevalue("postgres_server")
    if postgres.base_url is None:
        if os.environ.get("HANGAR_TEST_REQUIRE_POSTGRES") == "1":
            pytest.fail(postgres.unavailable or "PostgreSQL is unavailable")
        pytest.skip(postgres.unavailable or "PostgreSQL is unavailable")
    url = create_database(postgres.base_url)
    try:
        yield from clearml_server(home, url)
    finally:
        drop_database(postgres.base_url, url)


@pytest.fixture(scope="module")
def alice(server: LiveServer) -> ClearmlUser:
    return new_user(server, "alice@models.test")


@pytest.fixture(scope="module")
def bob(server: LiveServer) -> ClearmlUser:
    return new_user(server, "bob@models.test")


@pytest.fixture(scope="module")
def alice_api(server: LiveServer, alice: ClearmlUser) -> Iterator[ClearmlApi]:
    api = ClearmlApi.of(server, alice)
    yield api
    api.close()


@pytest.fixture(scope="module")
def bob_api(server: LiveServer, bob: ClearmlUser) -> Iterator[ClearmlApi]:
    api = ClearmlApi.of(server, bob)
    yield api
    api.close()


TRAIN = """
import json, pickle
from clearml import OutputModel, Task
task = Task.init(project_name="models/{project}", task_name="train", output_uri=True)
with open("weights.pkl", "wb") as f:
    pickle.dump({{"w": list(range(100))}}, f)
model = OutputModel(task=task, name="{name}", framework="PyTorch", tags=["first"])
model.update_design(config_dict={{"layers": 3, "act": "relu"}})
model.update_labels({{"cat": 1, "dog": 2}})
model.update_weights(weights_filename="weights.pkl", iteration=3)
model.set_metadata("accuracy", "0.93", "float")
model.wait_for_uploads()
model.publish()
model.tags = ["first", "second"]
print(json.dumps({{"task": task.id, "model": model.id, "url": model.url}}))
task.close()
"""


@pytest.fixture(scope="module")
def trained(server: LiveServer, alice: ClearmlUser) -> dict[str, Any]:
    return sdk(server, alice, TRAIN.format(project="cats", name="cat classifier"))


def test_output_model_is_stored_published_and_readable_back(
    server: LiveServer, alice: ClearmlUser, alice_api: ClearmlApi, trained: dict[str, Any]
) -> None:
    model = alice_api.call("models.get_by_id", model=trained["model"])["model"]
    assert model["name"] == "cat classifier"
    assert model["framework"] == "PyTorch"
    assert model["ready"] is True
    assert model["task"] == trained["task"]
    assert model["labels"] == {"cat": 1, "dog": 2}
    assert "relu" in model["design"]["design"]
    assert model["metadata"]["accuracy"] == {"key": "accuracy", "type": "float", "value": "0.93"}
    assert sorted(model["tags"]) == ["first", "second"]
    assert model["uri"] == trained["url"] and "/files/" in model["uri"]
    assert model["created"].endswith("+00:00")
    task = alice_api.call("tasks.get_by_id", task=trained["task"])["task"]
    assert {"name": "weights", "model": trained["model"]} in [
        {k: m[k] for k in ("name", "model")} for m in task["models"]["output"]
    ]
    got = sdk(
        server, alice,
        f"""
        import json, pickle
        from clearml import InputModel, Model, Task
        model = Model(model_id="{trained['model']}")
        with open(model.get_local_copy(), "rb") as f:
            weights = pickle.load(f)
        listed = [m.id for m in Task.get_task(task_id="{trained['task']}").models["output"]]
        task = Task.init(project_name="models/cats", task_name="evaluate")
        used = InputModel(model_id="{trained['model']}")
        task.connect(used)
        print(json.dumps({{"w": weights["w"][-1], "task": task.id, "listed": listed,
                          "published": used.published, "meta": model.get_metadata("accuracy")}}))
        task.close()
        """,
    )  # fmt: skip
    assert got["w"] == 99 and got["published"] is True and got["meta"] == "0.93"
    assert got["listed"] == [trained["model"]]
    evaluate = alice_api.call("tasks.get_by_id", task=got["task"])["task"]
    assert [m["model"] for m in evaluate["models"]["input"]] == [trained["model"]]


def test_query_models_filters_by_project_name_tags_and_archive(
    server: LiveServer, alice: ClearmlUser, alice_api: ClearmlApi, trained: dict[str, Any]
) -> None:
    other = sdk(server, alice, TRAIN.format(project="cats", name="dog classifier"))
    found = sdk(
        server, alice,
        """
        import json
        from clearml import Model
        def ids(**kw):
            return sorted(m.id for m in Model.query_models(**kw))
        print(json.dumps({
            "all": ids(project_name="models/cats"),
            "named": ids(project_name="models/cats", model_name="cat classifier"),
            "tagged": ids(project_name="models/cats", tags=["second"]),
            "published": ids(project_name="models/cats", only_published=True),
            "meta": ids(project_name="models/cats", metadata={"accuracy": "0.93"}),
        }))
        """,
    )  # fmt: skip
    both = sorted([trained["model"], other["model"]])
    assert found["all"] == both
    assert found["named"] == [trained["model"]]
    assert found["tagged"] == both
    assert found["published"] == both
    assert found["meta"] == both
    alice_api.call("models.archive_many", ids=[other["model"]])
    listed = alice_api.call(
        "models.get_all", project=[trained_project(alice_api, trained)],
        system_tags=["-archived"], only_fields=["id", "created", "system_tags"],
        order_by=["-created"], page=0, page_size=500,
    )["models"]  # fmt: skip
    assert [m["id"] for m in listed] == [trained["model"]]
    assert set(listed[0]) == {"id", "created", "system_tags"}


def refusal(api: ClearmlApi, endpoint: str, body: dict[str, Any]) -> tuple[int, int]:
    """The (code, subcode) a call is refused with (it must be refused)."""
    response = api.raw(endpoint, body)
    assert response.status_code != 200, (endpoint, body, response.text)
    meta = response.json()["meta"]
    assert response.json()["data"] == {} and meta["result_code"] == response.status_code
    return meta["result_code"], meta["result_subcode"]


def trained_project(api: ClearmlApi, trained: dict[str, Any]) -> str:
    project: str = api.call("tasks.get_by_id", task=trained["task"])["task"]["project"]
    return project


def test_models_of_one_user_are_invisible_and_unchangeable_to_another(
    alice_api: ClearmlApi, bob_api: ClearmlApi, trained: dict[str, Any]
) -> None:
    model_id = trained["model"]
    with pytest.raises(ClearmlCallError) as missing:
        bob_api.call("models.get_by_id", model=model_id)
    assert (missing.value.code, missing.value.subcode) == (400, 201)
    assert bob_api.call("models.get_all", id=[model_id])["models"] == []
    assert model_id not in [m["id"] for m in bob_api.call("models.get_all")["models"]]
    for endpoint, body in (
        ("models.edit", {"model": model_id, "name": "stolen"}),
        ("models.update", {"model": model_id, "comment": "x"}),
        ("models.delete", {"model": model_id, "force": True}),
        ("models.add_or_update_metadata", {"model": model_id, "metadata": [{"key": "k"}]}),
        ("models.set_ready", {"model": model_id}),
    ):
        assert refusal(bob_api, endpoint, body) == (400, 201), endpoint
    failed = bob_api.call("models.delete_many", ids=[model_id], force=True)
    assert failed["succeeded"] == [] and failed["failed"][0]["error"]["codes"] == [400, 201]
    assert refusal(
        bob_api, "tasks.add_or_update_model",
        {"task": trained["task"], "name": "x", "model": model_id, "type": "input"},
    )[0] == 400  # fmt: skip
    model = alice_api.call("models.get_by_id", model=model_id)["model"]
    assert model["name"] == "cat classifier" and "x" not in model["metadata"]


def test_the_administrator_sees_the_domains_models(
    server: LiveServer, trained: dict[str, Any]
) -> None:
    admin = ClearmlApi.of(server)
    try:
        seen = admin.call("models.get_all", id=[trained["model"]], only_fields=["name"])
    finally:
        admin.close()
    assert [m["name"] for m in seen["models"]] == ["cat classifier"]


def test_published_weights_stay_and_bad_input_gets_the_envelope(
    alice_api: ClearmlApi, trained: dict[str, Any]
) -> None:
    model_id = trained["model"]
    with pytest.raises(ClearmlCallError) as ready:
        alice_api.call("models.edit", model=model_id, uri="http://elsewhere/x.pkl")
    assert (ready.value.code, ready.value.subcode) == (400, 203)
    with pytest.raises(ClearmlCallError) as in_use:
        alice_api.call("models.delete", model=model_id)
    assert (in_use.value.code, in_use.value.subcode) == (400, 203)
    for endpoint, body, code in (
        ("models.create", {"name": "no uri"}, (400, 11)),
        ("models.create", {"uri": "x", "name": "bad labels", "labels": {"a": "b"}}, (400, 12)),
        ("models.create", {"uri": "x", "name": "n", "task": "f" * 32}, (400, 101)),
        ("models.get_by_id", {"model": "nope"}, (400, 201)),
        ("models.get_all", {"name": "("}, (400, 21)),
        ("models.archive_many", {"ids": []}, (400, 11)),
        ("models.edit", {"model": model_id, "labels": [1]}, (400, 12)),
    ):
        assert refusal(alice_api, endpoint, body) == code, (endpoint, body)
    assert alice_api.call("models.get_by_id", model=model_id)["model"]["uri"] == trained["url"]


def test_deleting_a_task_deletes_its_models_and_their_files(
    server: LiveServer, alice: ClearmlUser, alice_api: ClearmlApi
) -> None:
    made = sdk(server, alice, TRAIN.format(project="gone", name="short lived"))
    url = made["url"]
    files = alice_api.http.get(url, headers={"Authorization": f"Bearer {alice_api.token}"})
    assert files.status_code == 200 and files.content.startswith(b"\x80")
    alice_api.call("tasks.delete", task=made["task"], force=True)
    with pytest.raises(ClearmlCallError):
        alice_api.call("models.get_by_id", model=made["model"])
    gone = alice_api.http.get(url, headers={"Authorization": f"Bearer {alice_api.token}"})
    assert gone.status_code == 404


def test_removing_a_model_deletes_its_weights_file(
    server: LiveServer, alice: ClearmlUser, alice_api: ClearmlApi
) -> None:
    made = sdk(server, alice, TRAIN.format(project="removed", name="to remove"))
    auth = {"Authorization": f"Bearer {alice_api.token}"}
    assert alice_api.http.get(made["url"], headers=auth).status_code == 200
    removed = sdk(
        server, alice,
        f"""
        import json
        from clearml import Model
        ok = Model.remove("{made['model']}", delete_weights_file=True, force=True)
        print(json.dumps({{"ok": ok}}))
        """,
    )  # fmt: skip
    assert removed["ok"] is True
    assert refusal(alice_api, "models.get_by_id", {"model": made["model"]}) == (400, 201)
    assert alice_api.http.get(made["url"], headers=auth).status_code == 404


def test_update_for_task_makes_and_then_changes_the_tasks_output_model(
    alice_api: ClearmlApi, trained: dict[str, Any]
) -> None:
    task = alice_api.call("tasks.create", name="old client", type="training")["id"]
    made = alice_api.call(
        "models.update_for_task", task=task, uri="http://x/m1.bin", name="legacy", iteration=2
    )  # fmt: skip
    assert made["created"] is True
    again = alice_api.call(
        "models.update_for_task", task=task, override_model_id=made["id"], uri="http://x/m2.bin"
    )  # fmt: skip
    assert again["id"] == made["id"] and again["updated"] == 1
    model = alice_api.call("models.get_by_id", model=made["id"])["model"]
    assert (model["uri"], model["task"], model["last_iteration"]) == ("http://x/m2.bin", task, 2)
    outputs = alice_api.call("tasks.get_by_id", task=task)["task"]["models"]["output"]
    assert [m["model"] for m in outputs] == [made["id"]]
