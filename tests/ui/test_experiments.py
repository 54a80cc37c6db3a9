"""Experiment pages in a real browser: a 100k-point chart, plots, console search, compare,
isolation between users and inert task names. Data comes in through the ClearML face.
On each selected database backend (the tracking reads are the database's), except the
inert names."""

from __future__ import annotations

import json
import re
import struct
import zlib
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.support.clearml import ClearmlApi, ClearmlUser, new_user
from tests.support.live import LiveServer
from tests.ui.backends import live_server_on, server_per_backend
from tests.ui.helpers import sign_in

pytestmark = pytest.mark.integration
pytest_generate_tests = server_per_backend

SCRIPT = "<script>window.pwned=1</script>"
T0 = 1_700_000_000_000
DRAWN = "() => { const c = document.querySelector('#charts canvas'); if (!c) return 0;" \
    " const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;" \
    " let n = 0; for (let i = 3; i < d.length; i += 4) if (d[i]) n++; return n; }"  # fmt: skip


@pytest.fixture(scope="module")
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    yield from live_server_on(request, tmp_path_factory, "ui-experiments")


def scalar_lines(task: str, metric: str, variant: str, points: int, start: int = 0) -> list[str]:
    return [json.dumps({"timestamp": T0 + it * 10, "type": "training_stats_scalar", "task": task,
                        "iter": it, "metric": metric, "variant": variant,
                        "value": 1.0 / (it + 1)}) for it in range(start, points)]  # fmt: skip


def add_events(api: ClearmlApi, lines: list[str], batch: int = 10_000) -> None:
    """Sends json-lines events as the SDK's reporter does, ``batch`` per request."""
    for at in range(0, len(lines), batch):
        body = "\n".join(lines[at : at + batch]).encode()
        sent = api.raw("events.add_batch", content=body,
                       headers={"Content-Type": "application/json-lines"})  # fmt: skip
        assert sent.status_code == 200, sent.text[:300]


def password_of(user: ClearmlUser) -> str:
    return "password-of-" + user.email  # what tests.support.clearml.new_user sets


@pytest.fixture(scope="module")
def alice(server: LiveServer) -> ClearmlUser:
    return new_user(server, "alice@experiments.test")


@pytest.fixture(scope="module")
def api(server: LiveServer, alice: ClearmlUser) -> Iterator[ClearmlApi]:
    client = ClearmlApi.of(server, alice)
    yield client
    client.close()


def new_task(api: ClearmlApi, name: str, project: str, **fields: Any) -> str:
    task: str = api.call("tasks.create", name=name, type="training", project=project,
                         **fields)["id"]  # fmt: skip
    return task


@pytest.fixture(scope="module")
def project(api: ClearmlApi) -> str:
    made: str = api.call("projects.create", name="ui-experiments", description="")["id"]
    return made


@pytest.fixture(scope="module")
def big_task(api: ClearmlApi, project: str) -> str:
    """100k points of loss/train, a second variant, a plot, log lines, hyperparameters."""
    params = {"Args": {"lr": {"section": "Args", "name": "lr", "value": "0.1"}}}
    task = new_task(api, "big run", project, hyperparams=params, tags=["big"])
    lines = scalar_lines(task, "loss", "train", 100_000)
    lines += scalar_lines(task, "loss", "eval", 1_000)
    figure = {"data": [{"type": "bar", "x": ["a", "b"], "y": [1, 2]}], "layout": {}}
    lines.append(json.dumps({"timestamp": T0, "type": "plot", "task": task, "iter": 0,
                             "metric": "confusion", "variant": "test",
                             "plot_str": json.dumps(figure)}))  # fmt: skip
    for n in range(30):
        lines.append(json.dumps({"timestamp": T0 + n, "type": "log", "task": task,
                                 "level": "info", "msg": f"epoch {n} done"}))  # fmt: skip
    add_events(api, lines)
    return task


