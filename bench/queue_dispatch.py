"""Queued ClearML tasks run by Hangar itself: first-line latency against ``backend.ai run``,
the venv step, and a queue of many tasks drained.

Against a fresh ``hangar server`` (temporary data dir, SQLite unless ``--database-url``,
``HANGAR_PORT=0``, endpoint and keys from the client.toml it writes), through the ClearML
API as the SDK sends it (``auth.login``, then GET with a JSON body and a Bearer token):

* ``latency``  per iteration a task whose script is ``print("first line")`` (standalone, no
               requirements) is created (not timed), then ``tasks.enqueue`` to ``default``;
               measured: from the enqueue request until the line can be read back with
               ``events.get_task_log`` (polled every 5 ms). Interleaved, in the same run, the
               reference: ``backend.ai run --rm --exec "python job.py" python job.py`` (the
               official CLI, the same script as a batch session) from the command's start
               until ``first line`` appears on its output. Headline: median ratio.
* ``venv``     one task with one requirement (a wheel built here, installed offline from
               ``executor_wheel_dir``): the launcher's "environment ready in" figure (venv +
               pip) and its first line, reported apart from the latency above.
* ``drain``    ``--count`` tasks (default 1000) enqueued with random priorities 0-3 to a
               queue served by external workers; then the queue is handed to Hangar
               (``queues.update served_by=hangar``) and drained. Checked: every task
               ``completed``, its line logged exactly once, and the order the tasks started
               in (their ``started`` times) is the queue's: priority first, then enqueue
               order. Reported: tasks/minute from the hand-over to the last completion.

    .venv/bin/python bench/queue_dispatch.py [--repeat 10] [--count 1000]
        [--max-running 4] [--database-url URL] [--keep]

Exit status: 0, or 1 when a check failed (a task lost, run twice, out of order, failed).
"""

from __future__ import annotations

import argparse
import base64
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
BAI_CLI = ROOT / ".official-clients" / "bai" / "bin" / "backend.ai"
SCRIPT = 'print("first line")\n'
LINE = "first line"
FINAL = ("completed", "failed", "stopped")


@dataclass
class Server:
    proc: subprocess.Popen[bytes]
    home: Path
    endpoint: str = ""
    access_key: str = ""
    secret_key: str = ""

    def tail(self, lines: int = 30) -> str:
        log = self.home / "server.log"
        text = log.read_text(errors="replace").splitlines()[-lines:] if log.exists() else []
        return "\n--- server output (tail) ---\n" + "\n".join(text)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(2)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def start_server(home: Path, args: argparse.Namespace, wheels: Path) -> Server:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HANGAR_", "BACKEND_"))}
    env.update(
        HANGAR_DATA_DIR=str(home / "data"), HANGAR_HOST="127.0.0.1", HANGAR_PORT="0",
        HANGAR_LOG_LEVEL="WARNING", HANGAR_DEFAULT_RATE_LIMIT=str(10**9),
        HANGAR_EXECUTOR_MAX_RUNNING=str(args.max_running),
        HANGAR_EXECUTOR_WHEEL_DIR=str(wheels), HANGAR_EXECUTOR_PIP_OFFLINE="1",
        XDG_CONFIG_HOME=str(home / "config"), NO_COLOR="1",
    )  # fmt: skip
    if args.database_url:
        env["HANGAR_DATABASE_URL"] = args.database_url
    exe = Path(sys.executable).with_name("hangar")
    with (home / "server.log").open("wb") as log:
        proc = subprocess.Popen([str(exe), "server"], env=env, stdout=log, stderr=log,
                                cwd=home, start_new_session=True)  # fmt: skip
    server = Server(proc, home)
    config_path = home / "config" / "hangar" / "client.toml"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("hangar server exited" + server.tail())
        if config_path.exists():
            config = tomllib.loads(config_path.read_text())
            try:
                ok = httpx.get(config["endpoint"] + "/healthz", timeout=1).status_code == 200
            except httpx.HTTPError:
                ok = False
            if ok:
                server.endpoint = config["endpoint"]
                server.access_key, server.secret_key = config["access_key"], config["secret_key"]
                return server
        time.sleep(0.05)
    server.stop()
    raise RuntimeError("hangar server did not start" + server.tail())


