"""The ClearML face's transport, as the official clients meet it: the envelope, versioned and
bare paths, bodies on GET, the 404 envelope, logins and every way a login can be wrong."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import jwt
import pytest

from tests.support.clearml import ClearmlApi, ClearmlCallError, basic_auth, new_user, run_sdk
from tests.support.live import LiveServer

pytestmark = pytest.mark.integration

META_KEYS = {
    "id", "trx", "endpoint", "result_code", "result_subcode", "result_msg", "error_stack",
    "error_data",
}  # fmt: skip


@pytest.fixture(scope="module")
def api(clearml_live: LiveServer) -> Iterator[ClearmlApi]:
    client = ClearmlApi.of(clearml_live)
    yield client
    client.close()


def envelope(response: httpx.Response, code: int, subcode: int = 0) -> dict[str, Any]:
    """The response's meta, checked to be the envelope with ``code``/``subcode``."""
    body = response.json()
    assert set(body) == {"meta", "data"}, body
    meta: dict[str, Any] = body["meta"]
    assert set(meta) == META_KEYS, meta
    assert response.status_code == meta["result_code"] == code, meta
    assert meta["result_subcode"] == subcode, meta
    assert isinstance(body["data"], dict)
    if code != 200:
        assert body["data"] == {} and meta["result_msg"], meta
    assert meta["error_stack"] is None and isinstance(meta["error_data"], dict)
    return meta