def test_a_task_with_100k_points_draws_its_chart(
    page: Page, server: LiveServer, alice: ClearmlUser, big_task: str
) -> None:
    sign_in(page, alice.email, password_of(alice))
    page.goto("/ui/experiments")
    page.click("text=ui-experiments")
    page.click("text=big run")
    expect(page).to_have_url(re.compile(f"/ui/experiments/tasks/{big_task}$"))
    charts = page.locator("#charts")
    expect(charts).to_have_attribute("data-drawn", "1", timeout=20_000)
    assert page.evaluate(DRAWN) > 1000  # the lines are on the canvas
    expect(charts.locator(".u-title")).to_have_text("loss")
    expect(charts.locator(".u-legend")).to_contain_text("train")
    expect(charts.locator(".u-legend")).to_contain_text("eval")
    served = page.request.get(f"/ui/experiments/tasks/{big_task}/scalars")
    train = next(s for s in served.json()["charts"][0]["series"] if s["variant"] == "train")
    assert len(train["x"]) == 100_000 and train["y"][9] == 0.1
    page.select_option("#chart-tools select[name=x]", "time")
    expect(charts).to_have_attribute("data-drawn", "1", timeout=20_000)
    page.check("#chart-tools input[name=log]")
    expect(charts).to_have_attribute("data-drawn", "1")
    with page.expect_response(lambda r: "samples=1000" in r.url) as asked:
        page.select_option("#chart-tools select[name=samples]", "1000")
    fewer = asked.value.json()["charts"][0]["series"]
    assert 0 < max(len(s["x"]) for s in fewer) <= 1000
    expect(charts).to_have_attribute("data-drawn", "1", timeout=20_000)
    assert page.evaluate(DRAWN) > 1000
    expect(page.locator(".plot[data-rendered]")).to_have_count(1)
    expect(page.locator("#hyperparams")).to_contain_text("Args/lr")
    page.fill("input[name=log_q]", "epoch 7 ")
    expect(page.locator("#task-log .line")).to_have_count(1)
    expect(page.locator("#task-log")).to_contain_text("epoch 7 done")


def test_compare_two_tasks(page: Page, alice: ClearmlUser, api: ClearmlApi, project: str) -> None:
    ids = []
    for name, lr in (("cmp one", "0.1"), ("cmp two", "0.5")):
        params = {
            "Args": {
                "lr": {"section": "Args", "name": "lr", "value": lr},
                "batch": {"section": "Args", "name": "batch", "value": "32"},
            }
        }
        task = new_task(api, name, project, hyperparams=params, tags=["cmp"])
        add_events(api, scalar_lines(task, "acc", "val", 200))
        ids.append(task)
    sign_in(page, alice.email, password_of(alice))
    page.goto(f"/ui/experiments/tasks?project={project}&tag=cmp")
    rows = page.locator("tr[data-task-id]")
    expect(rows).to_have_count(2)
    for task in ids:
        page.check(f'tr[data-task-id="{task}"] input[type=checkbox]')
    page.click("button:has-text('Compare selected')")
    expect(page.locator("h1")).to_have_text("Compare 2 tasks")
    expect(page.locator("#charts")).to_have_attribute("data-drawn", "1")
    legend = page.locator("#charts .u-legend")
    expect(legend).to_contain_text("cmp one · val")
    expect(legend).to_contain_text("cmp two · val")
    lr = page.locator("#param-diff tr", has_text="Args/lr")
    expect(lr).to_have_class("differs")
    page.check("#only-diff")
    expect(page.locator("#param-diff tr", has_text="Args/batch")).to_be_hidden()
    expect(lr).to_be_visible()
    assert page.goto(f"/ui/experiments/compare?ids={ids[0]}").status == 400  # type: ignore[union-attr]


def test_another_user_sees_none_of_the_first_users_tasks(
    browser: Browser, server: LiveServer, big_task: str, project: str
) -> None:
    bob = new_user(server, "bob@experiments.test")
    other = browser.new_context(base_url=server.endpoint).new_page()
    try:
        sign_in(other, bob.email, password_of(bob))
        other.goto("/ui/experiments/tasks")
        expect(other.locator("#task-table")).to_contain_text("No tasks.")
        other.goto("/ui/experiments")
        expect(other.locator("main")).not_to_contain_text("ui-experiments")
        for path in (f"/ui/experiments/tasks/{big_task}",
                     f"/ui/experiments/tasks/{big_task}/scalars",
                     f"/ui/experiments/tasks/{big_task}/log",
                     f"/ui/experiments/tasks?project={project}"):  # fmt: skip
            assert other.goto(path).status == 404, path  # type: ignore[union-attr]
        csrf = other.evaluate(
            "JSON.parse(document.body.getAttribute('hx-headers'))['X-CSRF-Token']"
        )
        assert other.goto(f"/ui/experiments/tasks/{big_task}/clone").status == 404  # type: ignore[union-attr]
        for action in ("abort", "clone", "enqueue", "reset", "archive", "publish", "move"):
            refused = other.request.post(f"/ui/experiments/tasks/{big_task}/{action}",
                                         form={"csrf": csrf})  # fmt: skip
            assert refused.status == 404, action
        forged = other.request.post(f"/ui/experiments/tasks/{big_task}/clone", form={})
        assert forged.status == 403
    finally:
        other.context.close()


