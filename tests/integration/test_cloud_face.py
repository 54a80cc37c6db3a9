"""The GPU-cloud face's foundation against a live server: the envelope on every answer,
API keys (``X-Api-Key`` in any casing, Bearer), refusals, the first start's client.env and
``hangar admin apikey``, with the official ``yottaml`` SDK and ``yotta`` CLI."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.cloud import (
    CloudApi,
    admin_key,
    cloud_server,
    new_key,
    new_user,
    run_sdk,
    run_yotta,
)
from tests.support.live import LiveServer


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    yield from cloud_server(tmp_path_factory.mktemp("cloud"))


def test_first_start_writes_yotta_lines_the_cli_works_with(server: LiveServer) -> None:
    env = (server.home / "config" / "hangar" / "client.env").read_text()
    key = admin_key(server)
    assert f"export YOTTA_BASE_URL={server.endpoint}\n" in env
    assert f"export YOTTA_API_KEY={key}\n" in env
    done = run_yotta(server, key, "gpus", "list")
    assert done.returncode == 0, done.stderr
    body = json.loads(done.stdout)
    assert (body["code"], body["message"]) == (10000, "success")
    assert isinstance(body["data"], list)


@pytest.mark.parametrize("header", ["X-Api-Key", "x-api-key", "X-API-KEY", "X-API-Key"])
def test_key_header_in_any_casing(server: LiveServer, header: str) -> None:
    response = httpx.get(
        server.endpoint + "/v2/vms/types", headers={header: admin_key(server)}, timeout=30
    )
    assert response.status_code == 200
    assert response.json()["code"] == 10000


def test_bearer_is_accepted(server: LiveServer) -> None:
    response = httpx.get(
        server.endpoint + "/v2/vms/types",
        headers={"Authorization": f"Bearer {admin_key(server)}"},
        timeout=30,
    )
    assert response.json()["code"] == 10000


@pytest.mark.parametrize("key", [None, b"", b"hk_wrong", b"x" * 5000, "hk_\u00e9".encode()])
def test_missing_or_wrong_key_is_401_envelope(server: LiveServer, key: bytes | None) -> None:
    headers = {} if key is None else {"X-Api-Key": key}
    response = httpx.get(server.endpoint + "/v2/vms/types", headers=headers, timeout=30)
    assert response.status_code == 401
    body = response.json()
    assert body["code"] == 40101 and body["data"] is None and body["message"]


def test_sdk_sees_a_wrong_key_as_client_error(server: LiveServer) -> None:
    done = run_sdk(
        server,
        "hk_not_a_key",
        """
        from yottaml.gpu import GpuApi
        from yottaml.error import ClientError
        try:
            GpuApi(api_key=KEY, base_url=BASE).get_gpus()
        except ClientError as e:
            print(e.status_code, e.error_code)
        """,
    )
    assert done.stdout.split() == ["401", "40101"], done.stderr


def test_unknown_routes_and_methods_answer_the_envelope(server: LiveServer) -> None:
    api = CloudApi(server, admin_key(server))
    for path in ("/v2/nothing", "/v2", "/api/v2/nothing", "/v2/vms/types/x/y"):
        response = api.get(path)
        assert response.status_code == 404, path
        assert response.json() == {"message": "No such route", "code": 10007, "data": None}
    response = api.request("PUT", "/v2/vms/types")
    assert response.status_code == 405 and response.json()["code"] == 10001


def test_bad_bodies_are_10001_naming_the_field(server: LiveServer) -> None:
    api = CloudApi(server, admin_key(server))
    response = api.post("/v2/api-keys", json={"name": "n" * 65})
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == 10001 and "name" in body["message"] and "name" in body["data"]
    for raw in (b"{", b"[1]", b"\xff", b'"x"'):
        response = api.post("/v2/api-keys", content=raw)
        assert response.status_code == 400 and response.json()["code"] == 10001, raw


def test_user_manages_own_keys_shown_once(server: LiveServer) -> None:
    alice = new_user(server, "alice@cloud.test")
    api = CloudApi(server, alice.key)
    created = api.post("/v2/api-keys", json={"name": "laptop"}).json()["data"]
    assert created["key"].startswith("hk_") and created["name"] == "laptop"
    listed = api.get("/v2/api-keys").json()["data"]
    assert {k["id"] for k in listed} == {alice.key_id, created["id"]}
    assert all("key" not in k for k in listed)  # shown once: never listed
    assert CloudApi(server, created["key"]).get("/v2/vms/types").json()["code"] == 10000
    assert api.delete(f"/v2/api-keys/{created['id']}").json() == {
        "message": "success",
        "code": 10000,
        "data": True,
    }
    assert CloudApi(server, created["key"]).get("/v2/vms/types").status_code == 401


def test_a_users_key_never_reaches_another_users_keys(server: LiveServer) -> None:
    bob = new_user(server, "bob@cloud.test")
    carol = new_user(server, "carol@cloud.test")
    bob_api = CloudApi(server, bob.key)
    assert [k["id"] for k in bob_api.get("/v2/api-keys").json()["data"]] == [bob.key_id]
    refused = bob_api.delete(f"/v2/api-keys/{carol.key_id}")
    assert refused.status_code == 200 and refused.json()["code"] == 10007
    assert CloudApi(server, carol.key).get("/v2/vms/types").json()["code"] == 10000


def test_admin_cli_creates_lists_revokes(server: LiveServer, tmp_path: Path) -> None:
    dave = new_user(server, "dave@cloud.test")
    second = new_key(server, "dave@cloud.test", "ci")
    done = server.hangar("admin", "apikey", "ls", "--email", "dave@cloud.test", "--json")
    assert done.returncode == 0, done.stderr
    rows = json.loads(done.stdout)["items"]
    assert {r["id"] for r in rows} == {dave.key_id, second.key_id}
    assert all(second.key not in json.dumps(r) for r in rows)  # stored hashed, never shown
    assert server.hangar("admin", "apikey", "revoke", str(second.key_id)).returncode == 0
    assert CloudApi(server, second.key).get("/v2/vms/types").status_code == 401
    assert CloudApi(server, dave.key).get("/v2/vms/types").status_code == 200
    assert server.hangar("admin", "apikey", "revoke", "999999").returncode != 0


def test_readme_commands_work_verbatim(server: LiveServer, tmp_path: Path) -> None:
    from tests.integration.test_readme import readme_block
    from tests.support.cloud import YOTTA

    block = readme_block("yotta gpus list")
    env_file = server.home / "config" / "hangar" / "client.env"
    script = block.replace("~/.config/hangar/client.env", str(env_file))
    done = subprocess.run(
        ["bash", "-euc", script],
        env={**server.server_env(), "PATH": f"{YOTTA / 'bin'}:/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "NVIDIA_RTX_4090_24G" in done.stdout and '"name": "team"' in done.stdout
    assert "s3cret" not in done.stdout
