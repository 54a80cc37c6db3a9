"""QUEUE tasks of a serverless endpoint through a fresh ``hangar server`` (run by
``bench/serverless.py queue``; this module holds the part's code).

Against a temporary data dir (SQLite unless ``HANGAR_BENCH_DATABASE_URL``), one QUEUE
endpoint of CPU workers (the host-Python image, an init command serving HTTP on 8080 that
answers each task with the time it received it):

* ``latency``  with one idle worker, ``--latency-count`` tasks one after the other: from
               just before the submit request until the worker's receipt time (the same
               host clock). Headline: median (target <= 10 ms).
* ``drain``    ``BENCH_QUEUE_TASKS`` tasks (default 10000) submitted (32 at a time) to
               ``BENCH_QUEUE_WORKERS`` workers (4; each takes a CPU core: where the
               server's agent has fewer cores, more ``hangar agent`` processes on this
               machine join its scaling group, ``BENCH_QUEUE_AGENTS`` in all; the workers
               on them are reached over their agents' links), each with a webhook to
               a loopback receiver; measured: submit rate,
               drain time (first submit -> every task finished), tasks/s. Checked: every
               task SUCCESS, each received by a worker exactly once (the worker counts),
               each webhook delivered once. Reported: webhook deliveries/s over the drain.
"""

from __future__ import annotations

import asyncio
import base64
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import tomllib
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx

WORKER = r"""
import json, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
seen = {}
class H(BaseHTTPRequestHandler):
    def do_GET(self):
        self.answer({"ok": True})
    def do_POST(self):
        at = time.time()
        data = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
        i = data.get("i")
        seen[i] = seen.get(i, 0) + 1
        self.answer({"at": at, "i": i, "times": seen[i]})
    def answer(self, obj):
        out = json.dumps(obj).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)
    def log_message(self, *args):
        pass
ThreadingHTTPServer(("0.0.0.0", 8080), H).serve_forever()
"""
INIT = (
    "exec /usr/bin/python3 -c \"import base64; exec(base64.b64decode('"
    + base64.b64encode(WORKER.encode()).decode()
    + "'))\""
)
END_SESSIONS = """
import asyncio
from hangar.agent.build import build_node
from hangar.settings import load_settings
async def main():
    node = build_node(load_settings())
    if node is not None:
        for kernel_id in await node.recover():
            await node.destroy_kernel(kernel_id)
        await node.shutdown()
asyncio.run(main())
"""


@dataclass
class Server:
    proc: subprocess.Popen[bytes]
    home: Path
    env: dict[str, str]
    endpoint: str = ""
    key: str = ""
    agents: list[tuple[subprocess.Popen[bytes], dict[str, str]]] = field(default_factory=list)

    def stop(self) -> None:
        for proc, env in self.agents:  # their sessions end with them
            if proc.poll() is None:
                proc.send_signal(2)
                try:
                    proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
            subprocess.run([sys.executable, "-c", END_SESSIONS], env=env, timeout=120,
                           check=False, capture_output=True)  # fmt: skip
        if self.proc.poll() is None:
            self.proc.send_signal(2)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        subprocess.run([sys.executable, "-c", END_SESSIONS], env=self.env, timeout=120,
                       check=False, capture_output=True)  # fmt: skip


def start_server(home: Path) -> Server:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HANGAR_", "BACKEND_"))}
    env.update(
        HOME=str(home), HANGAR_DATA_DIR=str(home / "data"), HANGAR_HOST="127.0.0.1",
        HANGAR_PORT="0", HANGAR_LOG_LEVEL="WARNING", HANGAR_DEFAULT_RATE_LIMIT=str(10**9),
        XDG_CONFIG_HOME=str(home / "config"), NO_COLOR="1", HANGAR_KERNEL_POOL_SIZE="0",
        HANGAR_SANDBOX_POOL_SIZE="0", HANGAR_SESSION_DEFAULT_DISK="0",
        HANGAR_ENDPOINT_CHECK_SECONDS="0.5",
        HANGAR_ENDPOINT_TASK_CONCURRENCY=os.environ.get("BENCH_QUEUE_CONCURRENCY", "1"),
    )  # fmt: skip
    if os.environ.get("HANGAR_BENCH_DATABASE_URL"):
        env["HANGAR_DATABASE_URL"] = os.environ["HANGAR_BENCH_DATABASE_URL"]
    exe = Path(sys.executable).with_name("hangar")
    with (home / "server.log").open("wb") as log:
        proc = subprocess.Popen([str(exe), "server"], env=env, stdout=log, stderr=log,
                                cwd=home, start_new_session=True)  # fmt: skip
    server = Server(proc, home, env)
    config_path = home / "config" / "hangar" / "client.toml"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("hangar server exited")
        if config_path.exists():
            config = tomllib.loads(config_path.read_text())
            try:
                ok = httpx.get(config["endpoint"] + "/healthz", timeout=1).status_code == 200
            except httpx.HTTPError:
                ok = False
            if ok:
                server.endpoint, server.key = config["endpoint"], config["api_key"]
                return server
        time.sleep(0.05)
    server.stop()
    raise RuntimeError("hangar server did not start")