class Api:
    """The ClearML API as the SDK calls it."""

    def __init__(self, server: Server) -> None:
        self.http = httpx.Client(base_url=server.endpoint, timeout=120)
        pair = f"{server.access_key}:{server.secret_key}".encode()
        basic = {"Authorization": "Basic " + base64.b64encode(pair).decode()}
        token = self.http.get("/auth.login", headers=basic).json()["data"]["token"]
        self.http.headers["Authorization"] = f"Bearer {token}"

    def call(self, endpoint: str, /, **body: Any) -> dict[str, Any]:
        response = self.http.request("GET", f"/v2.23/{endpoint}", json=body)
        if response.status_code != 200:
            raise RuntimeError(f"{endpoint}: {response.status_code} {response.text[:300]}")
        data: dict[str, Any] = response.json()["data"]
        return data

    def new_task(self, name: str, script: str = SCRIPT, pip: str = "") -> str:
        body = {"entry_point": "job.py", "diff": script, "requirements": {"pip": pip}}
        created = self.call("tasks.create", name=name, type="training", script=body)
        task_id: str = created["id"]
        return task_id

    def log(self, task_id: str) -> list[str]:
        events = self.call("events.get_task_log", task=task_id, batch_size=500)["events"]
        return [e["msg"] for e in events]


