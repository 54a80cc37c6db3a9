"""A real ``hangar server`` process on a free loopback port, and the clients that drive it."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import tomllib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tests.support.bai import Signer

ROOT = Path(__file__).resolve().parents[2]
OFFICIAL = ROOT / ".official-clients"
BAI_CLI = OFFICIAL / "bai" / "bin" / "backend.ai"
BAI_PYTHON = OFFICIAL / "bai" / "bin" / "python"
HANGAR = Path(sys.executable).parent / "hangar"


def wait_for(check: Callable[[], Any], what: str, timeout: float = 60.0, every: float = 0.3) -> Any:
    """Poll ``check`` until it returns something true and return that; fail naming ``what``
    once ``timeout`` seconds have passed."""
    deadline = time.monotonic() + timeout
    while not (found := check()):
        assert time.monotonic() < deadline, what
        time.sleep(every)
    return found


def terminate(proc: subprocess.Popen[bytes] | None, grace: float) -> None:
    """SIGTERM, then SIGKILL to the whole process group after ``grace`` seconds."""
    if proc is not None and proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


END_SESSIONS = """
import asyncio
from hangar.agent.build import build_node
from hangar.settings import load_settings

async def main() -> None:
    node = build_node(load_settings())
    if node is not None:
        for kernel_id in await node.recover():
            await node.destroy_kernel(kernel_id)
        await node.shutdown()  # waits for the removals

asyncio.run(main())
"""


def end_sessions(env: dict[str, str], data_dir: Path) -> None:
    """Destroy the kernels a stopped server or agent left running (sessions outlive it):
    a test's sessions must not outlive the test."""
    kept = data_dir / "agent" / "kept"
    if kept.is_dir() and any(kept.iterdir()):
        done = subprocess.run([sys.executable, "-c", END_SESSIONS], env=env, timeout=120,
                              check=False, capture_output=True, text=True)  # fmt: skip
        if done.returncode != 0:
            raise RuntimeError(f"could not end the sessions left in {data_dir}:\n{done.stderr}")


@dataclass
class LiveServer:
    home: Path
    database_url: str
    proc: subprocess.Popen[bytes] | None = None
    endpoint: str = ""
    access_key: str = ""
    secret_key: str = ""
    password: str = ""
    extra_env: dict[str, str] = field(default_factory=dict)

    @property
    def data_dir(self) -> Path:
        return self.home / "data"

    @property
    def log_path(self) -> Path:
        return self.home / "server.log"

    def server_env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("HANGAR_", "BACKEND_"))}
        env.update(
            HOME=str(self.home),
            XDG_CONFIG_HOME=str(self.home / "config"),
            HANGAR_DATA_DIR=str(self.data_dir),
            HANGAR_DATABASE_URL=self.database_url,
            HANGAR_HOST="127.0.0.1",
            HANGAR_PORT="0",
            HANGAR_LOG_FORMAT="json",
            HANGAR_AUTH_CACHE_SECONDS="0.2",
            # No pre-started kernel or pre-built sandbox per server: the suite starts hundreds
            # of servers, and the pools have their own tests (tests/component/agent/
            # test_agent_query_kernel.py, test_agent_sandbox_pool.py).
            HANGAR_KERNEL_POOL_SIZE="0",
            HANGAR_SANDBOX_POOL_SIZE="0",
            # No loop-mounted scratch disk per session: sessions outlive a stopped test server,
            # and their mounts would pile up; the disks have their own tests
            # (tests/integration/test_bai_scratch_disk.py, which turns them on).
            HANGAR_SESSION_DEFAULT_DISK="0",
        )
        env.update(self.extra_env)
        return env

    def client_env(self, **overrides: str) -> dict[str, str]:
        """Environment for the official client (and ours) pointing at this server."""
        env = self.server_env()
        env.update(
            BACKEND_ENDPOINT=self.endpoint,
            BACKEND_ENDPOINT_TYPE="api",
            BACKEND_ACCESS_KEY=self.access_key,
            BACKEND_SECRET_KEY=self.secret_key,
        )
        env.update(overrides)
        return env

    def start(self, timeout: float = 30.0) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [str(HANGAR), "server"],
            env=self.server_env(),
            stdout=log,
            stderr=log,
            start_new_session=True,
        )
        config_path = self.home / "config" / "hangar" / "client.toml"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"hangar server exited:\n{self.log_path.read_text()}")
            if config_path.exists() and self._healthy(config_path):
                return
            time.sleep(0.05)
        raise TimeoutError(f"hangar server did not start:\n{self.log_path.read_text()}")

    def _healthy(self, config_path: Path) -> bool:
        config = tomllib.loads(config_path.read_text())
        try:
            ok = httpx.get(config["endpoint"] + "/healthz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False
        if ok:
            self.endpoint = config["endpoint"]
            self.access_key, self.secret_key = config["access_key"], config["secret_key"]
            self.password = self._first_password()
        return ok

    def _first_password(self) -> str:
        for line in self.log_path.read_text().splitlines():
            if "Password" in line:
                return line.split("Password", 1)[1].strip(" │|\t")
        return ""

    def stop(self, *, keep_sessions: bool = False) -> None:
        """Stop the server; its sessions' processes are ended too unless ``keep_sessions``
        (a restart)."""
        terminate(self.proc, 10)
        if not keep_sessions:
            end_sessions(self.server_env(), self.data_dir)

    def hangar(
        self, *args: str, input: str | None = None, cwd: Path | None = None, **env: str
    ) -> subprocess.CompletedProcess[str]:
        """Our CLI, configured by the client config file the server wrote (plus ``env``)."""
        return subprocess.run(
            [str(HANGAR), *args],
            env={**self.server_env(), **env},
            input=input,
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=60,
        )

    def official(
        self, *args: str, input: str | None = None, cwd: Path | None = None, **env: str
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(BAI_CLI), *args],
            env=self.client_env(**env),
            input=input,
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=120,
            start_new_session=True,
        )

    def official_python(
        self, script: str, cwd: Path | None = None, **env: str
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(BAI_PYTHON), "-c", script],
            env=self.client_env(**env),
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=120,
        )

    def signed(self, method: str, target: str, json_body: Any = None) -> httpx.Response:
        """A request signed with the admin keypair, as the official client signs it."""
        host = self.endpoint.split("://", 1)[1]
        signer = Signer(self.access_key, self.secret_key, host=host)
        ctype = "application/json" if json_body is not None else "text/plain"
        headers = signer.headers(method, target, content_type=ctype)
        return httpx.request(
            method, self.endpoint + target, headers=headers, json=json_body, timeout=60
        )

    def sessions_alive(self) -> list[dict[str, str]]:
        """The admin's sessions that are not terminated or cancelled, oldest first."""
        query = (
            'query { compute_session_list(limit: 100, offset: 0, order: "created_at", status: '
            '"PENDING,SCHEDULED,PREPARING,PULLING,RUNNING,RESTARTING,TERMINATING,ERROR") '
            "{ items { id name status } total_count } }"
        )
        response = self.signed("POST", "/admin/gql", {"query": query, "variables": {}})
        response.raise_for_status()
        items: list[dict[str, str]] = response.json()["data"]["compute_session_list"]["items"]
        return items


