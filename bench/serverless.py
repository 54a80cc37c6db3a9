"""Serverless endpoints through a fresh ``hangar server``: the ALB gateway and QUEUE tasks.

Parts, run by name (default: all):

* ``alb``    requests/s and p50/p99 latency through the gateway to one worker against the
             same requests sent straight to the worker's port in the same run; a streaming
             (server-sent events) answer's first-byte delay; worker start on a cached image
             (create -> RUNNING) next to a bare session start of the same image; and
             the same GETs through bench/byte_relay.py, the floor of a Python proxy.
             Where the time goes (session 8, shared 2-core machine, load 7-15): the
             gateway opens no relay of the agent's; it connects into the worker's network
             namespace once and keeps the connection. The server spends ~60 us of CPU on a
             request the gateway refuses (uvicorn, middleware, key check) and ~130-150 us
             on one it passes on, against ~35 us per request for the test worker: with
             client, worker and server on the same 2 cores, an empty answer through any
             one-process Python proxy stays near 0.35-0.6x (the byte relay), the gateway
             near 0.1-0.2x. With 2 ms of work per request the gateway is at 1.0x.
* ``queue``  QUEUE tasks (submit -> worker receives it, draining through several workers,
             webhook deliveries/s).

    .venv/bin/python bench/serverless.py [alb] [queue] [--keep]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PARTS: dict[str, Callable[[argparse.Namespace], int]] = {}


def part(name: str) -> Callable[[Callable[[argparse.Namespace], int]], Callable[..., int]]:
    """Register a part of the bench under ``name`` (it returns an exit status)."""

    def register(run: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
        PARTS[name] = run
        return run

    return register


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("parts", nargs="*", help=f"parts to run (default: all of {list(PARTS)})")
    parser.add_argument("--keep", action="store_true", help="keep the servers' data dirs")
    args = parser.parse_args(argv)
    names = args.parts or list(PARTS)
    unknown = [n for n in names if n not in PARTS]
    if unknown:
        parser.error(f"unknown part(s) {unknown}; known: {list(PARTS)}")
    status = 0
    for name in names:
        status |= PARTS[name](args)
    return status


# --- ALB gateway (engineer G) ---------------------------------------------------------------


ALB_SECONDS = 4.0
SLICES = 8  # each side's seconds, in turns
ALB_CONCURRENCY = (1, 8)
SSE_EVENTS = 20
WORK_MS = 2
WORKER_MARK = "A serverless test worker"
Dial = Callable[[], Awaitable[tuple[asyncio.StreamReader, asyncio.StreamWriter]]]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _tcp(port: int) -> Dial:
    return lambda: asyncio.open_connection("127.0.0.1", port)


def _worker_netns() -> Path:
    """The network namespace of the endpoint's worker process (found by its script)."""
    own = os.stat("/proc/self/ns/net").st_ino
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
            netns = entry / "ns" / "net"
            ours = argv[0].endswith(b"python3") and WORKER_MARK.encode() in b" ".join(argv)
            if ours and netns.stat().st_ino != own:
                return netns
        except OSError:
            continue
    raise RuntimeError("the worker's process was not found")


def _in_netns(netns: Path, port: int) -> Dial:
    """Straight to the worker's port, from inside its network namespace."""
    from hangar.agent.runtimes.network import open_connection_in

    return lambda: open_connection_in(netns, "127.0.0.1", port)


async def _load(dial: Dial, head: bytes, seconds: float, concurrency: int) -> list[float]:
    """Keep-alive GETs from ``concurrency`` connections for ``seconds``: their latencies."""
    latencies: list[float] = []
    deadline = time.perf_counter() + seconds

    async def one_connection() -> None:
        reader, writer = await dial()
        try:
            while time.perf_counter() < deadline:
                started = time.perf_counter()
                writer.write(head)
                length = -1
                while (line := await reader.readline()) not in (b"\r\n", b""):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                await reader.readexactly(length)
                latencies.append(time.perf_counter() - started)
        finally:
            writer.close()

    await asyncio.gather(*(one_connection() for _ in range(concurrency)))
    return latencies


