"""Cost and usage on a live server with the fake inventory: prices set with ``hangar admin
price``, a pod made with the official SDK costs by its running time, ``hangar admin usage``
reports it per user and project, and a daily limit (``hangar admin limit``) refuses new pods
with code 10010 while the running one goes on, unless the limit is automatic: then the
running pod is paused."""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest

from tests.support.cloud import CloudApi, admin_key, cloud_server, run_sdk
from tests.support.live import LiveServer, wait_for

RTX = "NVIDIA_RTX_4090_24G"
ADMIN = "admin@hangar.local"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    yield from cloud_server(tmp_path_factory.mktemp("cloud-billing"))


def admin_cli(server: LiveServer, *args: str) -> str:
    done = server.hangar("admin", *args)
    assert done.returncode == 0, done.stdout + done.stderr
    return str(done.stdout)


def new_pod(server: LiveServer, name: str) -> dict[str, Any]:
    """POST /v2/pods through the official SDK: the whole envelope."""
    done = run_sdk(
        server,
        admin_key(server),
        f"""
        import json
        from yottaml.pod import PodApi
        api = PodApi(api_key=KEY, base_url=BASE)
        print(json.dumps(api.new_pod(name={name!r}, image="python:3", gpu_type={RTX!r},
                                     gpu_count=1)))
        """,
    )
    assert done.returncode == 0, done.stderr
    return dict(json.loads(done.stdout))


def pod_status(server: LiveServer, pod_id: int) -> str:
    body = CloudApi(server, admin_key(server)).get(f"/v2/pods/{pod_id}").json()
    return str(body["data"]["status"])


def test_prices_usage_and_a_daily_limit(server: LiveServer) -> None:
    admin_cli(server, "price", "set", RTX, "3600")  # a device-second costs 1
    admin_cli(server, "price", "set", "cpu", "0.5")
    shown = json.loads(admin_cli(server, "price", "show", "--json"))["items"]
    prices = {item["price"]: item["per_hour"] for item in shown}
    assert prices[RTX] == "3600" and prices["cpu"] == "0.5"
    assert prices["NVIDIA_H100_80G"] == "0"  # a live agent's GPU type, unpriced

    made = new_pod(server, "billed")
    assert made["code"] == 10000, made
    pod_id = made["data"]["id"]
    wait_for(lambda: pod_status(server, pod_id) == "RUNNING", "running")

    def usage() -> dict[str, Any]:
        return dict(json.loads(admin_cli(server, "usage", "--days", "1", "--json")))

    report = wait_for(lambda: (r := usage())["users"] and r, "some usage")
    (user,) = report["users"]
    assert user["user"] == ADMIN and Decimal(user["cost"]) > 0
    assert Decimal(user["gpu_hours"]) > 0 and user["items"] >= 1
    assert [p["project"] for p in report["projects"]] == ["default"]
    table = admin_cli(server, "usage", "--from", "2020-01-01")
    before = json.loads(admin_cli(server, "usage", "--from", "2020-01-01", "--to", "2020-01-02",
                                  "--json"))  # fmt: skip
    assert (before["users"], before["projects"], before["total"]) == ([], [], "0")
    assert "Usage per user" in table and ADMIN in table and "Usage per project" in table

    # The limit is reached at once (a device-second costs 1): new pods are refused...
    admin_cli(server, "limit", "set", "0.5", "--user", ADMIN)
    refused = new_pod(server, "refused")
    assert refused["code"] == 10010, refused
    assert "daily cost limit" in refused["message"]
    limits = json.loads(admin_cli(server, "limit", "show", "--json"))["items"]
    assert limits[0]["who"] == ADMIN and Decimal(limits[0]["spent_today"]) >= Decimal("0.5")
    # ... and the running one goes on: the limit is not automatic.
    assert pod_status(server, pod_id) == "RUNNING"
    pod = CloudApi(server, admin_key(server)).get(f"/v2/pods/{pod_id}").json()["data"]
    assert pod["cost"] >= 0.5

    # An automatic limit also pauses the running pod (at once, on the next refusal).
    admin_cli(server, "limit", "set", "0.5", "--user", ADMIN, "--automatic")
    assert new_pod(server, "refused-again")["code"] == 10010
    wait_for(lambda: pod_status(server, pod_id) == "STOPPED", "paused by the limit", 30)

    admin_cli(server, "limit", "unset", "--user", ADMIN)
    allowed = new_pod(server, "allowed")
    assert allowed["code"] == 10000, allowed
    api = CloudApi(server, admin_key(server))
    for done in (pod_id, allowed["data"]["id"]):
        assert api.delete(f"/v2/pods/{done}").json()["data"] is True


def test_bad_admin_input_is_refused_plainly(server: LiveServer) -> None:
    for args in (
        ("price", "set", "cpu", "-1"),
        ("price", "set", "cpu", "lots"),
        ("limit", "set", "5"),  # neither --user nor --project
        ("limit", "set", "5", "--user", "nobody@example.org"),
        ("usage", "--from", "yesterday"),
    ):
        done = server.hangar("admin", *args)
        assert done.returncode != 0, args
        assert "Traceback" not in done.stderr and "Error" in done.stderr, done.stderr
