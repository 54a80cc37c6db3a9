"""Driving the GPU-cloud face of a live server: the official ``yottaml`` SDK and ``yotta``
CLI in subprocesses, a raw HTTP client, and users with their own API keys.

    key = admin_key(server)                          # written into client.env at first start
    done = run_yotta(server, key, "gpus", "list")    # the official CLI
    body = CloudApi(server, key).get("/v2/vms/types")    # the whole envelope
"""

from __future__ import annotations

import json
import re
import subprocess
import textwrap
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from tests.support.live import OFFICIAL, LiveServer

YOTTA = OFFICIAL / "yotta"
YOTTA_PYTHON = YOTTA / "bin" / "python"
YOTTA_CLI = YOTTA / "bin" / "yotta"

FAKE_INVENTORY = (
    '[{"model": "NVIDIA GeForce RTX 4090", "memory": "24g", "count": 2},'
    ' {"model": "NVIDIA H100 80GB HBM3", "memory": "80g", "count": 1}]'
)
"""The agent's devices in the face's tests: 2x RTX 4090 and 1x H100."""


@dataclass(frozen=True)
class CloudUser:
    email: str
    key: str
    key_id: int


def client_config(server: LiveServer) -> dict[str, Any]:
    return tomllib.loads((server.home / "config" / "hangar" / "client.toml").read_text())


def admin_key(server: LiveServer) -> str:
    """The admin's API key the first start wrote into the client config."""
    return str(client_config(server)["api_key"])


def new_key(server: LiveServer, email: str, name: str = "") -> CloudUser:
    """A new API key of an existing user, made with ``hangar admin apikey create``."""
    done = server.hangar("admin", "apikey", "create", "--email", email, "--name", name)
    assert done.returncode == 0, done.stderr
    key_id = re.search(r"API key id: (\d+)", done.stdout)
    key = re.search(r"API key: (\S+)", done.stdout)
    assert key_id and key, done.stdout
    return CloudUser(email, key[1], int(key_id[1]))


def new_user(server: LiveServer, email: str) -> CloudUser:
    """A new user (``hangar admin user create``) with an API key."""
    done = server.hangar(
        "admin", "user", "create", "--email", email, "--password", "password-of-" + email
    )
    assert done.returncode == 0, done.stderr
    return new_key(server, email)


def yotta_env(server: LiveServer, key: str) -> dict[str, str]:
    return server.client_env(YOTTA_BASE_URL=server.endpoint, YOTTA_API_KEY=key)


def run_yotta(server: LiveServer, key: str, *args: str) -> subprocess.CompletedProcess[str]:
    """The official ``yotta`` CLI against the server."""
    return subprocess.run(
        [str(YOTTA_CLI), *args],
        env=yotta_env(server, key),
        capture_output=True,
        text=True,
        timeout=60,
    )


def run_sdk(server: LiveServer, key: str, script: str) -> subprocess.CompletedProcess[str]:
    """A script run by the official SDK's Python; ``BASE`` and ``KEY`` are defined for it."""
    prelude = "import os\nBASE = os.environ['YOTTA_BASE_URL']\nKEY = os.environ['YOTTA_API_KEY']\n"
    return subprocess.run(
        [str(YOTTA_PYTHON), "-c", prelude + textwrap.dedent(script)],
        env=yotta_env(server, key),
        capture_output=True,
        text=True,
        timeout=60,
    )


class CloudApi:
    """Raw HTTP to the face; each method returns the response (the envelope is its JSON)."""

    def __init__(self, server: LiveServer, key: str | None) -> None:
        headers = {"X-Api-Key": key} if key is not None else {}
        self.http = httpx.Client(base_url=server.endpoint, headers=headers, timeout=30)

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return self.http.request(method, path, **kwargs)

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("POST", path, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("DELETE", path, **kwargs)


def cloud_server(
    home: Path, database_url: str | None = None, extra_env: dict[str, str] | None = None
) -> Iterator[LiveServer]:
    """A live server with the fake inventory for a module's GPU-cloud tests (SQLite unless
    ``database_url``; ``extra_env`` adds settings): ``yield from
    cloud_server(tmp_path_factory.mktemp("cloud"))``."""
    if not YOTTA_CLI.exists():
        raise RuntimeError("official yottaml SDK missing: run scripts/install-official-clients.sh")
    server = LiveServer(
        home=home,
        database_url=database_url or f"sqlite+aiosqlite:///{home}/h.db",
        extra_env={"HANGAR_FAKE_ACCELERATORS": FAKE_INVENTORY, **(extra_env or {})},
    )
    server.start()
    try:
        yield server
    finally:
        server.stop()


SERVERLESS_ENV = {
    "HANGAR_ENDPOINT_CHECK_SECONDS": "0.3",
    "HANGAR_ENDPOINT_BACKOFF_SECONDS": "0.2",
    "HANGAR_ENDPOINT_WORKER_START_SECONDS": "30",
}
"""The endpoints' loop sped up for tests: a pass every 0.3 s, a failed worker replaced after
0.2 s, 30 s for a worker's port to answer."""


def serverless_server(home: Path, **settings: str) -> Iterator[LiveServer]:
    """A live server for a module's serverless tests: the fake inventory, the loop's timings
    of ``SERVERLESS_ENV``, and ``settings`` (``HANGAR_*`` variables) on top:
    ``yield from serverless_server(tmp_path_factory.mktemp("gw"), HANGAR_X="1")``."""
    yield from cloud_server(home, extra_env={**SERVERLESS_ENV, **settings})


GATEWAY_WORKER_PY = (Path(__file__).parent / "gateway_worker.py").read_text()


def create_scale_to_zero(server: LiveServer, key: str, name: str) -> Any:
    """Creates an ALB endpoint whose one H100 worker serves ``gateway_worker.py`` on 8080 and
    goes down to zero workers after 1 s without load; returns its id."""
    body = {
        "name": name, "image": "python:3", "serviceMode": "ALB", "workers": 1,
        "resources": [{"region": "local", "gpuType": "NVIDIA_H100_80G", "gpuCount": 1}],
        "containerVolumeInGb": 20, "initializationCommand": 'exec python3 -c "$WORKER_PY"',
        "environmentVars": [{"key": "WORKER_PY", "value": GATEWAY_WORKER_PY}],
        "expose": {"port": 8080, "protocol": "HTTP"},
        "minWorkers": 0, "maxWorkers": 1, "idleSeconds": 1,
    }  # fmt: skip
    created = httpx.post(server.endpoint + "/v2/serverless", json=body,
                         headers={"X-Api-Key": key}).json()  # fmt: skip
    assert created["code"] == 10000, created
    return created["data"]["id"]


def yotta_data(server: LiveServer, *args: str, key: str | None = None) -> Any:
    """``yotta <args>`` as the admin (or ``key``): the ``data`` of its success envelope."""
    done = run_yotta(server, key or admin_key(server), *args)
    assert done.returncode == 0, done.stdout + done.stderr
    body = json.loads(done.stdout)
    assert (body["code"], body["message"]) == (10000, "success"), body
    return body["data"]