def claims(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    decoded: dict[str, Any] = json.loads(base64.urlsafe_b64decode(payload + "=" * 4))
    return decoded


def test_versioned_and_bare_paths_answer_with_the_envelope(api: ClearmlApi) -> None:
    for version, method in (("", "GET"), ("2.23", "POST"), ("2.5", "PUT"), ("2.99", "GET")):
        response = api.raw("debug.ping", method=method, version=version)
        meta = envelope(response, 200)
        assert meta["endpoint"]["name"] == "debug.ping"
        assert meta["endpoint"]["requested_version"] == (version or "2.31")
        assert meta["id"] == meta["trx"] and len(meta["id"]) == 32
    info = api.raw("server.info", version="", headers={"Authorization": ""})
    envelope(info, 200)
    assert info.json()["data"]["api_version"] == "2.31"
    slash = api.http.get(api.endpoint + "/v2.23/debug.ping/")
    envelope(slash, 200)
    trx = api.raw("debug.ping", headers={"X-ClearML-Trx": "my-transaction"})
    assert envelope(trx, 200)["trx"] == "my-transaction"


def test_unknown_endpoints_get_the_404_envelope(api: ClearmlApi) -> None:
    # The agent probes this name and copes only with an error.
    for version in ("", "2.14"):
        response = api.raw("workers.get_runtime_properties", {"worker": "w"}, version=version)
        meta = envelope(response, 404)
        assert meta["endpoint"]["name"] == "workers.get_runtime_properties"
        assert "Unable to find endpoint" in meta["result_msg"]
    envelope(api.raw("tasks.get_all/extra"), 404)
    envelope(api.raw("no.such", method="POST", version=""), 404)


def test_a_malformed_version_is_400_2(api: ClearmlApi) -> None:
    response = api.http.get(api.endpoint + "/v2.x/debug.ping")
    envelope(response, 400, 2)


def test_bodies_are_read_on_get_with_junk_keys_and_nulls_ignored(api: ClearmlApi) -> None:
    auth = {"Authorization": basic_auth(api.access_key, api.secret_key)}
    body = {"expiration_sec": 3600, "method": "get", "nested": {"junk": [1]}}
    response = api.raw("auth.login", body, method="GET", version="", headers=auth)
    token = response.json()["data"]["token"]
    envelope(response, 200)
    assert claims(token)["exp"] - claims(token)["iat"] == 3600
    as_null = api.raw("auth.login", {"expiration_sec": None}, headers=auth)
    token = as_null.json()["data"]["token"]
    assert claims(token)["exp"] - claims(token)["iat"] == 30 * 24 * 3600
    queried = api.http.get(api.endpoint + "/auth.login?expiration_sec=600", headers=auth)
    token = queried.json()["data"]["token"]
    assert claims(token)["exp"] - claims(token)["iat"] == 600
    capped = api.raw("auth.login", {"expiration_sec": 10**9}, headers=auth)
    token = capped.json()["data"]["token"]
    assert claims(token)["exp"] - claims(token)["iat"] == 365 * 24 * 3600
    envelope(api.raw("auth.login", {"expiration_sec": "soon"}, headers=auth), 400, 12)


def test_malformed_bodies_are_400_envelopes(api: ClearmlApi) -> None:
    for content in (b"{bad json", b"[1, 2", b'"a string"', b'{"a": "\\u0000"}'):
        response = api.raw("auth.get_credentials", content=content)
        envelope(response, 400, 12)
    missing = api.raw("auth.revoke_credentials", {"method": "get"})
    assert "access_key" in envelope(missing, 400, 11)["result_msg"]
    wrong_type = api.raw("auth.revoke_credentials", {"access_key": ["x"]})
    envelope(wrong_type, 400, 12)
    gzipped = api.raw("debug.ping", content=b"x", headers={"Content-Encoding": "gzip"})
    envelope(gzipped, 415)
    huge = api.raw("auth.get_credentials", content=b" " * (17 << 20))
    envelope(huge, 413)


def test_the_login_token_carries_what_the_sdk_reads(api: ClearmlApi) -> None:
    payload = claims(api.login())
    assert payload["api_version"] == "2.31"
    assert payload["server_version"] == "2.0.0"
    assert payload["feature_set"] == "basic"
    assert payload["env"] == "hangar"
    identity = payload["identity"]
    assert identity["company"] == identity["company_name"] == "default"
    assert identity["role"] == "root" and identity["user"] and identity["user_name"]
    assert payload["exp"] - payload["iat"] == 30 * 24 * 3600
    # A token renews itself with Bearer auth (CLEARML_AUTH_TOKEN logins).
    renewed = api.raw("auth.login", version="")
    envelope(renewed, 200)
    assert claims(renewed.json()["data"]["token"])["identity"] == identity


@pytest.mark.parametrize(
    ("authorization", "subcode"),
    [
        (None, 20),
        ("Basic !!!", 21),
        ("Basic " + base64.b64encode(b"no-colon").decode(), 21),
        ("Digest abc", 21),
        ("Bearer not-a-token", 30),
    ],
)
def test_bad_authorization_is_a_401_envelope(
    api: ClearmlApi, authorization: str | None, subcode: int
) -> None:
    headers = {"Authorization": authorization or ""}
    for name in ("auth.get_credentials", "auth.login"):
        envelope(api.raw(name, {}, headers=headers), 401, subcode)


def test_wrong_secrets_and_forged_tokens_are_refused(api: ClearmlApi) -> None:
    wrong = {"Authorization": basic_auth(api.access_key, "not-the-secret")}
    envelope(api.raw("auth.login", headers=wrong), 401, 22)
    unknown = {"Authorization": basic_auth("AKIANOSUCHKEY0000000", "x")}
    envelope(api.raw("auth.login", headers=unknown), 401, 22)
    forged = jwt.encode(
        {**claims(api.token)}, "another-installation-s-key-32-bytes", algorithm="HS256"
    )
    envelope(
        api.raw("auth.get_credentials", headers={"Authorization": f"Bearer {forged}"}), 401, 30
    )
    # Basic credentials work on any endpoint, as on the reference server.
    basic = {"Authorization": basic_auth(api.access_key, api.secret_key)}
    envelope(api.raw("auth.get_credentials", headers=basic), 200)


def test_an_expired_token_is_401_30(api: ClearmlApi) -> None:
    token = api.login(expiration_sec=1)
    bearer = {"Authorization": f"Bearer {token}"}
    envelope(api.raw("auth.get_credentials", headers=bearer), 200)
    time.sleep(max(0.0, claims(token)["exp"] - time.time()) + 0.05)
    envelope(api.raw("auth.get_credentials", headers=bearer), 401, 30)


SDK_LOGIN = """
import json
from clearml.backend_api import Session
from clearml.backend_api.session.token_manager import TokenManager

session = Session()
token = TokenManager.get_decoded_token(session.token)
print("VERSIONS", json.dumps([Session.api_version, Session.max_api_version,
                              Session.server_version, Session.feature_set]))
print("IDENTITY", json.dumps(token["identity"]))
found = session.send_request("auth", "get_credentials")
print("CREDENTIALS", found.status_code, json.dumps(found.json()["data"]))
missing = session.send_request("workers", "get_runtime_properties", json={"worker": "w"})
print("MISSING", missing.status_code)
"""


def test_the_official_sdk_logs_in_and_calls(clearml_live: LiveServer) -> None:
    done = run_sdk(clearml_live, SDK_LOGIN)
    assert done.returncode == 0, done.stderr
    lines = dict(line.split(" ", 1) for line in done.stdout.splitlines() if " " in line)
    # The SDK takes the version announced in the token (below 2.9 it fails; without one it
    # drops to its 2.9 code paths).
    assert json.loads(lines["VERSIONS"]) == ["2.31", "2.31", "2.0.0", "basic"]
    assert json.loads(lines["IDENTITY"])["company"] == "default"
    status, data = lines["CREDENTIALS"].split(" ", 1)
    assert status == "200"
    keys = [c["access_key"] for c in json.loads(data)["credentials"]]
    assert clearml_live.access_key in keys
    assert lines["MISSING"] == "404"


def test_the_official_sdk_reports_a_wrong_secret(clearml_live: LiveServer) -> None:
    script = """
    from clearml.backend_api import Session
    from clearml.backend_api.session.client import APIError
    try:
        Session()
    except Exception as exc:
        print("REFUSED", type(exc).__name__, exc)
    """
    done = run_sdk(clearml_live, script, CLEARML_API_SECRET_KEY="wrong-secret")
    assert "REFUSED LoginError" in done.stdout, done.stdout + done.stderr
    assert "error 401" in done.stdout


def test_credentials_are_the_callers_keypairs(clearml_live: LiveServer, api: ClearmlApi) -> None:
    alice = new_user(clearml_live, "alice@face.test")
    mine = ClearmlApi.of(clearml_live, alice)
    created = mine.call("auth.create_credentials", label="laptop")["credentials"]
    assert created["label"] == "laptop" and created["secret_key"]
    second = ClearmlApi(clearml_live.endpoint, created["access_key"], created["secret_key"])
    listed = {c["access_key"] for c in mine.call("auth.get_credentials")["credentials"]}
    assert listed == {alice.access_key, created["access_key"]}
    assert created["access_key"] not in {
        c["access_key"] for c in api.call("auth.get_credentials")["credentials"]
    }
    # Someone else's key looks unknown, and stays active.
    refused = api.raw("auth.revoke_credentials", {"access_key": created["access_key"]})
    envelope(refused, 400, 10)
    envelope(second.raw("auth.get_credentials"), 200)
    assert mine.call("auth.revoke_credentials", access_key=created["access_key"]) == {"revoked": 1}
    # Its tokens end with it (within the credential cache's lifetime), and so do logins.
    deadline = time.monotonic() + 5
    while (answer := second.raw("auth.get_credentials")).status_code == 200:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    envelope(answer, 401, 30)
    with pytest.raises(ClearmlCallError) as refused_login:
        second.login()
    assert (refused_login.value.code, refused_login.value.subcode) == (401, 22)
    again = mine.call("auth.revoke_credentials", access_key=created["access_key"])
    assert again == {"revoked": 0}
    for client in (mine, second):
        client.close()


def test_credentials_keep_labels_their_owner_edits(
    clearml_live: LiveServer, api: ClearmlApi
) -> None:
    bob = new_user(clearml_live, "bob@face.test")
    mine = ClearmlApi.of(clearml_live, bob)
    created = mine.call("auth.create_credentials", label="ci runner")["credentials"]
    key = created["access_key"]

    def labels() -> dict[str, str | None]:
        listed = mine.call("auth.get_credentials")["credentials"]
        return {c["access_key"]: c.get("label") for c in listed}

    assert labels() == {bob.access_key: None, key: "ci runner"}
    assert mine.call("auth.edit_credentials", access_key=key, label="laptop") == {"updated": 1}
    assert mine.call("auth.edit_credentials", access_key=bob.access_key, label="first")
    assert labels() == {bob.access_key: "first", key: "laptop"}
    envelope(api.raw("auth.edit_credentials", {"access_key": key, "label": "theirs"}), 400, 10)
    envelope(mine.raw("auth.edit_credentials", {"access_key": key}), 400, 11)
    envelope(mine.raw("auth.edit_credentials", {"access_key": key, "label": "x" * 300}), 400, 12)
    assert labels()[key] == "laptop"
    assert mine.call("auth.logout") == {}
    mine.close()


def test_the_official_sdk_renews_a_given_token(clearml_live: LiveServer, api: ClearmlApi) -> None:
    """CLEARML_AUTH_TOKEN instead of key and secret: the SDK trades it for a fresh token."""
    given = api.login(expiration_sec=7200)
    script = f"""
    from clearml.backend_api import Session
    session = Session()
    print("RENEWED", session.token != {given!r})
    print("CALL", session.send_request("auth", "get_credentials").status_code)
    """
    done = run_sdk(
        clearml_live, script, CLEARML_AUTH_TOKEN=given,
        CLEARML_API_ACCESS_KEY="", CLEARML_API_SECRET_KEY="",
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "RENEWED True" in done.stdout and "CALL 200" in done.stdout


def test_validate_token_says_whose_a_token_is(api: ClearmlApi) -> None:
    token = api.login()
    valid = api.call("auth.validate_token", token=token)
    assert valid["valid"] is True and valid["company"] == "default"
    assert valid["user"] == claims(token)["identity"]["user"]
    invalid = api.call("auth.validate_token", token=token[:-4] + "AAAA")
    assert invalid["valid"] is False and invalid["msg"]
