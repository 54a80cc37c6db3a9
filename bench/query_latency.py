"""Query-mode latency: session create -> first ``print(1)`` result, and per-cell round trip,
as ratios to a bare jupyter_client kernel in bubblewrap measured in the same run.

Hangar (a fresh ``hangar server``, started as in ``session_latency.py``; signed HTTP as the
official SDK sends it):

* ``start``  ``POST /session`` (held until RUNNING) then ``POST /session/{s}`` with
             ``{"mode": "query", "code": "print(1)"}`` until the result holding ``1``
             (continuing while ``continued``), i.e. what ``get_or_create`` + ``execute`` cost;
* ``cell``   one more ``print(1)`` in the same session: one execute call and its answer.

Reference, interleaved so both see the same load: ipykernel started by
``bwrap --ro-bind / / --dev /dev --proc /proc --unshare-pid --die-with-parent
--unsetenv JPY_PARENT_PID /usr/bin/python3 -m ipykernel_launcher -f CONN`` and driven by
jupyter_client: ``start`` = spawn -> kernel_info answered -> ``print(1)``'s output and idle;
``cell`` = execute -> output and idle. Cells of the two alternate one by one (each
timed on its own), so both see the same load on a shared machine.

Targets: start <= 1.3x the reference; cell <= 1.2x the reference + 5 ms. The server's kernel
pool (``HANGAR_KERNEL_POOL_SIZE``, default 1) is what makes ``start`` cheap; between
iterations the bench waits for the pool to refill. ``--pool 0`` measures cold starts.

    .venv/bin/python bench/query_latency.py [--repeat 5] [--cells 20] [--pool 1]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from jupyter_client.asynchronous.client import AsyncKernelClient
from jupyter_client.connect import write_connection_file

sys.path.insert(0, str(Path(__file__).resolve().parent))
import session_latency  # noqa: E402
from session_latency import Client, Server, create_body, start_server  # noqa: E402

PYTHON = "/usr/bin/python3"
BWRAP = ["bwrap", "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--unshare-pid",
         "--die-with-parent", "--unsetenv", "JPY_PARENT_PID"]  # fmt: skip


# --------------------------------------------------------------------------------------------
# The reference: a bare kernel in bubblewrap


async def _answer(kc: AsyncKernelClient, msg_id: str, want_output: bool) -> str:
    """Read IOPub until ``msg_id``'s idle status; return its stdout."""
    out = ""
    while True:
        msg = await kc.get_iopub_msg(timeout=60)
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        if msg["msg_type"] == "stream":
            out += msg["content"]["text"]
        idle = msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle"
        if idle and (out or not want_output):
            return out


async def _ready(kc: AsyncKernelClient) -> None:
    """kernel_info answered on shell, and its status seen on IOPub (subscription live)."""
    while True:
        msg_id = kc.kernel_info()
        reply = await kc.get_shell_msg(timeout=60)
        assert reply["parent_header"]["msg_id"] == msg_id
        try:
            await asyncio.wait_for(_answer(kc, msg_id, False), 0.25)
            return
        except TimeoutError:
            continue


class BareKernel:
    """ipykernel in bubblewrap driven by jupyter_client; :meth:`start` returns its start time."""

    def __init__(self) -> None:
        self.tmp = Path(tempfile.mkdtemp(prefix="hangar-bench-"))
        self.proc: asyncio.subprocess.Process | None = None
        self.kc = AsyncKernelClient()

    async def start(self) -> float:
        conn = str(self.tmp / "kernel.json")
        write_connection_file(conn, ip="127.0.0.1")
        started = time.perf_counter()
        # a private writable /tmp holding the connection file's directory, which is also HOME
        argv = [*BWRAP, "--tmpfs", "/tmp", "--bind", str(self.tmp), str(self.tmp),
                PYTHON, "-m", "ipykernel_launcher", "-f", conn]  # fmt: skip
        env = {"PATH": "/usr/bin:/bin", "HOME": str(self.tmp),
               "PYDEVD_DISABLE_FILE_VALIDATION": "1"}  # fmt: skip
        self.proc = await asyncio.create_subprocess_exec(
            *argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env
        )
        self.kc.load_connection_file(conn)
        self.kc.start_channels(hb=False)
        await _ready(self.kc)
        await self.cell()
        return time.perf_counter() - started

    async def cell(self) -> float:
        started = time.perf_counter()
        assert (await _answer(self.kc, self.kc.execute("print(1)"), True)).strip() == "1"
        return time.perf_counter() - started

    async def close(self) -> None:
        self.kc.stop_channels()
        if self.proc is not None:
            self.proc.kill()
            await self.proc.wait()
        shutil.rmtree(self.tmp, ignore_errors=True)


# --------------------------------------------------------------------------------------------
# Hangar


