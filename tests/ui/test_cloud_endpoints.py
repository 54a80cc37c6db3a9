"""Serverless endpoint pages in a real browser: a QUEUE endpoint made with the cloud API
(the test worker of tests/support/taskworker.py), its workers and a worker's log paged by
the API's cursor, a task with its status and delivery status, scale/stop/start/delete with
CSRF; another user sees none of it (404); names and task input render inert."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from playwright.sync_api import BrowserContext, Page, expect

from tests.support.cloud import CloudApi, new_key
from tests.support.live import LiveServer
from tests.support.live import wait_for as poll
from tests.support.taskworker import WORKER_INIT
from tests.ui.helpers import new_user, sign_in


def wait_for(check: Callable[[], Any], what: str, timeout: float = 60.0) -> Any:
    return poll(check, what, timeout, 0.2)


pytestmark = pytest.mark.integration
EVIL = "<script>window.pwned=1</script>"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    home = tmp_path_factory.mktemp("ui-endpoints")
    live = LiveServer(home=home, database_url=f"sqlite+aiosqlite:///{home}/h.db",
                      extra_env={"HANGAR_ENDPOINT_CHECK_SECONDS": "0.3",
                                 "HANGAR_ENDPOINT_BACKOFF_SECONDS": "0.2"})  # fmt: skip
    live.start()
    try:
        yield live
    finally:
        live.stop()


def test_queue_endpoint_workers_logs_tasks_and_no_one_elses(
    page: Page, context: BrowserContext, server: LiveServer
) -> None:
    password = new_user(server, "lea@cloud.test")
    api = CloudApi(server, new_key(server, "lea@cloud.test", "cli").key)
    made = api.post("/v2/serverless", json={
        "name": "lea-q", "image": "python:3", "serviceMode": "QUEUE", "workers": 1,
        "resources": [{"region": "local", "gpuCount": 0}], "containerVolumeInGb": 20,
        "initializationCommand": "echo '<b>one</b>'; echo two; " + WORKER_INIT,
        "expose": {"port": 8080, "protocol": "http"},
    }).json()  # fmt: skip
    assert made["code"] == 10000, made
    eid = made["data"]["id"]
    wait_for(lambda: api.get(f"/v2/serverless/{eid}").json()["data"]["runningWorkers"] >= 1,
             "endpoint running")  # fmt: skip
    sent = api.post(
        f"/v2/serverless/{eid}/tasks",
        json={"taskId": "t1", "workerPort": 8080, "processUri": "/run", "input": {"say": EVIL}},
    ).json()
    assert sent["code"] == 10000, sent
    wait_for(lambda: api.get(f"/v2/serverless/{eid}/tasks/t1").json()["data"]["status"]
             == "SUCCESS", "task done")  # fmt: skip
    with sqlite3.connect(server.home / "h.db") as db:  # the API refuses such a name
        db.execute("UPDATE endpoints SET name = ? WHERE id = ?", (EVIL, int(eid)))

    sign_in(page, "lea@cloud.test", password)
    page.goto("/ui/cloud")
    page.click("#endpoints-link")
    row = page.locator(f"#endpoints tr[data-endpoint='{eid}']")
    expect(row).to_contain_text(EVIL)
    expect(row.locator("[data-workers]")).to_have_text("1/1")
    expect(row.locator("[data-cost]")).to_have_text(re.compile(r"^\d+\.\d{4}$"))
    row.locator("a").click()
    expect(page.locator("#endpoint-name")).to_have_text(EVIL)
    task = page.locator("#tasks tr[data-task=t1]")
    expect(task.locator("[data-status]")).to_have_text("SUCCESS")
    expect(task.locator("[data-delivery]")).to_contain_text("INIT")
    expect(task).to_contain_text(EVIL)
    expect(page.locator("#task-counts")).to_contain_text("1 succeeded")
    assert page.evaluate("window.pwned === undefined")

    worker = page.locator("#workers tr[data-worker]").first
    worker_id = worker.get_attribute("data-worker")
    worker.locator("a", has_text="Oldest first").click()
    expect(page.locator("#log")).to_contain_text("task worker up", timeout=30_000)
    expect(page.locator("#log")).to_contain_text("<b>one</b>")  # text, not markup
    logs = f"/ui/cloud/endpoints/{eid}/workers/{worker_id}/logs"
    page.goto(logs + "?pageSize=1")
    first = page.locator("#log [data-offset]").get_attribute("data-offset")
    wanted = api.get(f"/v2/serverless/{eid}/workers/{worker_id}/logs",
                     params={"pageSize": 2}).json()["data"]  # fmt: skip
    assert len(wanted["logs"]) == 2, wanted  # one line a page, as the API pages it
    assert first == str(wanted["logs"][0]["offset"])
    page.click("#log-next")  # the cursor of the first line: the API's second line next
    expect(page.locator("#log [data-offset]")).to_have_count(1)
    second = page.locator("#log [data-offset]").get_attribute("data-offset")
    assert second == str(wanted["logs"][1]["offset"])
    page.goto(logs + "?pageSize=1&direction=Backward")  # newest first
    expect(page.locator("#log [data-offset]")).to_have_text(re.compile("task worker up$"))
    page.click("#log-next")
    expect(page.locator("#log [data-offset]")).to_have_text(re.compile("two$"))

    other = context.browser.new_context(base_url=server.endpoint) if context.browser else None
    assert other is not None
    try:
        mia = other.new_page()
        sign_in(mia, "mia@cloud.test", new_user(server, "mia@cloud.test"))
        mia.goto("/ui/cloud/endpoints")
        expect(mia.locator("#endpoints")).to_contain_text("No serverless endpoints")
        for path in (f"/ui/cloud/endpoints/{eid}", logs):
            assert mia.goto(path).status == 404  # type: ignore[union-attr]
        mia.goto("/ui/cloud/endpoints")
        token = mia.locator("input[name=csrf]").first.get_attribute("value") or ""
        for verb in ("stop", "delete"):
            refused = other.request.post(f"/ui/cloud/endpoints/{eid}/{verb}", form={"csrf": token})
            assert refused.status == 404
        forged = context.request.post(f"/ui/cloud/endpoints/{eid}/stop", form={})
        assert forged.status == 403
    finally:
        other.close()

    page.goto(f"/ui/cloud/endpoints/{eid}")
    token = page.locator("#scale input[name=csrf]").get_attribute("value") or ""
    too_many = context.request.post(f"/ui/cloud/endpoints/{eid}/scale",
                                    form={"csrf": token, "workers": "65"})  # fmt: skip
    assert too_many.status == 400
    assert "workers: must be a whole number from 0 to 64" in too_many.text()
    page.fill("#scale input[name=workers]", "2")
    page.click("#scale button")
    expect(page.locator("[data-workers]")).to_contain_text("/2")
    page.click("#stop button")
    expect(page.locator("#summary [data-status]")).to_have_text(re.compile("STOPP"))
    wait_for(lambda: api.get(f"/v2/serverless/{eid}").json()["data"]["status"] == "STOPPED",
             "endpoint stopped")  # fmt: skip
    page.reload()
    page.click("#start button")
    expect(page.locator("#summary [data-status]")).to_have_text(re.compile("INITIALIZING|RUNNING"))
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("#delete button")
    expect(page.locator("#endpoints")).to_contain_text("No serverless endpoints")
    assert api.get(f"/v2/serverless/{eid}").json()["code"] != 10000


def test_endpoint_form_makes_an_alb_endpoint_whose_metrics_chart_counts_requests(
    page: Page, context: BrowserContext, server: LiveServer
) -> None:
    password = new_user(server, "nia@cloud.test")
    key = new_key(server, "nia@cloud.test", "cli").key
    sign_in(page, "nia@cloud.test", password)
    page.goto("/ui/cloud/endpoints")
    page.click("#new-endpoint-link")
    form = page.locator("#new-endpoint")
    form.locator("input[name=name]").fill("1bad")
    form.locator("input[name=image]").fill("python:3")
    form.locator("button[type=submit]").click()
    expect(page.locator("[role=alert]")).to_contain_text("name: a letter")
    form.locator("input[name=name]").fill("nia-web")
    form.locator("select[name=mode]").select_option("ALB")
    form.locator("button[type=submit]").click()
    expect(page.locator("[role=alert]")).to_have_text("expose: an ALB endpoint needs an http port")
    expect(form.locator("input[name=image]")).to_have_value("python:3")  # kept
    token = form.locator("input[name=csrf]").get_attribute("value") or ""
    wanted = {"csrf": token, "name": "nia-gpu", "mode": "QUEUE", "image": "python:3",
              "gpu_type": "NVIDIA_B300_262G", "gpu_count": "3"}  # fmt: skip
    odd = context.request.post("/ui/cloud/endpoints", form=wanted)
    assert odd.status == 400 and "power of two" in odd.text()
    unknown = context.request.post("/ui/cloud/endpoints", form={**wanted, "gpu_count": "1"})
    assert unknown.status == 400
    assert "resources: gpu type [NVIDIA_B300_262G] not supported" in unknown.text()
    form.locator("input[name=port]").fill("8080")
    form.locator("textarea[name=init_command]").fill(WORKER_INIT)
    form.locator("input[name=vram_gb]").fill("8")
    form.locator("button[type=submit]").click()
    expect(page.locator("#endpoint-name")).to_have_text("nia-web")
    eid = page.url.rstrip("/").rsplit("/", 1)[-1]
    api = CloudApi(server, key)
    made = api.get(f"/v2/serverless/{eid}").json()["data"]
    assert made["serviceMode"] == "ALB" and made["expose"]["port"] == 8080, made
    assert made["minSingleCardVramInGb"] == 8, made
    wait_for(lambda: api.get(f"/v2/serverless/{eid}").json()["data"]["runningWorkers"] >= 1,
             "endpoint running")  # fmt: skip
    page.reload()
    metrics = page.locator("#metrics")
    expect(metrics.locator("[data-requests]")).to_have_text("0")
    with httpx.Client(base_url=server.endpoint, timeout=30,
                      headers={"Authorization": f"Bearer {key}"}) as proxy:  # fmt: skip
        for _ in range(5):
            assert proxy.get(f"/serverless-proxy/{eid}/").status_code == 200
    expect(metrics.locator("[data-requests]")).to_have_text("5", timeout=10_000)
    expect(metrics).to_have_attribute("data-samples", re.compile(r"^[1-9]"))
    expect(page.locator("#rate-chart canvas")).to_have_count(1)
    expect(page.locator("#latency-chart canvas")).to_have_count(1)
    assert float(metrics.get_attribute("data-peak") or "0") > 0
    latency = metrics.locator("[data-latency]").inner_text()
    assert re.match(r"^[\d.]+ / [\d.]+ / [\d.]+$", latency), latency
    page.reload()  # the server kept the samples: the chart comes back with its past
    expect(metrics).to_have_attribute("data-samples", re.compile(r"^[1-9]"))
    assert float(metrics.get_attribute("data-peak") or "0") > 0
    other = context.browser.new_context(base_url=server.endpoint) if context.browser else None
    assert other is not None
    try:
        oz = other.new_page()
        sign_in(oz, "oz@cloud.test", new_user(server, "oz@cloud.test"))
        oz.goto("/ui/cloud/endpoints")
        assert other.request.get(f"/ui/cloud/endpoints/{eid}/metrics").status == 404
    finally:
        other.close()
    page.click("#edit-link")
    form = page.locator("#new-endpoint")
    expect(form.locator("input[name=name]")).to_have_value("nia-web")
    expect(form.locator("input[name=port]")).to_have_value("8080")
    expect(form.locator("select[name=mode] option")).to_have_count(1)  # its mode stays
    form.locator("input[name=port]").fill("")
    form.locator("button[type=submit]").click()
    expect(page.locator("[role=alert]")).to_have_text("expose: an ALB endpoint needs an http port")
    form.locator("input[name=port]").fill("8080")
    form.locator("input[name=name]").fill("nia-web2")
    form.locator("textarea[name=env]").fill("GREETING=hi")
    form.locator("button[type=submit]").click()
    expect(page.locator("#endpoint-name")).to_have_text("nia-web2")
    changed = api.get(f"/v2/serverless/{eid}").json()["data"]
    assert changed["name"] == "nia-web2" and changed["minSingleCardVramInGb"] == 8, changed
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("#delete button")
    expect(page.locator("#endpoints")).to_contain_text("No serverless endpoints")