@pytest.mark.backends("sqlite")  # the database does not matter
def test_a_task_named_with_a_script_renders_inert(
    page: Page, alice: ClearmlUser, api: ClearmlApi, project: str
) -> None:
    task = new_task(api, SCRIPT, project, tags=["xss"])
    add_events(api, [json.dumps({"timestamp": T0, "type": "log", "task": task, "level": "info",
                                 "msg": SCRIPT})])  # fmt: skip
    sign_in(page, alice.email, password_of(alice))
    page.goto(f"/ui/experiments/tasks?project={project}&tag=xss")
    expect(page.locator("#task-table")).to_contain_text(SCRIPT)
    page.click(f"text={SCRIPT}")
    expect(page.locator("h1")).to_have_text(SCRIPT)
    expect(page.locator("#task-log")).to_contain_text(SCRIPT)
    page.click("#clone-form button")
    expect(page.locator("h1")).to_have_text(f"Clone of {SCRIPT}")
    assert page.evaluate("window.pwned") is None


def png(width: int, height: int) -> bytes:
    """A small red PNG image."""
    raw = b"".join(b"\x00" + b"\xff\x00\x00" * width for _ in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = struct.pack(">I", zlib.crc32(kind + data))
        return struct.pack(">I", len(data)) + kind + data + crc

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw))
            + chunk(b"IEND", b""))  # fmt: skip


def upload(api: ClearmlApi, key: str, data: bytes) -> str:
    """Stores ``data`` on the file server as the SDK does; returns its url."""
    sent = api.http.post(f"{api.endpoint}/files/", files=[(f"/{key}", (f"/{key}", data))],
                         headers={"Authorization": f"Bearer {api.token}"})  # fmt: skip
    assert sent.status_code == 200, sent.text
    return f"{api.endpoint}/files/{key}"


def test_debug_images_and_artifacts_come_through_the_viewers_reads(
    page: Page, browser: Browser, server: LiveServer, alice: ClearmlUser, api: ClearmlApi,
    project: str,
) -> None:  # fmt: skip
    task = new_task(api, "with files", project)
    image = upload(api, f"ui-experiments/with files.{task}/metrics/sample/img/0.png", png(6, 4))
    weights = bytes(range(256)) * 40
    stored = upload(api, f"ui-experiments/with files.{task}/artifacts/weights/w.bin", weights)
    api.call("tasks.add_or_update_artifacts", task=task, artifacts=[
        {"key": "weights", "type": "custom", "mode": "output", "uri": stored}])  # fmt: skip
    add_events(api, [json.dumps({"timestamp": T0, "type": "training_debug_image", "task": task,
                                 "iter": 3, "metric": "sample", "variant": "img",
                                 "key": "k", "url": image})])  # fmt: skip
    sign_in(page, alice.email, password_of(alice))
    page.goto(f"/ui/experiments/tasks/{task}")
    expect(page.locator("#images h3")).to_have_text("Iteration 3")
    shown = page.locator("#images img")
    expect(shown).to_have_attribute("alt", "sample / img")
    page.wait_for_function("document.querySelector('#images img').naturalWidth === 6")
    with page.expect_download() as download:
        page.click("#artifacts a:has-text('Download')")
    assert download.value.path().read_bytes() == weights
    link = page.locator("#artifacts a:has-text('Download')").get_attribute("href") or ""
    bob = new_user(server, "carol@experiments.test")
    other = browser.new_context(base_url=server.endpoint).new_page()
    try:
        sign_in(other, bob.email, password_of(bob))
        expect(other.locator("header nav")).to_be_visible()
        assert other.request.get(link).status == 404
    finally:
        other.context.close()


def test_comparing_long_series_downsamples_them_by_itself(
    page: Page, alice: ClearmlUser, api: ClearmlApi, project: str, big_task: str
) -> None:
    """Three series, one of 100k points: more than the compare page draws whole, so each is
    averaged down to an equal share and the page says so; "All" loads every point."""
    small = new_task(api, "cmp small", project)
    add_events(api, scalar_lines(small, "loss", "train", 300))
    sign_in(page, alice.email, password_of(alice))
    with page.expect_response(lambda r: "/compare/scalars" in r.url) as asked:
        page.goto(f"/ui/experiments/compare?ids={big_task}&ids={small}")
    served = asked.value.json()
    assert served["auto"] and served["samples"] == 200_000 // 3
    longest = max(len(s["x"]) for c in served["charts"] for s in c["series"])
    assert 1_000 < longest <= served["samples"]
    expect(page.locator("#charts")).to_have_attribute("data-drawn", "1", timeout=20_000)
    expect(page.locator("#points-note")).to_contain_text("at most 66,666 points")
    with page.expect_response(lambda r: "samples=all" in r.url) as everything:
        page.select_option("#chart-tools select[name=samples]", "all")
    train = [s for c in everything.value.json()["charts"] for s in c["series"]
             if s["task"] == big_task and s["variant"] == "train"]  # fmt: skip
    assert len(train[0]["x"]) == 100_000
    expect(page.locator("#points-note")).to_have_text("")