def _figures(latencies: list[float], seconds: float) -> tuple[float, float, float]:
    ordered = sorted(latencies)
    p50 = ordered[len(ordered) // 2] * 1000
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000
    return len(ordered) / seconds, p50, p99


async def _event_delays(dial: Dial, head: bytes) -> list[float]:
    """Delay from the worker's send (its timestamp in the event) to the event's arrival."""
    reader, writer = await dial()
    delays: list[float] = []
    try:
        writer.write(head)
        while len(delays) < SSE_EVENTS:
            line = await reader.readline()
            if not line:
                break
            if line.startswith(b"data: tok"):
                delays.append(time.time() - float(line.split()[-1]))
    finally:
        writer.close()
    return sorted(delays)


def _get(path: str, auth: bytes = b"") -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: x\r\n".encode() + auth + b"\r\n"


def _create_endpoint(server: Any, key: str, worker_py: str) -> tuple[str, float]:
    """An ALB endpoint with one worker of the test script (E1 as the SDK sends it); its id
    and create -> RUNNING (the worker's health check answered)."""
    body = {
        "name": "bench", "image": "python:3", "serviceMode": "ALB", "workers": 1,
        "resources": [{"region": "local", "gpuType": "NVIDIA_RTX_4090_24G", "gpuCount": 1}],
        "containerVolumeInGb": 20, "initializationCommand": 'exec python3 -c "$WORKER_PY"',
        "environmentVars": [{"key": "WORKER_PY", "value": worker_py}],
        "expose": {"port": 8080, "protocol": "HTTP"},
    }  # fmt: skip
    with httpx.Client(base_url=server.endpoint, headers={"X-Api-Key": key}) as http:
        started = time.perf_counter()
        eid = str(http.post("/v2/serverless", json=body).json()["data"]["id"])
        while http.get(f"/v2/serverless/{eid}").json()["data"]["runningWorkers"] < 1:
            time.sleep(0.02)
    return eid, time.perf_counter() - started


def _bare_session_start(server: Any, key: str) -> float:
    """A pod (a plain session) of the same image, create -> RUNNING; then deleted."""
    body = {"name": "bare", "image": "python:3", "gpuType": "NVIDIA_RTX_4090_24G", "gpuCount": 1}
    with httpx.Client(base_url=server.endpoint, headers={"X-Api-Key": key}) as http:
        started = time.perf_counter()
        pod = http.post("/v2/pods", json=body).json()["data"]["id"]
        while http.get(f"/v2/pods/{pod}").json()["data"]["status"] != "RUNNING":
            time.sleep(0.02)
        took = time.perf_counter() - started
        http.delete(f"/v2/pods/{pod}")
    return took


def _compare(
    gateway: tuple[Dial, bytes], worker: tuple[Dial, bytes], levels: tuple[int, ...],
    name: str = "gateway",
) -> int:  # fmt: skip
    """Throughput and latency, gateway (or ``name``) vs worker, per concurrency; 1 if a
    target is missed."""
    status = 0
    for concurrency in levels:
        straight: list[float] = []
        through: list[float] = []
        for _ in range(SLICES):  # alternating: a shared machine's load changes meanwhile
            straight += asyncio.run(_load(*worker, ALB_SECONDS / SLICES, concurrency))
            through += asyncio.run(_load(*gateway, ALB_SECONDS / SLICES, concurrency))
        d, g = _figures(straight, ALB_SECONDS), _figures(through, ALB_SECONDS)
        ratio, extra = g[0] / d[0], g[1] - d[1]
        print(f"c={concurrency}: worker {d[0]:6.0f} req/s p50 {d[1]:.2f} ms p99 {d[2]:.2f} ms"
              f" | {name} {g[0]:6.0f} req/s p50 {g[1]:.2f} ms p99 {g[2]:.2f} ms"
              f" | {ratio:.2f}x, p50 {extra:+.2f} ms")  # fmt: skip
        status |= int(ratio < 0.7 or extra > 2.0)
    return status


def _relay_floor(straight: tuple[Dial, bytes]) -> None:
    """The same GETs through bench/byte_relay.py (bytes passed on, nothing parsed or
    checked): what any one-process Python proxy can reach on this machine."""
    port = _free_port()
    relay = subprocess.Popen(
        [sys.executable, str(ROOT / "bench" / "byte_relay.py"), str(_worker_netns()), str(port),
         "8080"], stdout=subprocess.PIPE,
    )  # fmt: skip
    try:
        assert relay.stdout is not None and relay.stdout.readline().strip() == b"ready"
        floor = (_tcp(port), straight[1])
        asyncio.run(_load(*floor, 1.0, 4))
        print("GET /who through a bare byte relay (the floor of a Python proxy, for reference):")
        _compare(floor, straight, ALB_CONCURRENCY, name="relay")
    finally:
        relay.kill()
        relay.wait()


@part("alb")
def alb(args: argparse.Namespace) -> int:
    """The same GETs through the gateway and straight to the worker's port (from inside its
    network namespace, as root), interleaved in one run on one worker; then the SSE event
    delay both ways and the worker's start."""
    from tests.support.cloud import FAKE_INVENTORY, admin_key
    from tests.support.live import LiveServer

    worker_py = (ROOT / "tests" / "support" / "gateway_worker.py").read_text()
    home = Path(tempfile.mkdtemp(prefix="bench-serverless-"))
    server = LiveServer(
        home=home, database_url=f"sqlite+aiosqlite:///{home}/h.db",
        extra_env={"HANGAR_FAKE_ACCELERATORS": FAKE_INVENTORY, "HANGAR_LOG_LEVEL": "WARNING",
                   "HANGAR_ENDPOINT_CHECK_SECONDS": "0.2", "HANGAR_AUTH_CACHE_SECONDS": "1"},
    )  # fmt: skip
    server.start()
    try:
        key = admin_key(server)
        eid, start_s = _create_endpoint(server, key, worker_py)
        bare_s = _bare_session_start(server, key)
        print(f"start on the cached host-Python image: worker (create -> health check answered)"
              f" {start_s * 1000:.0f} ms | bare session (pod create -> RUNNING)"
              f" {bare_s * 1000:.0f} ms")  # fmt: skip
        auth = f"Authorization: Bearer {key}\r\n".encode()
        gateway = _tcp(int(server.endpoint.rsplit(":", 1)[1]))
        worker = _in_netns(_worker_netns(), 8080)
        through = (gateway, _get(f"/serverless-proxy/{eid}/who", auth))
        straight = (worker, _get("/who"))
        for dial, head in (through, straight):  # warm-up: connections, caches
            asyncio.run(_load(dial, head, 1.0, 4))
        print("GET /who (no work: the proxy's own cost):")
        status = _compare(through, straight, ALB_CONCURRENCY)
        _relay_floor(straight)
        print("GET /work?ms=2 (2 ms of CPU per request in the worker):")
        work = f"/work?ms={WORK_MS}"
        _compare(
            (gateway, _get(f"/serverless-proxy/{eid}{work}", auth)), (worker, _get(work)), (8,)
        )
        sse = f"/sse?n={SSE_EVENTS}&gap=0.05"
        g = asyncio.run(_event_delays(gateway, _get(f"/serverless-proxy/{eid}{sse}", auth)))
        d = asyncio.run(_event_delays(worker, _get(sse)))
        gp50, dp50 = g[len(g) // 2] * 1000, d[len(d) // 2] * 1000
        print(f"SSE event, worker send -> client: gateway p50 {gp50:.2f} ms max {g[-1] * 1000:.2f}"
              f" ms | straight p50 {dp50:.2f} ms")  # fmt: skip
        return status | int(g[-1] - d[len(d) // 2] > 0.005)
    finally:
        server.stop()
        if not args.keep:
            shutil.rmtree(home, ignore_errors=True)


# --- QUEUE tasks (engineer TQ): the code is in bench/serverless_queue.py ----------------------


@part("queue")
def queue(args: argparse.Namespace) -> int:
    import os

    import serverless_queue  # type: ignore[import-not-found]  # bench/ is the script's dir

    count = int(os.environ.get("BENCH_QUEUE_TASKS", "10000"))
    latency_count = int(os.environ.get("BENCH_QUEUE_LATENCY_COUNT", "100"))
    return int(serverless_queue.run(count, latency_count, args.keep))


if __name__ == "__main__":
    sys.exit(main())
