"""The official backend.ai-client 22.3.2 (SDK and CLI) against a real ``hangar server``."""

from __future__ import annotations

import json
import time

import httpx
import pytest

from tests.support.live import LiveServer

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("official_client")]

PROBE = """
import asyncio, json, sys
from datetime import timedelta
from ai.backend.client.session import AsyncSession
from ai.backend.client.request import Request
from ai.backend.client.exceptions import BackendAPIError

SKEW = float(sys.argv[1]) if len(sys.argv) > 1 else 0.0
if SKEW:
    original = Request._sign
    def skewed(self, *args, **kwargs):
        self.date = self.date + timedelta(minutes=SKEW)
        self.headers["Date"] = self.date.isoformat()
        return original(self, *args, **kwargs)
    Request._sign = skewed

async def main():
    async with AsyncSession() as session:
        out = {"api_version": list(session.api_version)}
        rqst = Request("POST", "/auth/test")
        rqst.set_json({"echo": "over the wire"})
        try:
            async with rqst.fetch() as resp:
                out.update(status=resp.status, body=await resp.json())
        except BackendAPIError as e:
            out.update(status=e.status, body=e.data)
    print(json.dumps(out))
asyncio.run(main())
"""


def probe(server: LiveServer, skew_minutes: float = 0, **env: str) -> dict[str, object]:
    script = PROBE.replace("float(sys.argv[1]) if len(sys.argv) > 1 else 0.0", str(skew_minutes))
    done = server.official_python(script, **env)
    assert done.returncode == 0, done.stderr
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def test_cli_config_negotiates_the_version(live_server: LiveServer) -> None:
    done = live_server.official("config")
    assert done.returncode == 0, done.stderr
    assert f"API endpoint: {live_server.endpoint}" in done.stdout
    assert "Server version: 22.03.2 (API: v6.20220315)" in done.stdout
    assert "Negotiated API version: (6, '20220315')" in done.stdout


def test_sdk_session_signs_requests_that_hangar_accepts(live_server: LiveServer) -> None:
    result = probe(live_server)
    assert result["api_version"] == [6, "20220315"]
    assert result["status"] == 200
    assert result["body"] == {"authorized": "yes", "echo": "over the wire"}


def test_wrong_secret_is_auth_failed(live_server: LiveServer) -> None:
    result = probe(live_server, BACKEND_SECRET_KEY="x" * 40)
    assert result["status"] == 401
    body = result["body"]
    assert isinstance(body, dict)
    assert body["type"] == "https://api.backend.ai/probs/auth-failed"
    assert body["msg"] == "Signature mismatch"


def test_unknown_key_and_anonymous(live_server: LiveServer) -> None:
    assert probe(live_server, BACKEND_ACCESS_KEY="AKIAUNKNOWN000000000")["status"] == 401
    assert probe(live_server, BACKEND_ACCESS_KEY="")["status"] == 401


@pytest.mark.parametrize("minutes", [-20, 20])
def test_skewed_date_is_rejected(live_server: LiveServer, minutes: int) -> None:
    result = probe(live_server, skew_minutes=minutes)
    assert result["status"] == 400
    body = result["body"]
    assert isinstance(body, dict)
    assert body["type"] == "https://api.backend.ai/probs/invalid-auth-params"
    assert probe(live_server, skew_minutes=minutes / 4)["status"] == 200


