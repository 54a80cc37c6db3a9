"""The GPU cloud page in a real browser: a user's volumes with cost, API keys (shown once,
revoked keys refused by the API), registry credentials; another user sees none of them."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import BrowserContext, Page, expect

from tests.support.cloud import FAKE_INVENTORY, CloudApi, new_key
from tests.support.live import LiveServer
from tests.ui.helpers import new_user, sign_in

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    home = tmp_path_factory.mktemp("ui-cloud")
    live = LiveServer(home=home, database_url=f"sqlite+aiosqlite:///{home}/h.db",
                      extra_env={"HANGAR_FAKE_ACCELERATORS": FAKE_INVENTORY})  # fmt: skip
    live.start()
    try:
        yield live
    finally:
        live.stop()


def test_my_volumes_keys_and_credentials_and_no_one_elses(
    page: Page, context: BrowserContext, server: LiveServer
) -> None:
    password = new_user(server, "ivy@cloud.test")
    api = CloudApi(server, new_key(server, "ivy@cloud.test", "cli").key)
    made = api.post("/v2/volumes", json={"name": "ivy-data", "storageType": "CEPH",
                                         "region": "local", "sizeInGb": 2})  # fmt: skip
    assert made.json()["code"] == 10000, made.text
    cred = api.post("/v2/container-registry-auths",
                    json={"name": "ivy-hub", "username": "ivy", "password": "s3cret"})  # fmt: skip
    assert cred.json()["code"] == 10000, cred.text
    sign_in(page, "ivy@cloud.test", password)
    page.goto("/ui/cloud")
    volume = page.locator("#volumes tr[data-volume]", has_text="ivy-data")
    expect(volume.locator("[data-cost]")).to_have_text("0.0000")
    expect(page.locator("#credentials")).to_contain_text("ivy-hub")
    expect(page.locator("#credentials")).not_to_contain_text("s3cret")
    expect(page.locator("#key-table")).to_contain_text("cli")
    page.fill("#new-key input[name=name]", "<script>window.pwned=1</script>")
    page.click("#new-key button[type=submit]")
    key = page.locator("#issued-key [data-key]").inner_text()
    assert key.startswith("hk_")
    assert page.evaluate("window.pwned === undefined")
    assert CloudApi(server, key).get("/v2/volumes").json()["code"] == 10000
    page.goto("/ui/cloud")
    expect(page.locator("#issued-key")).to_have_count(0)  # shown once
    row = page.locator("#key-table tr", has_text="<script>")
    row.locator("button", has_text="Revoke").click()
    revoked = page.locator("#key-table tr", has_text="<script>").locator("[data-active]")
    expect(revoked).to_have_text("revoked")
    assert CloudApi(server, key).get("/v2/volumes").json()["code"] != 10000
    page.locator("#credentials tr", has_text="ivy-hub").locator("button").click()
    expect(page.locator("#credentials")).not_to_contain_text("ivy-hub")
    other = context.browser.new_context(base_url=server.endpoint) if context.browser else None
    assert other is not None
    try:
        jack = other.new_page()
        sign_in(jack, "jack@cloud.test", new_user(server, "jack@cloud.test"))
        jack.goto("/ui/cloud")
        expect(jack.locator("#volumes")).to_contain_text("No volumes.")
        expect(jack.locator("body")).not_to_contain_text("ivy-data")
        expect(jack.locator("#key-table")).to_contain_text("No API keys.")
        ivy_key_id = page.locator("#key-table tr[data-key-id]").first.get_attribute("data-key-id")
        jack.goto("/ui/cloud")
        token = jack.locator("input[name=csrf]").first.get_attribute("value")
        refused = other.request.post(f"/ui/cloud/api-keys/{ivy_key_id}/revoke",
                                     form={"csrf": token or ""})  # fmt: skip
        assert refused.status == 404
        forged = other.request.post("/ui/cloud/api-keys", form={"name": "forged"})
        assert forged.status == 403
    finally:
        other.close()
    page.goto("/ui/cloud")
    expect(page.locator("#key-table tr", has_text="cli").locator("[data-active]")).to_have_text(
        "yes"
    )


def test_pod_form_answers_the_seeds_messages_and_creates_a_pod(
    page: Page, context: BrowserContext, server: LiveServer
) -> None:
    password = new_user(server, "kim@cloud.test")
    sign_in(page, "kim@cloud.test", password)
    page.goto("/ui/cloud")
    page.click("#new-pod-link")
    form = page.locator("#new-pod")
    expect(form.locator("select[name=gpu_type]")).to_contain_text("H100")
    form.locator("input[name=image]").fill("python:3")
    form.locator("select[name=gpu_type]").select_option("NVIDIA_RTX_4090_24G")
    form.locator("input[name=gpu_count]").fill("3")
    form.locator("button[type=submit]").click()
    expect(page.locator("[role=alert]")).to_have_text(
        "gpuCount must be a power of two (1, 2, 4, 8, ...)"
    )
    expect(form.locator("input[name=image]")).to_have_value("python:3")  # kept
    form.locator("select[name=gpu_type]").select_option("")
    form.locator("button[type=submit]").click()
    expect(page.locator("[role=alert]")).to_have_text("gpuType is required for a GPU pod")
    token = form.locator("input[name=csrf]").get_attribute("value") or ""
    wanted = {"image": "python:3", "gpu_type": "NVIDIA_B300_262G", "gpu_count": "1"}
    unknown = context.request.post("/ui/cloud/pods", form={"csrf": token, **wanted})
    assert unknown.status == 400
    assert "gpu type [NVIDIA_B300_262G] not supported" in unknown.text()
    form.locator("input[name=image]").fill("")
    form.locator("select[name=resource_type]").select_option("CPU")
    form.locator("button[type=submit]").click()
    expect(page.locator("[role=alert]")).to_have_text("image: must be 1 to 255 characters")
    form.locator("input[name=name]").fill("kim's pod")
    form.locator("input[name=image]").fill("python:3")
    form.locator("button[type=submit]").click()
    row = page.locator("#pods tr[data-pod]", has_text="kim's pod")
    expect(row.locator("[data-status]")).not_to_be_empty()
    expect(row.locator("[data-cost]")).to_have_text(re.compile(r"^\d+\.\d{4}$"))
    row.locator("button", has_text="Delete").click()
    expect(row.locator("[data-status]")).to_have_text(re.compile("terminat"), timeout=30_000)
    expect(row.locator("button")).to_have_count(0)


def test_volume_credential_and_vm_forms_and_no_one_elses(
    page: Page, context: BrowserContext, server: LiveServer
) -> None:
    password = new_user(server, "uma@cloud.test")
    sign_in(page, "uma@cloud.test", password)
    page.goto("/ui/cloud")
    page.click("#new-volume-link")
    volume = page.locator("#new-volume")
    volume.locator("input[name=name]").fill("uma-data")
    volume.locator("select[name=storage_type]").select_option("CEPH")
    volume.locator("button[type=submit]").click()
    expect(page.locator("[role=alert]")).to_contain_text("sizeInGb: required for CEPH volumes")
    volume.locator("select[name=storage_type]").select_option("VENDOR")
    volume.locator("input[name=size_gb]").fill("2")
    volume.locator("button[type=submit]").click()
    expect(page.locator("[role=alert]")).to_contain_text("vendorVolumeType: required")
    expect(volume.locator("input[name=name]")).to_have_value("uma-data")  # kept
    volume.locator("select[name=storage_type]").select_option("CEPH")
    volume.locator("button[type=submit]").click()
    row = page.locator("#volumes tr[data-volume]", has_text="uma-data")
    expect(row.locator("[data-status]")).to_have_text("active")
    volume_id = row.get_attribute("data-volume")

    page.click("#new-credential-link")
    cred = page.locator("#new-credential")
    cred.locator("input[name=name]").fill("9hub")
    cred.locator("input[name=username]").fill("uma")
    cred.locator("input[name=password]").fill("hunter2-secret")
    cred.locator("button[type=submit]").click()
    expect(page.locator("[role=alert]")).to_contain_text("name: a letter")
    cred.locator("input[name=name]").fill("uma-hub")
    cred.locator("select[name=type]").select_option("DOCKER_HUB")
    cred.locator("input[name=password]").fill("hunter2-secret")
    cred.locator("button[type=submit]").click()
    expect(page.locator("#credentials tr", has_text="uma-hub")).to_contain_text("DOCKER_HUB")
    expect(page.locator("body")).not_to_contain_text("hunter2-secret")

    page.click("#new-vm-link")
    vm = page.locator("#new-vm")
    vm.locator("input[name=name]").fill("<script>window.pwned=1</script>uma-vm")
    vm.locator("button[type=submit]").click()
    expect(page.locator("[role=alert]")).to_contain_text("vmTypeId: choose a VM type")
    h100 = vm.locator("select[name=vm_type] option", has_text="H100").get_attribute("value")
    vm.locator("select[name=vm_type]").select_option(h100)
    vm.locator(f"input[name=mount_{volume_id}]").check()
    vm.locator(f"input[name=path_{volume_id}]").fill("data")
    vm.locator("button[type=submit]").click()
    expect(page.locator("[role=alert]")).to_contain_text("'data' is not an absolute path")
    vm.locator(f"input[name=path_{volume_id}]").fill("/data")
    vm.locator("button[type=submit]").click()
    machine = page.locator("#vms tr[data-vm]", has_text="uma-vm")
    expect(machine).to_contain_text("NVIDIA_H100_80G")
    expect(machine).to_contain_text("<script>window.pwned=1</script>uma-vm")  # text, inert
    assert page.evaluate("window.pwned === undefined")
    expect(machine.locator("[data-cost]")).to_have_text(re.compile(r"^\d+\.\d{4}$"))
    expect(row).to_contain_text("1")  # mounted by the VM: no delete button
    expect(row.locator("button", has_text="Delete")).to_have_count(0)
    vm_id = machine.get_attribute("data-vm")

    other = context.browser.new_context(base_url=server.endpoint) if context.browser else None
    assert other is not None
    try:
        vic = other.new_page()
        sign_in(vic, "vic@cloud.test", new_user(server, "vic@cloud.test"))
        vic.goto("/ui/cloud")
        for text in ("uma-data", "uma-vm", "uma-hub"):
            expect(vic.locator("body")).not_to_contain_text(text)
        vic.goto("/ui/cloud/vms/new")
        expect(vic.locator("#vm-volumes")).not_to_contain_text("uma-data")
        token = vic.locator("input[name=csrf]").first.get_attribute("value") or ""
        for target in (f"/ui/cloud/vms/{vm_id}/terminate", f"/ui/cloud/volumes/{volume_id}/delete"):
            assert other.request.post(target, form={"csrf": token}).status == 404, target
        stolen = other.request.post("/ui/cloud/vms", form={
            "csrf": token, "name": "vic-vm", "vm_type": h100 or "",
            f"mount_{volume_id}": "on", f"path_{volume_id}": "/steal"})  # fmt: skip
        assert stolen.status == 404, stolen.text()
    finally:
        other.close()

    page.goto("/ui/cloud")
    machine.locator("button", has_text="Terminate").click()
    expect(machine.locator("[data-status]")).to_have_text("terminated", timeout=30_000)
    expect(row.locator("button", has_text="Delete")).to_have_count(1, timeout=30_000)
    row.locator("button", has_text="Delete").click()
    expect(page.locator("#volumes tr[data-volume]", has_text="uma-data")).to_have_count(0)