def query(client: Client, session_id: str, code: str) -> str:
    body: dict[str, Any] = {"mode": "query", "code": code, "runId": None}
    out = ""
    while True:
        response = client.call("POST", f"/session/{session_id}", body)
        if response.status_code != 200:
            raise RuntimeError(f"execute: {response.status_code} {response.text}")
        result = response.json()["result"]
        out += "".join(p for k, p in result["console"] if k == "stdout")
        if result["status"] == "finished":
            return out
        if result["status"] != "continued":
            raise RuntimeError(f"unexpected result: {result}")
        body = {"mode": "continue", "code": "", "runId": result["runId"]}


def timed_query(client: Client, session_id: str) -> float:
    started = time.perf_counter()
    assert query(client, session_id, "print(1)").strip() == "1"
    return time.perf_counter() - started


def hangar_start(client: Client) -> tuple[str, float]:
    """A new session and its first ``print(1)``: (session id, seconds)."""
    started = time.perf_counter()
    response = client.call("POST", "/session", create_body(f"q-{uuid.uuid4().hex[:8]}"))
    if response.status_code not in (200, 201):
        raise RuntimeError(f"create: {response.status_code} {response.text}")
    session_id: str = response.json()["sessionId"]
    assert query(client, session_id, "print(1)").strip() == "1"
    return session_id, time.perf_counter() - started


async def iteration(client: Client, cells: int, settle: float) -> dict[str, float]:
    """Start both, wait ``settle`` seconds (the pool refills), then alternate their cells
    one by one, so both see the same load."""
    bare = BareKernel()
    try:
        ref_start = await bare.start()
        session_id, start = await asyncio.to_thread(hangar_start, client)
        try:
            await asyncio.sleep(settle)
            ref_cells, hangar_cells = [], []
            for _ in range(cells):
                ref_cells.append(await bare.cell())
                hangar_cells.append(await asyncio.to_thread(timed_query, client, session_id))
        finally:
            await asyncio.to_thread(client.call, "DELETE", f"/session/{session_id}")
    finally:
        await bare.close()
    return {
        "start": start, "ref_start": ref_start,
        "cell": statistics.median(hangar_cells), "ref_cell": statistics.median(ref_cells),
    }  # fmt: skip


# --------------------------------------------------------------------------------------------


def start_server_with(home: Path, settings: dict[str, str]) -> Server:
    """``start_server`` (which clears HANGAR_* variables) with these settings added."""
    command = session_latency._hangar_command
    env_file = home / "settings.env"
    env_file.write_text("".join(f"export {k}={v}\n" for k, v in settings.items()))
    argv = command()
    session_latency._hangar_command = lambda: ["/bin/sh", "-c", f'. {env_file}; exec "$@"', "-",
                                               *argv]  # fmt: skip
    try:
        return start_server(home, None, "WARNING")
    finally:
        session_latency._hangar_command = command


def ms(value: float) -> str:
    return f"{value * 1000:7.1f} ms"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--cells", type=int, default=20)
    parser.add_argument("--pool", type=int, default=1, help="HANGAR_KERNEL_POOL_SIZE")
    parser.add_argument("--settle", type=float, default=3.0,
                        help="seconds to wait between iterations (pool refill)")  # fmt: skip
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="hangar-query-bench-"))
    server: Server = start_server_with(home, {"HANGAR_KERNEL_POOL_SIZE": str(args.pool)})
    client = Client(server)
    rows: list[dict[str, Any]] = []
    try:
        time.sleep(args.settle)  # the pool's first kernel
        for index in range(args.repeat):
            row = asyncio.run(iteration(client, args.cells, args.settle))
            rows.append(row)
            start, ref_start = row["start"], row["ref_start"]
            print(f"[{index + 1}/{args.repeat}] start {ms(start)} (bare {ms(ref_start)}, "
                  f"x{start / ref_start:.2f})   cell {ms(row['cell'])} (bare "
                  f"{ms(row['ref_cell'])}, x{row['cell'] / row['ref_cell']:.2f})")  # fmt: skip
            time.sleep(args.settle)
    finally:
        client.close()
        server.stop()
        shutil.rmtree(home, ignore_errors=True)
    start_ratio = statistics.median(r["start"] / r["ref_start"] for r in rows)
    cell = statistics.median(r["cell"] for r in rows)
    ref_cell = statistics.median(r["ref_cell"] for r in rows)
    print(json.dumps({
        "pool": args.pool,
        "start_median_ms": round(statistics.median(r["start"] for r in rows) * 1000, 1),
        "bare_start_median_ms": round(statistics.median(r["ref_start"] for r in rows) * 1000, 1),
        "start_ratio_median": round(start_ratio, 3), "start_target": 1.3,
        "cell_median_ms": round(cell * 1000, 2), "bare_cell_median_ms": round(ref_cell * 1000, 2),
        "cell_ratio": round(cell / ref_cell, 3),
        "cell_target_ms": round((1.2 * ref_cell + 0.005) * 1000, 2),
    }, indent=2))  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
