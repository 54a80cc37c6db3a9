"""Changing GPU-cloud things in a real browser: a volume renamed and grown (and refused
while a VM mounts it, or when it would shrink), a VM renamed, a registry credential edited;
the cloud API then answers the new values, and another user's edit pages and changes are
404 with nothing changed. On each selected database backend: the writes are the
database's."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import BrowserContext, Page, expect

from tests.support.cloud import FAKE_INVENTORY, CloudApi, new_key
from tests.support.live import LiveServer
from tests.ui.backends import live_server_on, server_per_backend
from tests.ui.helpers import new_user, sign_in

pytestmark = pytest.mark.integration
pytest_generate_tests = server_per_backend


@pytest.fixture(scope="module")
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    env = {"HANGAR_FAKE_ACCELERATORS": FAKE_INVENTORY}
    yield from live_server_on(request, tmp_path_factory, "ui-cloud-edits", env)


def alert(page: Page, text: str) -> None:
    expect(page.locator("[role=alert]")).to_contain_text(text)


def edit_volume(page: Page, api: CloudApi, volume_id: str) -> None:
    row = page.locator(f"#volumes tr[data-volume='{volume_id}']")
    row.locator("[data-edit]").click()
    page.locator("#resize input[name=size_gb]").fill("2")
    page.locator("#resize button").click()
    alert(page, "sizeInGb: must exceed the current 2 GB")
    page.locator("#resize input[name=size_gb]").fill("many")
    page.locator("#resize button").click()
    alert(page, "sizeInGb: a whole number from 1 to 10240")
    page.locator("#resize input[name=size_gb]").fill("5")
    page.locator("#resize button").click()
    expect(row).to_contain_text("5 GB")
    row.locator("[data-edit]").click()
    page.locator("#rename input[name=name]").fill("<b>ned-bigger</b>")
    page.locator("#rename button").click()
    expect(row).to_contain_text("<b>ned-bigger</b>")  # text, inert
    got = api.get(f"/v2/volumes/{volume_id}").json()["data"]
    assert (got["name"], got["sizeInGb"]) == ("<b>ned-bigger</b>", 5), got


def edit_credential(page: Page, credential_id: str) -> None:
    row = page.locator(f"#credentials tr[data-credential='{credential_id}']")
    row.locator("[data-edit]").click()
    form = page.locator("#edit-credential")
    expect(form.locator("input[name=username]")).to_have_value("ned")
    expect(form.locator("input[name=password]")).to_have_value("")  # write-only
    form.locator("input[name=name]").fill("9hub")
    form.locator("button").click()
    alert(page, "name: a letter, then up to 19 letters, digits or @._-")
    expect(form.locator("input[name=name]")).to_have_value("9hub")  # kept
    form.locator("input[name=name]").fill("ned-hub2")
    form.locator("input[name=username]").fill("ned2")
    form.locator("input[name=password]").fill("new-s3cret")
    form.locator("button").click()
    expect(row).to_contain_text("ned-hub2")
    expect(row).to_contain_text("ned2")
    expect(page.locator("body")).not_to_contain_text("new-s3cret")


def make_vm(page: Page, volume_id: str) -> str:
    page.click("#new-vm-link")
    vm = page.locator("#new-vm")
    vm.locator("input[name=name]").fill("ned-vm")
    h100 = vm.locator("select[name=vm_type] option", has_text="H100").get_attribute("value")
    vm.locator("select[name=vm_type]").select_option(h100)
    vm.locator(f"input[name=mount_{volume_id}]").check()
    vm.locator(f"input[name=path_{volume_id}]").fill("/data")
    vm.locator("button[type=submit]").click()
    machine = page.locator("#vms tr[data-vm]", has_text="ned-vm")
    expect(machine).to_contain_text("NVIDIA_H100_80G")
    return machine.get_attribute("data-vm") or ""


def test_rename_resize_and_edit_and_no_one_elses(
    page: Page, context: BrowserContext, server: LiveServer
) -> None:
    password = new_user(server, "ned@edits.test")
    api = CloudApi(server, new_key(server, "ned@edits.test", "cli").key)
    made = api.post("/v2/volumes", json={"name": "ned-data", "storageType": "CEPH",
                                         "region": "local", "sizeInGb": 2})  # fmt: skip
    assert made.json()["code"] == 10000, made.text
    volume_id = str(made.json()["data"]["id"])
    cred = api.post("/v2/container-registry-auths",
                    json={"name": "ned-hub", "username": "ned", "password": "s3cret"})  # fmt: skip
    credential_id = str(cred.json()["data"]["id"])
    sign_in(page, "ned@edits.test", password)
    page.goto("/ui/cloud")
    edit_volume(page, api, volume_id)
    edit_credential(page, credential_id)
    assert api.get(f"/v2/container-registry-auths/{credential_id}").json()["data"]["name"] == (
        "ned-hub2"
    )

    vm_id = make_vm(page, volume_id)
    page.goto(f"/ui/cloud/volumes/{volume_id}/edit")
    page.locator("#resize input[name=size_gb]").fill("6")
    page.locator("#resize button").click()
    alert(page, "is mounted by 1 running workload(s)")
    page.goto("/ui/cloud")
    machine = page.locator(f"#vms tr[data-vm='{vm_id}']")
    machine.locator("[data-edit]").click()
    page.locator("#rename input[name=name]").fill("ned-vm-renamed")
    page.locator("#rename button").click()
    expect(machine).to_contain_text("ned-vm-renamed")
    assert api.get(f"/v2/vms/{vm_id}").json()["data"]["name"] == "ned-vm-renamed"

    assert context.browser is not None
    other = context.browser.new_context(base_url=server.endpoint)
    try:
        olga = other.new_page()
        sign_in(olga, "olga@edits.test", new_user(server, "olga@edits.test"))
        olga.goto("/ui/cloud")
        token = olga.locator("input[name=csrf]").first.get_attribute("value") or ""
        for path in (f"/ui/cloud/volumes/{volume_id}/edit", f"/ui/cloud/vms/{vm_id}/edit",
                     f"/ui/cloud/credentials/{credential_id}/edit"):  # fmt: skip
            seen = other.request.get(path)
            assert seen.status == 404, path
            assert "ned-" not in seen.text(), path
        for path, form in (
            (f"/ui/cloud/volumes/{volume_id}/name", {"name": "olgas"}),
            (f"/ui/cloud/volumes/{volume_id}/resize", {"size_gb": "9"}),
            (f"/ui/cloud/vms/{vm_id}/edit", {"name": "olgas"}),
            (f"/ui/cloud/credentials/{credential_id}/edit", {"name": "olgas"}),
        ):
            answer = other.request.post(path, form={"csrf": token, **form}, max_redirects=0)
            assert answer.status == 404, (path, answer.status)
        token = olga.locator("input[name=csrf]").first.get_attribute("value") or ""
        big = "99999999999"  # past the id columns' INTEGER range: names nothing
        for kind, change in (("volumes", "name"), ("vms", "edit"), ("credentials", "edit")):
            assert other.request.get(f"/ui/cloud/{kind}/{big}/edit").status == 404, kind
            answer = other.request.post(f"/ui/cloud/{kind}/{big}/{change}",
                                        form={"csrf": token, "name": "x"})  # fmt: skip
            assert answer.status == 404, kind
        for action in ("credentials/{}/delete", "api-keys/{}/revoke", "volumes/{}/delete"):
            answer = other.request.post("/ui/cloud/" + action.format(big), form={"csrf": token})
            assert answer.status == 404, action
        for page_path in (f"/ui/cloud/endpoints/{big}", f"/ui/cloud/endpoints/{big}/edit"):
            assert other.request.get(page_path).status == 404, page_path
    finally:
        other.close()
    got = api.get(f"/v2/volumes/{volume_id}").json()["data"]
    assert (got["name"], got["sizeInGb"]) == ("<b>ned-bigger</b>", 5), got
    assert api.get(f"/v2/vms/{vm_id}").json()["data"]["name"] == "ned-vm-renamed"
