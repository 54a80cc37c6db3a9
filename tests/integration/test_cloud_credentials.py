"""Registry credentials (C1-C5) with the official ``yotta`` CLI and ``yottaml`` SDK; one
user's key never reads or changes another user's credentials."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from tests.support.cloud import CloudApi, admin_key, cloud_server, new_user, run_sdk, run_yotta
from tests.support.live import LiveServer


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    yield from cloud_server(tmp_path_factory.mktemp("cloud-creds"))


def yotta(server: LiveServer, key: str, *args: str) -> object:
    done = run_yotta(server, key, "credentials", *args)
    assert done.returncode == 0, done.stdout + done.stderr
    body = json.loads(done.stdout)
    assert (body["code"], body["message"]) == (10000, "success"), body
    return body["data"]


def test_cli_create_list_get_update_delete(server: LiveServer) -> None:
    key = admin_key(server)
    created = yotta(server, key, "create", "--name", "ghcrTeam", "--type", "PRIVATE",
                    "--username", "ci-bot", "--password", "tok_x9")  # fmt: skip
    assert isinstance(created, dict) and created["name"] == "ghcrTeam"
    cid = str(created["id"])
    assert yotta(server, key, "list") == [created]
    assert yotta(server, key, "get", cid) == created
    renamed = yotta(server, key, "update", cid, "--name", "ghcrTeam2", "--password", "tok_y2")
    assert renamed == {**created, "name": "ghcrTeam2"}
    assert yotta(server, key, "delete", cid) is True
    assert yotta(server, key, "list") == []
    done = run_yotta(server, key, "credentials", "get", cid)
    assert json.loads(done.stdout)["code"] == 10007  # HTTP 200 with the code, as the platform


def test_sdk_crud_and_a_refused_body(server: LiveServer) -> None:
    done = run_sdk(
        server,
        admin_key(server),
        """
        from yottaml.credential import CredentialApi
        from yottaml.error import ClientError
        api = CredentialApi(api_key=KEY, base_url=BASE)
        made = api.create_credential("hubBot", "DOCKER_HUB", "me", "secret-pw")["data"]
        print(made["type"], api.get_credential(str(made["id"]))["data"]["name"])
        print(len(api.get_credentials(page=1, size=10)["data"]))
        print(api.update_credential(str(made["id"]), username="other")["data"]["name"])
        try:
            api.create_credential("9bad", "GCR", "me", "pw")
        except ClientError as e:
            print(e.status_code, e.error_code, "name" in e.error_message)
        print(api.delete_credential(str(made["id"]))["data"])
        """,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split("\n")[:5] == [
        "DOCKER_HUB hubBot", "1", "hubBot", "400 10001 True", "True"
    ]  # fmt: skip
    assert "secret-pw" not in done.stdout


def test_a_users_key_never_reaches_another_users_credentials(server: LiveServer) -> None:
    erin = new_user(server, "erin@cloud.test")
    frank = new_user(server, "frank@cloud.test")
    body = {"name": "erinReg", "type": "ECR", "username": "erin", "password": "pw"}
    erins = CloudApi(server, erin.key).post("/v2/container-registry-auths", json=body)
    cid = erins.json()["data"]["id"]
    franks = CloudApi(server, frank.key)
    base = f"/v2/container-registry-auths/{cid}"
    assert franks.get("/v2/container-registry-auths").json()["data"] == []
    assert franks.get(base).json()["code"] == 10007
    assert franks.request("PATCH", base, json={"name": "stolen"}).json()["code"] == 10007
    assert franks.delete(base).json()["code"] == 10007
    still = CloudApi(server, erin.key).get(base).json()["data"]
    assert still["name"] == "erinReg"