def agents_needed(workers: int) -> int:
    """Agents (the server's own first) whose cores hold ``workers`` one-core workers."""
    cores = len(os.sched_getaffinity(0))
    return int(os.environ.get("BENCH_QUEUE_AGENTS", str(max(1, -(-workers // cores)))))


def start_agents(server: Server, count: int) -> list[subprocess.Popen[bytes]]:
    """``count`` more ``hangar agent`` processes in the server's scaling group."""
    found = []
    exe = Path(sys.executable).with_name("hangar")
    for n in range(count):
        home = server.home / f"agent{n}"
        home.mkdir()
        env = {**server.env, "HANGAR_DATA_DIR": str(home / "data"), "HANGAR_AGENT_ID": f"i-q{n}"}
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        argv = [str(exe), "agent", "--manager", server.endpoint, "--host", "127.0.0.1",
                "--port", str(port), "--token-file", str(server.home / "data" / "agent-token"),
                "--scaling-group", "default"]  # fmt: skip
        with (home / "agent.log").open("wb") as log:
            found.append(subprocess.Popen(argv, env=env, stdout=log, stderr=log, cwd=home,
                                          start_new_session=True))  # fmt: skip
        server.agents.append((found[-1], env))
    return found


def data(answer: httpx.Response) -> Any:
    body = answer.json()
    if body.get("code") != 10000:
        raise RuntimeError(f"{answer.request.url}: {body}")
    return body["data"]


def wait_for(http: httpx.Client, eid: str, running: int, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        shown = data(http.get(f"/v2/serverless/{eid}"))
        if shown["runningWorkers"] >= running:
            return
        time.sleep(0.2)
    raise RuntimeError(f"endpoint {eid}: {running} workers did not come up")


def create_endpoint(http: httpx.Client) -> str:
    made = data(http.post("/v2/serverless", json={
        "name": "bench-q", "image": "python:3", "resources": [{"region": "local", "gpuCount": 0}],
        "workers": 1, "containerVolumeInGb": 20, "serviceMode": "QUEUE",
        "initializationCommand": INIT, "expose": {"port": 8080, "protocol": "http"},
    }))  # fmt: skip
    return str(made["id"])


def latency(http: httpx.Client, eid: str, count: int) -> list[float]:
    """Submit -> the worker's receipt, in ms, one idle worker, one task at a time."""
    found = []
    for i in range(count):
        t0 = time.time()
        body = {"input": {"i": f"lat{i}"}, "workerPort": 8080, "processUri": "/run"}
        key = data(http.post(f"/v2/serverless/{eid}/tasks", json=body))["taskId"]
        while (task := data(http.get(f"/v2/serverless/{eid}/tasks/{key}")))["status"] not in (
            "SUCCESS", "FAILED"):  # fmt: skip
            time.sleep(0.002)
        found.append((task["output"]["at"] - t0) * 1000)
    return found


class Receiver:
    def __init__(self) -> None:
        self.times: list[float] = []
        self.keys: list[str] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                receiver.times.append(time.monotonic())
                receiver.keys.append(body.split(b'"user_task_id": "', 1)[1].split(b'"', 1)[0]
                                     .decode())  # fmt: skip
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        class Server(ThreadingHTTPServer):
            request_queue_size = 512  # the default 5 refuses bursts of deliveries

        self.server = Server(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"


async def submit_all(base: str, key: str, eid: str, count: int, hook: str) -> float:
    """Submit ``count`` tasks, 32 at a time; the submit rate."""
    started = time.monotonic()
    async with httpx.AsyncClient(base_url=base, headers={"X-Api-Key": key}, timeout=60) as http:
        queue = list(range(count))

        async def one() -> None:
            while queue:
                i = queue.pop()
                body = {"taskId": f"d{i}", "input": {"i": f"d{i}"}, "workerPort": 8080,
                        "processUri": "/run", "webhook": hook}  # fmt: skip
                data(await http.post(f"/v2/serverless/{eid}/tasks", json=body))

        await asyncio.gather(*(one() for _ in range(32)))
    return count / (time.monotonic() - started)


async def check_all(base: str, key: str, eid: str, count: int) -> tuple[int, int]:
    """(tasks not SUCCESS, tasks a worker received more than once)."""
    bad = twice = 0
    async with httpx.AsyncClient(base_url=base, headers={"X-Api-Key": key}, timeout=60) as http:
        queue = list(range(count))

        async def one() -> None:
            nonlocal bad, twice
            while queue:
                i = queue.pop()
                task = data(await http.get(f"/v2/serverless/{eid}/tasks/d{i}"))
                bad += task["status"] != "SUCCESS"
                twice += (task["output"] or {}).get("times", 0) != 1

        await asyncio.gather(*(one() for _ in range(16)))
    return bad, twice


def drain(server: Server, http: httpx.Client, eid: str, count: int) -> int:
    workers = int(os.environ.get("BENCH_QUEUE_WORKERS", "4"))
    agents = agents_needed(workers)
    start_agents(server, agents - 1)
    data(http.put(f"/v2/serverless/{eid}/workers", params={"count": workers}))
    wait_for(http, eid, workers)
    receiver = Receiver()
    started = time.monotonic()
    rate = asyncio.run(submit_all(server.endpoint, server.key, eid, count, receiver.url))
    while data(http.get(f"/v2/serverless/{eid}/tasks/count"))["processing"]:
        time.sleep(0.05)
    drained = time.monotonic() - started
    while len(set(receiver.keys)) < count and time.monotonic() - started < drained + 120:
        time.sleep(0.05)
    hooks = len(set(receiver.keys))
    spread = (receiver.times[-1] - receiver.times[0]) if hooks > 1 else 0.0
    bad, twice = asyncio.run(check_all(server.endpoint, server.key, eid, count))
    duplicates = len(receiver.keys) - len(set(receiver.keys))
    slots = os.environ.get("BENCH_QUEUE_CONCURRENCY", "1")
    print(f"queue drain: {count} tasks, {workers} workers x {slots} on {agents} agent(s) "
          f"({len(os.sched_getaffinity(0))} cores): submitted at {rate:.0f}/s; "
          f"drained in {drained:.1f} s ({count / drained:.0f} tasks/s)")  # fmt: skip
    per_second = hooks / spread if spread else 0.0
    print(f"queue drain: not SUCCESS {bad}, received twice {twice}; webhooks {hooks}/{count} "
          f"({duplicates} duplicates), {per_second:.0f} deliveries/s")  # fmt: skip
    receiver.server.shutdown()
    return int(bool(bad or twice or duplicates or hooks != count))


def run(count: int, latency_count: int, keep: bool) -> int:
    home = Path(tempfile.mkdtemp(prefix="hangar-bench-queue-"))
    server = start_server(home)
    status = 0
    try:
        http = httpx.Client(base_url=server.endpoint, headers={"X-Api-Key": server.key},
                            timeout=60)  # fmt: skip
        eid = create_endpoint(http)
        wait_for(http, eid, 1)
        latency(http, eid, 5)  # warm up
        found = latency(http, eid, latency_count)
        cut = sorted(found)
        print(f"queue latency: submit -> worker receives, {latency_count} tasks: median "
              f"{statistics.median(found):.1f} ms, p90 {cut[int(len(cut) * 0.9)]:.1f} ms, "
              f"min {cut[0]:.1f} ms (target <= 10 ms)")  # fmt: skip
        if count:
            status |= drain(server, http, eid, count)
        http.post(f"/v2/serverless/{eid}/stop")
    finally:
        server.stop()
        if not keep:
            shutil.rmtree(home, ignore_errors=True)
    return status
