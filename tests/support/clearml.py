"""Driving the ClearML face of a live server: the official SDK in a subprocess, a raw client
for the API, and users with their own credentials.

    api = ClearmlApi.of(server)                      # the admin's credentials
    data = api.call("tasks.get_all", name="^x$")     # the envelope's data; ClearmlCallError else
    done = run_sdk(server, "from clearml import Task; ...", user=alice)
"""

from __future__ import annotations

import base64
import itertools
import json
import re
import subprocess
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.live import OFFICIAL, LiveServer

CLEARML_PYTHON = OFFICIAL / "clearml" / "bin" / "python"
CLEARML_AGENT = OFFICIAL / "clearml-agent" / "bin" / "clearml-agent"
_scripts = itertools.count(1)


@dataclass(frozen=True)
class ClearmlUser:
    """A Hangar user and one credential (a keypair) of theirs."""

    email: str
    access_key: str
    secret_key: str


def admin_of(server: LiveServer) -> ClearmlUser:
    return ClearmlUser("admin@hangar.local", server.access_key, server.secret_key)


def new_user(server: LiveServer, email: str, *, domain: str = "default") -> ClearmlUser:
    """A new user of ``domain`` with a credential, made with ``hangar admin``."""
    done = server.hangar(
        "admin", "user", "create", "--email", email, "--password", "password-of-" + email,
        "--domain", domain,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    keys = dict(re.findall(r"(Access|Secret) key: (\S+)", done.stdout))
    return ClearmlUser(email, keys["Access"], keys["Secret"])


def users(server: str, tag: str) -> tuple[Any, Any, Any, Any]:
    """The module fixtures ``alice``, ``bob`` (two users of the default domain, emails
    ``alice@<tag>.test``, ``bob@<tag>.test``) and ``alice_api``, ``bob_api`` (their raw
    clients, closed at the end), on the live server of the fixture named ``server``::

        alice, bob, alice_api, bob_api = users("clearml_live", "events")
    """

    def user(name: str) -> Any:
        @pytest.fixture(scope="module", name=name)
        def made(request: pytest.FixtureRequest) -> ClearmlUser:
            return new_user(request.getfixturevalue(server), f"{name}@{tag}.test")

        return made

    def client(name: str) -> Any:
        @pytest.fixture(scope="module", name=f"{name}_api")
        def made(request: pytest.FixtureRequest) -> Iterator[ClearmlApi]:
            live: LiveServer = request.getfixturevalue(server)
            api = ClearmlApi.of(live, request.getfixturevalue(name))
            yield api
            api.close()

        return made

    return user("alice"), user("bob"), client("alice"), client("bob")


NO_FORK = "sdk { development { report_use_subprocess: false } }\n"
"""The SDK forks its reporter while other threads may hold its task file lock; under load the
fork sometimes keeps the lock and ``Task.init`` hangs inside the SDK (spec §10.7; reproduced
here: the forked child waits on a futex holding the flock). Test scripts report from a thread
instead unless a test names its own ``CLEARML_CONFIG_FILE``."""


def clearml_env(
    server: LiveServer, user: ClearmlUser | None = None, **extra: str
) -> dict[str, str]:
    """The environment of an official-client process: a clean HOME and the five variables
    a ClearML user sets (spec §2.1), pointing at ``server``."""
    user = user or admin_of(server)
    home = server.home / "clearml-home"
    home.mkdir(parents=True, exist_ok=True)
    env = {
        k: v for k, v in server.server_env().items() if not k.startswith(("CLEARML_", "TRAINS_"))
    }
    no_fork = home / "clearml-no-fork.conf"
    no_fork.write_text(NO_FORK)
    env.update(
        HOME=str(home),
        CLEARML_CONFIG_FILE=str(no_fork),
        CLEARML_API_HOST=server.endpoint,
        CLEARML_WEB_HOST=server.endpoint,
        CLEARML_FILES_HOST=server.endpoint + "/files",
        CLEARML_API_ACCESS_KEY=user.access_key,
        CLEARML_API_SECRET_KEY=user.secret_key,
        PYTHONUNBUFFERED="1",
    )
    env.update(extra)
    return env


def run_sdk(
    server: LiveServer,
    script: str,
    *,
    user: ClearmlUser | None = None,
    timeout: float = 180,
    cwd: Path | None = None,
    **env: str,
) -> subprocess.CompletedProcess[str]:
    """Run ``script`` (dedented) with the official SDK's Python, as a file (``Task.init``
    records the script it runs), configured for ``server`` as ``user`` (default: admin)."""
    folder = cwd or server.home / "clearml-scripts"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"script_{next(_scripts)}.py"
    path.write_text(textwrap.dedent(script))
    return subprocess.run(
        [str(CLEARML_PYTHON), str(path)],
        env=clearml_env(server, user, **env),
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=timeout,
        start_new_session=True,
    )


class ClearmlCallError(Exception):
    """An envelope with a result code other than 200."""

    def __init__(self, response: httpx.Response) -> None:
        meta = response.json()["meta"]
        self.status = response.status_code
        self.code: int = meta["result_code"]
        self.subcode: int = meta["result_subcode"]
        self.msg: str = meta["result_msg"]
        super().__init__(f"{self.code}/{self.subcode}: {self.msg}")


def basic_auth(access_key: str, secret_key: str) -> str:
    return "Basic " + base64.b64encode(f"{access_key}:{secret_key}".encode()).decode()


class ClearmlApi:
    """A raw client of the ClearML API: logs in with Basic credentials once, then sends
    ``Bearer`` calls the way the SDK does (GET with a JSON body, versioned path)."""

    def __init__(
        self, endpoint: str, access_key: str, secret_key: str, *, version: str | None = "2.23"
    ) -> None:
        self.endpoint = endpoint.rstrip("/")
        self.access_key, self.secret_key = access_key, secret_key
        self.version = version
        self.http = httpx.Client(timeout=60)
        self._token: str | None = None

    @classmethod
    def of(cls, server: LiveServer, user: ClearmlUser | None = None) -> ClearmlApi:
        user = user or admin_of(server)
        return cls(server.endpoint, user.access_key, user.secret_key)

    def url(self, name: str, version: str | None = None) -> str:
        """The URL of ``name``: at ``version``, the client's default for None, bare for ""."""
        version = self.version if version is None else version
        return f"{self.endpoint}/v{version}/{name}" if version else f"{self.endpoint}/{name}"

    def login(self, **query: Any) -> str:
        response = self.http.get(
            f"{self.endpoint}/auth.login",
            params=query,
            headers={"Authorization": basic_auth(self.access_key, self.secret_key)},
        )
        if response.status_code != 200:
            raise ClearmlCallError(response)
        token: str = response.json()["data"]["token"]
        return token

    @property
    def token(self) -> str:
        if self._token is None:
            self._token = self.login()
        return self._token

    def raw(
        self,
        name: str,
        body: Any = None,
        *,
        method: str = "GET",
        version: str | None = None,
        headers: dict[str, str] | None = None,
        content: bytes | None = None,
    ) -> httpx.Response:
        """One request as sent; ``headers`` replace the Bearer token's Authorization."""
        sent = {"Authorization": f"Bearer {self.token}", **(headers or {})}
        if content is None and body is not None:
            content = httpx.Request("GET", "/", json=body).content
            sent.setdefault("Content-Type", "application/json")
        return self.http.request(method, self.url(name, version), headers=sent, content=content)

    def call(self, endpoint: str, /, **body: Any) -> dict[str, Any]:
        """The data of a successful call; ClearmlCallError for any other envelope."""
        response = self.raw(endpoint, body)
        if response.status_code != 200:
            raise ClearmlCallError(response)
        data: dict[str, Any] = response.json()["data"]
        return data

    def close(self) -> None:
        self.http.close()


def clearml_server(
    home: Path, database_url: str | None = None, extra_env: dict[str, str] | None = None
) -> Iterator[LiveServer]:
    """A live server for a module's ClearML tests (SQLite unless ``database_url``), stopped
    at the end: ``yield from clearml_server(tmp_path_factory.mktemp("clearml"))``."""
    if not CLEARML_PYTHON.exists():
        raise RuntimeError("official clearml SDK missing: run scripts/install-official-clients.sh")
    server = LiveServer(
        home=home,
        database_url=database_url or f"sqlite+aiosqlite:///{home}/h.db",
        extra_env=extra_env or {},
    )
    server.start()
    try:
        yield server
    finally:
        server.stop()


def user_api(server: LiveServer, user: ClearmlUser) -> Iterator[ClearmlApi]:
    """``user``'s API client, closed at the end: ``yield from user_api(server, alice)``."""
    client = ClearmlApi.of(server, user)
    try:
        yield client
    finally:
        client.close()


def sdk(server: LiveServer, user: ClearmlUser, script: str) -> dict[str, Any]:
    """Runs ``script`` with the SDK as ``user``; its last printed line is JSON, returned parsed
    (with the whole output under ``_stdout``)."""
    done = run_sdk(server, script, user=user)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    assert lines, done.stdout[-3000:] + done.stderr[-3000:]
    result: dict[str, Any] = json.loads(lines[-1])
    result["_stdout"] = done.stdout
    return result
