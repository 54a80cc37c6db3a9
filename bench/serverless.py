"""Serverless endpoints through a fresh ``hangar server``: the ALB gateway and QUEUE tasks.

Parts, run by name (default: all):

* ``alb``    requests/s and p50/p99 latency through the gateway to one worker against the
             same requests sent straight to the worker's port in the same run; a streaming
             (server-sent events) answer's first-byte delay; worker start on a cached image
             (create -> RUNNING) next to a bare session start of the same image.
* ``queue``  QUEUE tasks (submit -> worker receives it, draining through several workers,
             webhook deliveries/s).

    .venv/bin/python bench/serverless.py [alb] [queue] [--keep]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

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
ALB_CONCURRENCY = (1, 8)
SSE_EVENTS = 20


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _load(
    port: int, head: bytes, seconds: float, concurrency: int
) -> tuple[int, list[float]]:
    """Keep-alive GETs from ``concurrency`` connections for ``seconds``: (count, latencies)."""
    latencies: list[float] = []
    deadline = time.perf_counter() + seconds

    async def one_connection() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
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
    return len(latencies), latencies


def _figures(count: int, latencies: list[float], seconds: float) -> tuple[float, float, float]:
    ordered = sorted(latencies)
    p50 = ordered[len(ordered) // 2] * 1000
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000
    return count / seconds, p50, p99


async def _first_bytes(port: int, head: bytes) -> list[float]:
    """Delay from the worker's send (its timestamp in the event) to the event's arrival."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
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
    return delays


def _worker_env(port: int) -> dict[str, str]:
    return {**os.environ, "PORT": str(port)}


@part("alb")
def alb(args: argparse.Namespace) -> int:
    """Gateway vs straight to a worker of the same code (on the host's loopback: a worker's
    own port lives in its session's network namespace), interleaved in one run."""
    from tests.support.cloud import FAKE_INVENTORY, admin_key, run_yotta
    from tests.support.live import LiveServer

    worker_py = (ROOT / "tests" / "support" / "gateway_worker.py").read_text()
    home = Path(tempfile.mkdtemp(prefix="bench-serverless-"))
    server = LiveServer(
        home=home, database_url=f"sqlite+aiosqlite:///{home}/h.db",
        extra_env={"HANGAR_FAKE_ACCELERATORS": FAKE_INVENTORY, "HANGAR_LOG_LEVEL": "WARNING",
                   "HANGAR_ENDPOINT_CHECK_SECONDS": "0.2"},
    )  # fmt: skip
    direct_port = _free_port()
    direct = subprocess.Popen(
        [sys.executable, "-c", worker_py], env=_worker_env(direct_port), stdout=subprocess.DEVNULL
    )
    server.start()
    try:
        key = admin_key(server)
        resources = json.dumps(
            [{"region": "local", "gpuType": "NVIDIA_RTX_4090_24G", "gpuCount": 1}]
        )
        created_at = time.perf_counter()
        done = run_yotta(
            server, key, "serverless", "create", "--name", "bench", "--image", "python:3",
            "--resources", resources, "--workers", "1", "--service-mode", "ALB",
            "--volume", "20", "--init-cmd", 'exec python3 -c "$WORKER_PY"',
            "--env", f"WORKER_PY={worker_py}", "--expose-port", "8080",
            "--expose-protocol", "HTTP",
        )  # fmt: skip
        eid = json.loads(done.stdout)["data"]["id"]
        with httpx.Client(base_url=server.endpoint, headers={"X-Api-Key": key}) as http:
            while http.get(f"/v2/serverless/{eid}").json()["data"]["runningWorkers"] < 1:
                time.sleep(0.05)
        start_s = time.perf_counter() - created_at
        gw_port = int(server.endpoint.rsplit(":", 1)[1])
        auth = f"Authorization: Bearer {key}\r\n".encode()
        gw_head = (
            f"GET /serverless-proxy/{eid}/who HTTP/1.1\r\nHost: x\r\n".encode() + auth + b"\r\n"
        )
        direct_head = b"GET /who HTTP/1.1\r\nHost: x\r\n\r\n"
        print(f"worker start (create -> RUNNING, host-Python image): {start_s * 1000:.0f} ms")
        asyncio.run(_load(gw_port, gw_head, 1.0, 4))  # warm-up
        asyncio.run(_load(direct_port, direct_head, 1.0, 4))
        status = 0
        for concurrency in ALB_CONCURRENCY:
            d = _figures(
                *asyncio.run(_load(direct_port, direct_head, ALB_SECONDS, concurrency)), ALB_SECONDS
            )
            g = _figures(
                *asyncio.run(_load(gw_port, gw_head, ALB_SECONDS, concurrency)), ALB_SECONDS
            )
            print(f"c={concurrency}: direct {d[0]:7.0f} req/s p50 {d[1]:.2f} ms p99 {d[2]:.2f} ms"
                  f" | gateway {g[0]:7.0f} req/s p50 {g[1]:.2f} ms p99 {g[2]:.2f} ms"
                  f" | ratio {g[0] / d[0]:.2f}x, p50 +{g[1] - d[1]:.2f} ms")  # fmt: skip
        sse = f"/sse?n={SSE_EVENTS}&gap=0.05"
        g_sse = (
            f"GET /serverless-proxy/{eid}{sse} HTTP/1.1\r\nHost: x\r\n".encode() + auth + b"\r\n"
        )
        gd = sorted(asyncio.run(_first_bytes(gw_port, g_sse)))
        dd = sorted(
            asyncio.run(
                _first_bytes(direct_port, f"GET {sse} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
            )
        )
        gp50, dp50 = gd[len(gd) // 2] * 1000, dd[len(dd) // 2] * 1000
        print(f"SSE event delay (worker send -> client): gateway p50 {gp50:.2f} ms"
              f" max {gd[-1] * 1000:.2f} ms | direct p50 {dp50:.2f} ms")  # fmt: skip
        return status
    finally:
        server.stop()
        direct.terminate()
        direct.wait()
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