@dataclass
class LiveAgent:
    """A real ``hangar agent --manager`` process reporting to ``server``."""

    server: LiveServer
    home: Path
    agent_id: str = "i-remote"
    token_file: Path | None = None  # default: the manager's own token file
    extra_env: dict[str, str] = field(default_factory=dict)
    port: int = 0
    proc: subprocess.Popen[bytes] | None = None
    scaling_group: str = "default"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.home / "agent.log"

    def start(self) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        if not self.port:
            with socket.socket() as probe:
                probe.bind(("127.0.0.1", 0))
                self.port = probe.getsockname()[1]
        env = self.agent_env()
        token_file = self.token_file or self.server.data_dir / "agent-token"
        command = [str(HANGAR), "agent", "--manager", self.server.endpoint, "--host", "127.0.0.1",
                   "--port", str(self.port), "--token-file", str(token_file),
                   "--scaling-group", self.scaling_group]  # fmt: skip
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                command, env=env, stdout=log, stderr=log, start_new_session=True
            )

    def agent_env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("HANGAR_", "BACKEND_"))}
        env.update(
            HANGAR_DATA_DIR=str(self.home / "data"), HANGAR_AGENT_ID=self.agent_id,
            HANGAR_KERNEL_POOL_SIZE="0", HANGAR_SANDBOX_POOL_SIZE="0",
            HANGAR_AGENT_HEARTBEAT_SECONDS="0.5",
            HANGAR_SESSION_DEFAULT_DISK="0",
            HANGAR_LOG_FORMAT="json",
        )  # fmt: skip
        env.update(self.extra_env)
        return env

    def status(self) -> str | None:
        query = "query($id: String!) { agent(agent_id: $id) { status } }"
        response = self.server.signed(
            "POST", "/admin/gql", {"query": query, "variables": {"id": self.agent_id}}
        )
        response.raise_for_status()
        agent = response.json()["data"]["agent"]
        return agent["status"] if agent else None

    def wait_status(self, status: str, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while (now := self.status()) != status:
            if time.monotonic() > deadline:
                raise TimeoutError(f"agent is {now}, not {status}:\n{self.log_path.read_text()}")
            time.sleep(0.1)

    def signal(self, signum: int) -> None:
        assert self.proc is not None
        os.killpg(self.proc.pid, signum)

    def stop(self, *, keep_sessions: bool = False) -> None:
        terminate(self.proc, 20)
        if not keep_sessions:
            end_sessions(self.agent_env(), self.home / "data")


def running_agent(agent: LiveAgent) -> Iterator[LiveAgent]:
    """``agent`` started and ALIVE, stopped at the end: ``yield from running_agent(...)``."""
    agent.start()
    try:
        agent.wait_status("ALIVE")
        yield agent
    finally:
        agent.stop()


def listening_url(server: LiveServer, timeout: float = 30.0) -> str:
    """The URL ``server`` says it listens on, once it answers there."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if found := re.search(r"listening on (http://[\d.:]+)", server.log_path.read_text()):
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(found[1] + "/healthz", timeout=1).status_code == 200:
                    return found[1]
        time.sleep(0.05)
    raise TimeoutError(f"no server listening:\n{server.log_path.read_text()}")


def both_running(first: LiveServer, second: LiveServer) -> Iterator[tuple[LiveServer, LiveServer]]:
    """Two servers on one database: ``first`` started, then ``second`` with a copy of its
    client config (it finds the admin ``first`` made and writes none) once it listens; both
    stopped at the end: ``yield from both_running(a, b)``."""
    try:
        first.start()
        shutil.copytree(first.home / "config", second.home / "config")
        try:
            second.start()
            second.endpoint = listening_url(second)
            yield first, second
        finally:
            second.stop()
    finally:
        first.stop()
