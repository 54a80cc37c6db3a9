"""Administration of projects, domains, resource policies, images and registries in a real
browser, and what a domain admin sees of the installation-wide reports: their domain's
usage (page and both CSVs), a page that says why agents are not theirs. On each selected
database backend: creating and scoping these is the database's work."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator

import pytest
from playwright.sync_api import BrowserContext, Page, expect

from tests.support.cloud import CloudApi, admin_key, new_key
from tests.support.live import LiveServer
from tests.ui.backends import live_server_on, server_per_backend
from tests.ui.helpers import ADMIN_EMAIL, sign_in

pytestmark = pytest.mark.integration
pytest_generate_tests = server_per_backend


@pytest.fixture(scope="module")
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    yield from live_server_on(request, tmp_path_factory, "ui-org")


@pytest.fixture
def second(context: BrowserContext, server: LiveServer) -> Iterator[BrowserContext]:
    assert context.browser is not None
    other = context.browser.new_context(base_url=server.endpoint)
    other.set_default_timeout(20_000)
    yield other
    other.close()


def csrf_of(page: Page) -> str:
    return page.locator("input[name=csrf]").first.get_attribute("value") or ""


def rows_of(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


def make_domain_admin(page: Page, server: LiveServer) -> None:
    """Domain ``lab`` with project ``vision``, its admin ``lena`` and user ``lou``."""
    sign_in(page, ADMIN_EMAIL, server.password)
    page.goto("/ui/admin/org")
    page.fill("#new-domain input[name=name]", "lab")
    page.fill("#new-domain input[name=description]", "the lab")
    page.click("#new-domain button[type=submit]")
    expect(page.locator('#domain-table tr[data-domain="lab"]')).to_contain_text("the lab")
    page.fill("#new-group input[name=name]", "vision")
    page.select_option("#new-group select[name=domain]", "lab")
    page.click("#new-group button[type=submit]")
    expect(page.locator('#group-table tr[data-group="vision"]')).to_contain_text("lab")
    page.goto("/ui/admin")
    for email, role in (("lena@lab.test", "admin"), ("lou@lab.test", "user")):
        page.fill("#new-user input[name=email]", email)
        page.fill("#new-user input[name=password]", "password-of-" + email)
        page.select_option("#new-user select[name=role]", role)
        page.select_option("#new-user select[name=domain]", "lab")
        page.click("#new-user button[type=submit]")
        expect(page.locator(f'#user-table tr[data-user="{email}"]')).to_contain_text("lab")


def test_projects_domains_and_policies(page: Page, server: LiveServer) -> None:
    make_domain_admin(page, server)
    page.goto("/ui/admin/org")
    page.fill("#new-group input[name=name]", "vision")
    page.select_option("#new-group select[name=domain]", "lab")
    page.click("#new-group button[type=submit]")
    expect(page.locator("[role=alert]")).to_contain_text("already exists")
    page.fill("#new-domain input[name=name]", "lab")
    page.click("#new-domain button[type=submit]")
    expect(page.locator("[role=alert]")).to_contain_text("already exists")
    page.fill("#new-policy input[name=name]", "small")
    page.fill("#new-policy input[name=total_resource_slots]", "cpu")
    page.click("#new-policy button[type=submit]")
    expect(page.locator("[role=alert]")).to_contain_text("'cpu' is not key=value")
    page.fill("#new-policy input[name=name]", "small")
    page.fill("#new-policy input[name=total_resource_slots]", "cpu=4 mem=8g")
    page.fill("#new-policy input[name=max_concurrent_sessions]", "2")
    page.click("#new-policy button[type=submit]")
    policy = page.locator('#policy-table tr[data-policy="small"]')
    expect(policy).to_contain_text("cpu=4 mem=8g")
    expect(policy.locator("[data-concurrency]")).to_have_text("2")
    page.fill("#new-policy input[name=name]", "negative")
    idle = page.locator("#new-policy input[name=idle_timeout]")
    idle.evaluate("input => input.removeAttribute('min')")  # the server checks it too
    idle.fill("-1")
    page.click("#new-policy button[type=submit]")
    expect(page.locator("[role=alert]")).to_contain_text("idle_timeout must not be negative")
    page.goto("/ui/admin")  # a keypair on the new policy: it cannot be deleted while used
    page.select_option("#new-keypair select[name=email]", "lou@lab.test")
    page.select_option("#new-keypair select[name=resource_policy]", "small")
    page.click("#new-keypair button[type=submit]")
    access_key = page.locator("#issued-secret [data-access-key]").inner_text()
    expect(page.locator(f'#keypair-table tr[data-keypair="{access_key}"]')).to_contain_text("small")
    page.goto("/ui/admin/org")
    policy.locator("button", has_text="Delete").click()
    expect(page.locator("[role=alert]")).to_contain_text("Keypairs still use this resource policy")
    page.goto("/ui/admin")
    page.locator(f'#keypair-table tr[data-keypair="{access_key}"] button').click()
    page.goto("/ui/admin/org")
    policy.locator("button", has_text="Delete").click()
    expect(page.locator('#policy-table tr[data-policy="small"]')).to_have_count(0)
    vision = page.locator('#group-table tr[data-group="vision"]')
    vision.locator("button", has_text="Deactivate").click()
    expect(vision.locator("[data-active]")).to_have_text("no")


def test_domain_admin_sees_their_domain_and_a_clear_refusal(
    page: Page, context: BrowserContext, second: BrowserContext, server: LiveServer
) -> None:
    sign_in(page, ADMIN_EMAIL, server.password)
    page.goto("/ui/admin/org")
    if page.locator('#domain-table tr[data-domain="lab"]').count() == 0:  # run on its own
        make_domain_admin(page, server)
    ok = {"name": "vol", "storageType": "CEPH", "region": "local", "sizeInGb": 1}
    lou = CloudApi(server, new_key(server, "lou@lab.test", "k").key)
    assert lou.post("/v2/volumes", json=ok).json()["code"] == 10000
    assert CloudApi(server, admin_key(server)).post("/v2/volumes", json=ok).json()["code"] == 10000

    def csv_rows(ctx: BrowserContext, by: str) -> list[list[str]]:
        answer = ctx.request.get(f"/ui/admin/usage.csv?by={by}")
        assert answer.status == 200, answer.text()
        return rows_of(answer.text())

    every_user = {row[0] for row in csv_rows(context, "user")[1:]}
    assert {ADMIN_EMAIL, "lena@lab.test", "lou@lab.test"} <= every_user
    every_project = csv_rows(context, "project")
    assert every_project[0][0] == "project" and len(every_project) == 3  # both domains'

    lena = second.new_page()
    sign_in(lena, "lena@lab.test", "password-of-lena@lab.test")
    expect(lena.locator("header nav")).to_contain_text("Administration")
    lena.goto("/ui/admin/usage")
    expect(lena.locator("#usage-scope")).to_have_text("lab")
    expect(lena.locator('#usage-users tr[data-user="lou@lab.test"]')).to_be_visible()
    expect(lena.locator("#usage-users")).not_to_contain_text(ADMIN_EMAIL)
    assert {row[0] for row in csv_rows(second, "user")[1:]} == {"lena@lab.test", "lou@lab.test"}
    lab_projects = csv_rows(second, "project")
    assert len(lab_projects) == 2 and int(lab_projects[1][6]) == 1, lab_projects
    assert second.request.get("/ui/admin/usage.csv?by=domain").status == 400
    refused = lena.goto("/ui/admin/agents")
    assert refused is not None and refused.status == 403
    expect(lena.locator("#agents-refused")).to_contain_text("only a superadmin")
    expect(lena.locator("#admin-nav")).to_be_visible()
    expect(lena.locator("#agents")).to_have_count(0)
    lena.goto("/ui/admin/org")
    expect(lena.locator("#domains")).to_have_count(0)
    expect(lena.locator("#group-table tr[data-group]")).not_to_have_count(0)
    for row in lena.locator("#group-table tr[data-group]").all():
        assert row.get_attribute("data-domain") == "lab"
    lena.fill("#new-group input[name=name]", "lena-team")
    lena.click("#new-group button[type=submit]")
    expect(lena.locator('#group-table tr[data-group="lena-team"]')).to_contain_text("lab")
    expect(lena.locator("#new-policy")).to_have_count(0)
    token = csrf_of(lena)
    for target, form in (("/ui/admin/domains", {"name": "sneaky"}),
                         ("/ui/admin/policies", {"name": "sneaky"}),
                         ("/ui/admin/registries", {"hostname": "r.test", "url": "https://r.test"}),
                         ("/ui/admin/registries/rescan", {}),
                         ("/ui/admin/groups", {"name": "x", "domain": "default"})):  # fmt: skip
        answer = second.request.post(target, form={**form, "csrf": token})
        if target == "/ui/admin/groups":  # made in lena's own domain, not "default"
            assert answer.status == 200, answer.text()
            continue
        assert answer.status == 403, target
    page.goto("/ui/admin/org")
    expect(page.locator('#domain-table tr[data-domain="sneaky"]')).to_have_count(0)
    expect(page.locator('#group-table tr[data-group="x"]')).to_have_attribute("data-domain", "lab")


def test_images_aliases_and_registries(page: Page, second: BrowserContext,
                                       server: LiveServer) -> None:  # fmt: skip
    sign_in(page, ADMIN_EMAIL, server.password)
    page.goto("/ui/admin/images")
    image = page.locator("#image-table tr[data-image]").first
    expect(image).to_be_visible()
    target = image.get_attribute("data-image") or ""
    page.fill("#new-alias input[name=alias]", "my-python")
    page.select_option("#new-alias select[name=target]", target)
    page.click("#new-alias button[type=submit]")
    row = page.locator(f'#image-table tr[data-image="{target}"]')
    expect(row.locator("[data-aliases]")).to_contain_text("my-python")
    page.fill("#new-alias input[name=alias]", "has space")
    page.click("#new-alias button[type=submit]")
    expect(page.locator("[role=alert]")).to_contain_text("without spaces")
    row.get_by_role("button", name="Remove alias my-python").click()
    expect(row.locator("[data-aliases]")).not_to_contain_text("my-python")
    page.fill("#new-registry input[name=hostname]", "registry.example.test")
    page.fill("#new-registry input[name=url]", "ftp://registry.example.test")
    page.click("#new-registry button[type=submit]")
    expect(page.locator("[role=alert]")).to_be_visible()
    page.fill("#new-registry input[name=hostname]", "registry.example.test")
    page.fill("#new-registry input[name=url]", "https://registry.example.test")
    page.fill("#new-registry input[name=username]", "bot")
    page.fill("#new-registry input[name=password]", "s3cret-pw")
    page.click("#new-registry button[type=submit]")
    registry = page.locator('#registry-table tr[data-registry="registry.example.test"]')
    expect(registry.locator("[data-login]")).to_have_text("bot (password set)")
    expect(page.locator("body")).not_to_contain_text("s3cret-pw")
    page.click("#rescan-local button")
    expect(page.locator("#notice")).to_contain_text("Rescan started")
    registry.locator("button", has_text="Remove").click()
    expect(page.locator('#registry-table tr[data-registry="registry.example.test"]')).to_have_count(
        0
    )