def test_keypair_made_and_deactivated_with_the_admin_cli(live_server: LiveServer) -> None:
    made = live_server.hangar("admin", "keypair", "create", "--email", "admin@hangar.local")
    assert made.returncode == 0, made.stderr
    lines = dict(line.split(": ", 1) for line in made.stdout.strip().splitlines())
    access_key, secret_key = lines["Access key"], lines["Secret key"]
    keys = {"BACKEND_ACCESS_KEY": access_key, "BACKEND_SECRET_KEY": secret_key}
    assert probe(live_server, **keys)["status"] == 200

    listed = json.loads(live_server.hangar("admin", "keypair", "list", "--json").stdout)
    assert {item["access_key"] for item in listed["items"]} == {live_server.access_key, access_key}

    off = live_server.hangar("admin", "keypair", "deactivate", access_key)
    assert off.returncode == 0, off.stderr
    deadline = time.monotonic() + 10
    while probe(live_server, **keys)["status"] != 401:
        assert time.monotonic() < deadline, "the deactivated keypair is still accepted"
    assert probe(live_server)["status"] == 200  # other keys are unaffected

    missing = live_server.hangar("admin", "keypair", "deactivate", "AKIANOSUCHKEY")
    assert missing.returncode == 1
    assert "No such keypair" in missing.stderr


def test_console_login_update_password_logout(live_server: LiveServer) -> None:
    session_env = {"BACKEND_ENDPOINT_TYPE": "session"}
    bad = live_server.official("login", input="admin@hangar.local\nwrong-password\n", **session_env)
    assert bad.returncode == 1
    assert "Login failed" in bad.stdout + bad.stderr

    good = live_server.official(
        "login", input=f"admin@hangar.local\n{live_server.password}\n", **session_env
    )
    assert good.returncode == 0, good.stdout + good.stderr
    assert "Login succeeded" in good.stdout + good.stderr

    changed = live_server.official(
        "update-password", live_server.password, "brand-new-pass", "brand-new-pass", **session_env
    )
    assert changed.returncode == 0, changed.stdout + changed.stderr

    out = live_server.official("logout", **session_env)
    assert out.returncode == 0, out.stdout + out.stderr

    old = live_server.official(
        "login", input=f"admin@hangar.local\n{live_server.password}\n", **session_env
    )
    assert old.returncode == 1
    new = live_server.official("login", input="admin@hangar.local\nbrand-new-pass\n", **session_env)
    assert new.returncode == 0, new.stdout + new.stderr


def test_announcement_and_manager_status_via_cli(live_server: LiveServer) -> None:
    done = live_server.official("admin", "manager", "status")
    assert done.returncode == 0, done.stderr
    assert "running" in done.stdout
    posted = live_server.official("admin", "announcement", "update", "-m", "Disk swap at noon")
    assert posted.returncode == 0, posted.stdout + posted.stderr
    shown = live_server.official("admin", "announcement", "get")
    assert "Disk swap at noon" in shown.stdout + shown.stderr


def test_first_start_prints_once_and_restart_keeps_keys(live_server: LiveServer) -> None:
    log = live_server.log_path.read_text()
    assert log.count(live_server.secret_key) >= 1
    assert "BACKEND_SECRET_KEY" in log
    live_server.stop()
    live_server.log_path.write_text("")
    live_server.start()
    assert "Secret key" not in live_server.log_path.read_text()
    assert live_server.secret_key not in live_server.log_path.read_text()
    assert probe(live_server)["status"] == 200


def test_logs_are_structured_and_never_hold_secrets(live_server: LiveServer) -> None:
    probe(live_server)
    probe(live_server, BACKEND_SECRET_KEY="x" * 40)
    deadline = time.monotonic() + 10
    while True:  # access lines are written in batches, a fraction of a second later
        events = [json.loads(line) for line in live_server.log_path.read_text().splitlines()
                  if line.startswith("{")]  # fmt: skip
        access = [e for e in events if e["logger"] == "hangar.access"]
        if any("POST /auth/test 401" in e["msg"] for e in access) or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert any("POST /auth/test 200" in e["msg"] for e in access)
    assert any("POST /auth/test 401" in e["msg"] for e in access)
    assert len({e["request_id"] for e in access}) == len(access)  # one id per request
    for event in events:
        assert live_server.secret_key not in json.dumps(event)
    metrics = httpx.get(live_server.endpoint + "/metrics").text
    assert 'hangar_http_requests_total{face="bai",method="POST",status="401"}' in metrics
