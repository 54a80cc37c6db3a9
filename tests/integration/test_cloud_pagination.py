"""The list styles of spec §1.5 through the official ``yottaml`` SDK's HTTP client (0.2.0 has
no volume or VM methods; its own modules call ``API.http_get`` the same way): page/size on
volumes and VMs (with pageNumber/pageSize understood), pages past the end empty, bad values
10001 naming the parameter, and the unpaginated lists bare arrays even when the SDK passes
``page``/``size`` along."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.cloud import CloudApi, admin_key, cloud_server, run_sdk
from tests.support.live import LiveServer


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    yield from cloud_server(tmp_path_factory.mktemp("cloud-pagination"))


def sdk(server: LiveServer, script: str) -> list[Any]:
    prelude = """
        import json
        from yottaml.api import API
        from yottaml.credential import CredentialApi
        from yottaml.error import ClientError
        from yottaml.pod import PodApi
        api = API(api_key=KEY, base_url=BASE)
        def out(value): print(json.dumps(value))
        def refused(path, params):
            try:
                api.http_get(path, params)
            except ClientError as e:
                return [e.status_code, e.error_code, e.error_message]
            return None
    """
    done = run_sdk(server, admin_key(server), prelude + script)
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in done.stdout.splitlines() if line.strip()]


def test_page_and_size_styles_through_the_sdk(server: LiveServer) -> None:
    made, first, second, past, aliased, vms, bad_size, bad_page, creds, pods = sdk(
        server,
        """
        made = [api.http_post("/v2/volumes", {"name": f"v{i}", "storageType": "CEPH",
                                              "region": "local", "sizeInGb": 1})["data"]["id"]
                for i in range(3)]
        out(made)
        q = {"storageType": "CEPH"}
        out(api.http_get("/v2/volumes", {**q, "page": 1, "size": 2})["data"])
        out(api.http_get("/v2/volumes", {**q, "page": 2, "size": 2})["data"])
        out(api.http_get("/v2/volumes", {**q, "page": 7, "size": 2})["data"])
        out(api.http_get("/v2/volumes", {**q, "pageNumber": 2, "pageSize": 2})["data"])
        out(api.http_get("/v2/vms", {"page": 1, "size": 5})["data"])
        out(refused("/v2/volumes", {**q, "size": 0}))
        out(refused("/v2/vms", {"page": "first"}))
        out(CredentialApi(api_key=KEY, base_url=BASE).get_credentials(page=1, size=10)["data"])
        out(PodApi(api_key=KEY, base_url=BASE).get_pods()["data"])
        """,
    )
    assert (first["page"], first["size"], first["total"], first["pages"]) == (1, 2, 3, 2)
    assert (second["page"], second["total"], second["pages"]) == (2, 3, 2)
    ids = [v["id"] for v in first["items"] + second["items"]]
    assert sorted(ids) == sorted(made) and len(first["items"]) == 2
    assert past["items"] == [] and past["total"] == 3  # past the end: empty, not an error
    assert aliased == second
    assert vms == {"items": [], "page": 1, "size": 5, "total": 0, "pages": 0}
    assert bad_size[:2] == [400, 10001] and "size" in bad_size[2]
    assert bad_page[:2] == [400, 10001] and "page" in bad_page[2]
    assert creds == [] and pods == []  # unpaginated lists stay bare arrays


def test_raw_bad_values_name_the_parameter(server: LiveServer) -> None:
    api = CloudApi(server, admin_key(server))
    for query, name in (("page=0", "page"), ("size=1001", "size"), ("size=2.5", "size")):
        answer = api.get(f"/v2/vms?{query}")
        body = answer.json()
        assert (answer.status_code, body["code"]) == (400, 10001), body
        assert name in body["data"] and name in body["message"]
