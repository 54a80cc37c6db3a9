"""The UI's pure parts: the new-session form, the clone form's hyperparameters, the task
table's tag filter and links, compare's automatic downsampling, the Jupyter proxy's
rewriting."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from starlette.datastructures import FormData

from hangar.core.compute.models import MountSpec
from hangar.core.errors import InvalidRequest
from hangar.core.tracking.tasks.models import Task
from hangar.core.tracking.tasks.states import TaskStatus
from hangar.ui import experiments_data as data
from hangar.ui.experiments_actions import edited_hyperparams, param_rows
from hangar.ui.sessions_apps import answer_headers, rewrite_page, upstream_headers
from hangar.ui.sessions_form import environment, mounts

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def task(**values: Any) -> Task:
    base: dict[str, Any] = dict(
        id="t1", name="t", type="training", status=TaskStatus.CREATED, status_reason="",
        status_message="", status_changed=None, user=uuid.uuid4(), company="", project=None,
        comment="", parent=None, tags=[], system_tags=[], created=NOW, started=None,
        completed=None, published=None, last_update=NOW, last_change=NOW, last_worker=None,
        last_worker_report=None, active_duration=None, enqueue_status=None, execution={},
        script={}, output={}, models={}, container={}, hyperparams={}, configuration={},
        runtime={},
    )  # fmt: skip
    return Task(**{**base, **values})


def test_environment_lines() -> None:
    text = "# comment\n\nA=1\n B_2 = x=y \nEMPTY="
    assert environment(text) == {"A": "1", "B_2": " x=y ", "EMPTY": ""}
    for bad in ("no equals", "1X=2", "A-B=1", "=v"):
        with pytest.raises(InvalidRequest, match="line 1"):
            environment(bad)


def test_mounts_with_paths() -> None:
    paths = [("mount_path.data", "/home/work/in/data/"), ("mount_path.code", "")]
    form = FormData([("mount", "data"), ("mount", "code"), ("mount", "data"), *paths])
    assert mounts(form) == (MountSpec("data", "in/data"), MountSpec("code", None))
    for path in ("../etc", "a/../../b", "a b", "x;y"):
        with pytest.raises(InvalidRequest, match="Mount path of data"):
            mounts(FormData([("mount", "data"), ("mount_path.data", path)]))
    same = FormData([("mount", "a"), ("mount", "b"), ("mount_path.b", "a")])
    with pytest.raises(InvalidRequest, match="same path"):
        mounts(same)


def test_clone_hyperparameters_keep_types_and_refuse_strangers() -> None:
    params = {"Args": {"lr": {"section": "Args", "name": "lr", "value": "0.1", "type": "float"},
                       "a/b": {"section": "Args", "name": "a/b", "value": "x"}}}  # fmt: skip
    source = task(hyperparams=params)
    rows = param_rows(source)
    assert [(r["name"], r["value"]) for r in rows] == [("a/b", "x"), ("lr", "0.1")]
    form = FormData([("param_key", rows[1]["key"]), ("param_value", "0.5")])
    edited = edited_hyperparams(source, form)
    assert edited is not None
    assert edited["Args"]["lr"] == {"section": "Args", "name": "lr", "value": "0.5",
                                    "type": "float"}  # fmt: skip
    assert edited["Args"]["a/b"]["value"] == "x" and params["Args"]["lr"]["value"] == "0.1"
    assert edited_hyperparams(source, FormData([])) is None
    with pytest.raises(InvalidRequest):
        edited_hyperparams(source, FormData([("param_key", "not json"), ("param_value", "1")]))


def test_tag_filter_any_or_every_and_links() -> None:
    any_of = data.TaskFilters.parse({"project": "p"}, ["red", " blue ", "red", ""])
    assert any_of.tags == ("red", "blue") and not any_of.every_tag
    every = data.TaskFilters.parse({"tags": "all"}, ["red"])
    assert every.every_tag
    assert any_of.link(tag="green") == "?project=p&tag=red&tag=blue&tag=green&sort=-last_update"
    assert every.link(page=2) == "?tag=red&tags=all&sort=-last_update&page=2"


def test_auto_samples_share_the_budget() -> None:
    def run(iterations: int, variants: int) -> Task:
        metrics = {"m": {f"v{i}": {"metric": "loss", "variant": f"v{i}", "value": 1.0}
                         for i in range(variants)}}  # fmt: skip
        return task(last_iteration=iterations - 1, last_metrics=metrics)

    assert data.auto_samples([run(1_000, 2), run(1_000, 2)]) is None
    assert data.auto_samples([run(100_000, 2), run(300, 1)]) == 200_000 // 3
    assert data.auto_samples([run(1_000_000, 300)]) == data.MIN_AUTO_SAMPLES


def test_jupyter_pages_and_redirects_stay_under_the_prefix() -> None:
    page = b"""<body data-base-url="/"><script src="/static/r.js"></script>
<link href='//cdn.example/x.css'><script>require.config({baseUrl: '/static/',
custom : '/custom'});</script><a href="tree">t</a>"""
    shown = rewrite_page(page, "/ui/sessions/s/jupyter")
    assert b'data-base-url="/ui/sessions/s/jupyter/"' in shown
    assert b'src="/ui/sessions/s/jupyter/static/r.js"' in shown
    assert b"baseUrl: '/ui/sessions/s/jupyter/static/'" in shown
    assert b"custom : '/ui/sessions/s/jupyter/custom'" in shown
    assert b"href='//cdn.example/x.css'" in shown and b'href="tree"' in shown
    headers = [(b"location", b"/tree?"), (b"content-length", b"5"), (b"x", b"y")]
    assert answer_headers(headers, "/p") == [(b"location", b"/p/tree?"), (b"x", b"y")]
    assert answer_headers([(b"location", b"http://127.0.0.1/a")], "/p") == [(b"location", b"/p/a")]


def test_jupyter_sees_loopback_and_never_the_ui_cookie() -> None:
    scope = {"headers": [(b"host", b"h.example:8090"), (b"origin", b"http://h.example:8090"),
                         (b"referer", b"http://evil.example/x"), (b"accept", b"*/*"),
                         (b"cookie", b"hangar_ui=secret; _xsrf=2|ab")]}  # fmt: skip
    sent = dict(upstream_headers(scope))
    assert sent[b"origin"] == b"http://127.0.0.1"
    assert b"referer" not in sent  # another site's: not made to look like this one
    assert sent[b"cookie"] == b"_xsrf=2|ab" and b"host" not in sent