def wait_line(api: Api, task_id: str, started: float, timeout: float = 120) -> float:
    """Seconds from ``started`` until the task's log holds the first line."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if LINE in api.log(task_id):
            return time.perf_counter() - started
        time.sleep(0.005)
    raise RuntimeError(f"task {task_id}: no first line in {timeout} s")


def wait_final(api: Api, ids: list[str], timeout: float) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while True:
        tasks: list[dict[str, Any]] = []
        for start in range(0, len(ids), 200):
            chunk = ids[start : start + 200]
            tasks += api.call("tasks.get_all", id=chunk, only_fields=[
                "id", "status", "started", "completed", "status_reason"])["tasks"]  # fmt: skip
        if all(t["status"] in FINAL for t in tasks) or time.monotonic() > deadline:
            return tasks
        time.sleep(1)


def bai_run(server: Server, folder: Path) -> float:
    env = {
        **os.environ,
        "BACKEND_ENDPOINT": server.endpoint,
        "BACKEND_ENDPOINT_TYPE": "api",
        "BACKEND_ACCESS_KEY": server.access_key,
        "BACKEND_SECRET_KEY": server.secret_key,
    }
    started = time.perf_counter()
    proc = subprocess.Popen(
        [str(BAI_CLI), "run", "--rm", "--exec", "python job.py", "python", "job.py"],
        cwd=folder, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    assert proc.stdout is not None
    took = None
    for line in proc.stdout:
        if took is None and LINE in line:
            took = time.perf_counter() - started
    proc.wait()
    if took is None:
        raise RuntimeError("backend.ai run printed no first line")
    return took


def latency(server: Server, api: Api, args: argparse.Namespace, folder: Path) -> list[float]:
    ratios = []
    print(f"{'iter':>4} {'enqueue->line':>14} {'backend.ai run':>15} {'ratio':>6}")
    for i in range(args.warmup + args.repeat):
        task_id = api.new_task(f"latency {i}")
        started = time.perf_counter()
        api.call("tasks.enqueue", task=task_id, queue_name="default")
        ours = wait_line(api, task_id, started)
        wait_final(api, [task_id], 60)
        reference = bai_run(server, folder)
        if i < args.warmup:
            continue
        ratios.append(ours / reference)
        print(f"{i:>4} {ours * 1000:>12.0f}ms {reference * 1000:>13.0f}ms {ours / reference:>6.2f}")
    median = statistics.median(ratios)
    print(f"median ratio {median:.2f} (target <= 1.5), p90 {quantile(ratios, 0.9):.2f}")
    return ratios


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def build_wheel(target: Path) -> None:
    source = target.parent / "pkg"
    (source / "benchpkg").mkdir(parents=True)
    (source / "benchpkg" / "__init__.py").write_text("VALUE = 42\n")
    (source / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["setuptools"]\nbuild-backend = "setuptools.build_meta"\n'
        '[project]\nname = "benchpkg"\nversion = "1.0"\n'
    )
    subprocess.run(["/usr/bin/python3", "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                    "-q", "-w", str(target), str(source)], check=True)  # fmt: skip


def venv_step(api: Api) -> None:
    script = 'import benchpkg\nprint("first line", benchpkg.VALUE)\n'
    task_id = api.new_task("venv", script, pip="benchpkg==1.0\n")
    started = time.perf_counter()
    api.call("tasks.enqueue", task=task_id, queue_name="default")
    took = wait_line_prefix(api, task_id, started)
    ready = next((m for m in api.log(task_id) if "environment ready in" in m), "?")
    print(f"venv: first line after {took * 1000:.0f} ms; {ready.removeprefix('[hangar] ')}")


def wait_line_prefix(api: Api, task_id: str, started: float) -> float:
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if any(m.startswith(LINE) for m in api.log(task_id)):
            return time.perf_counter() - started
        status = api.call("tasks.get_all", id=[task_id])["tasks"][0]["status"]
        if status in ("failed", "stopped"):
            raise RuntimeError(f"venv task {status}: {api.log(task_id)[-5:]}")
        time.sleep(0.02)
    raise RuntimeError("venv task printed nothing")


def drain(api: Api, count: int) -> bool:
    queue = api.call("queues.create", name="drain", served_by="external")["id"]
    ids = [api.new_task(f"drain {n}") for n in range(count)]
    priorities = {task_id: random.randint(0, 3) for task_id in ids}
    for task_id in ids:  # enqueue order is ``ids``
        api.call("tasks.enqueue", task=task_id, queue=queue, priority=priorities[task_id])
    started = time.perf_counter()
    api.call("queues.update", queue=queue, served_by="hangar")
    tasks = wait_final(api, ids, timeout=max(600, count * 3))
    took = time.perf_counter() - started
    failed = [t for t in tasks if t["status"] != "completed"]
    expected = sorted(ids, key=lambda t: (-priorities[t], ids.index(t)))
    by_start = sorted(tasks, key=lambda t: datetime.fromisoformat(t["started"] or "9999-01-01"))
    order_ok = [t["id"] for t in by_start] == expected
    runs = {task_id: api.log(task_id).count(LINE) for task_id in ids}
    twice = [t for t, n in runs.items() if n != 1]
    print(f"drain: {count} tasks in {took:.1f} s = {count / took * 60:.0f} tasks/minute; "
          f"failed {len(failed)}, not run exactly once {len(twice)}, "
          f"start order = priority order: {order_ok}")  # fmt: skip
    return not failed and not twice and order_ok


@contextmanager
def workspace(keep: bool) -> Iterator[Path]:
    home = Path(tempfile.mkdtemp(prefix="hangar-queue-bench-"))
    try:
        yield home
    finally:
        if not keep:
            shutil.rmtree(home, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--max-running", type=int, default=4)
    parser.add_argument("--database-url")
    parser.add_argument("--skip", choices=("latency", "venv", "drain"), action="append",
                        default=[])  # fmt: skip
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    with workspace(args.keep) as home:
        wheels = home / "wheels"
        build_wheel(wheels)
        folder = home / "job"
        folder.mkdir()
        (folder / "job.py").write_text(SCRIPT)
        print(f"load average before: {os.getloadavg()}")
        server = start_server(home, args, wheels)
        ok = True
        try:
            api = Api(server)
            if "latency" not in args.skip:
                latency(server, api, args, folder)
            if "venv" not in args.skip:
                venv_step(api)
            if "drain" not in args.skip:
                ok = drain(api, args.count)
        finally:
            server.stop()
        print(f"load average after: {os.getloadavg()}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
