"""Experiment tracking against MLflow: scalar ingestion, a whole-history read, task creation.

Both servers run on this machine in the same run, each fresh in a temporary directory:

* a real ``hangar server`` (SQLite unless ``--database-url``, log level WARNING), driven
  through its ClearML face exactly as the official ``clearml`` SDK drives it: a JWT from
  ``auth.login``, then ``GET`` requests with JSON bodies on versioned paths;
* a real ``mlflow server`` (``--backend-store-uri sqlite:///...``, ``--workers 1``) from its
  own venv (``--mlflow``, default /work/bench-venvs/mlflow/bin/mlflow), driven through its
  REST API as ``MlflowClient`` does. Measured with MLflow 3.17.2: ``pip install
  "mlflow==3.18.*"`` fails here (mlflow 3.18.0 pins mlflow-tracing 3.18.0, which the
  package index does not have); ``pip install "mlflow==3.17.*"`` into that venv works.

One client (httpx, one kept-alive connection, requests prepared before the clock starts,
answers decoded with orjson; it asks for gzip as the SDK does, which Hangar's large answers
then use and MLflow's do not) measures, with the same shapes on both sides:

* ``ingest``   POINTS points of one series. Hangar: ``events.add_batch`` with json-lines
               bodies of BATCH events, each line as the SDK writes a ``report_scalar`` event
               (the SDK's reporter drains its queue into one request: a loop of
               ``report_scalar`` calls was measured sending ~5,000 events per request).
               MLflow: ``runs/log-batch`` with 1,000 metrics per request (its maximum).
               Figure: points per second.
* ``history``  reading those POINTS points back whole. Hangar: ``events.
               scalar_metrics_iter_histogram`` without ``samples`` (no downsampling), and
               ``events.get_scalar_metric_data`` with ``no_scroll``; MLflow: ``metrics/
               get-history`` paged as ``MlflowClient.get_metric_history`` pages it.
               Figure: seconds (median of REPEAT reads). Hangar keeps a long history's
               encoded answer until the series changes, so the first
               ``get_scalar_metric_data`` read (printed on its own) reads and encodes it
               (and goes plain) and the later ones send it (gzipped, deflated once in a
               worker thread); MLflow reads its history each time.
* ``create``   TASKS ``tasks.create`` calls vs TASKS ``runs/create``: milliseconds each.

Each figure is printed beside MLflow's with the ratio. Targets (issue 14): ingestion >= 20x
MLflow's points/s; a history read >= 25x faster than MLflow's and <= 0.2 s; a task creation
<= 2 ms.

    .venv/bin/python bench/tracking.py [--points 100000] [--batch 5000] [--tasks 1000]
        [--repeat 3] [--mlflow PATH] [--database-url URL] [--keep]

Exit status: 0, or 1 when a target is missed or a request failed.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson

API = "v2.31"
MLFLOW = "/work/bench-venvs/mlflow/bin/mlflow"
MLFLOW_BATCH = 1000  # log-batch takes at most 1,000 metrics
MLFLOW_PAGE = 25_000  # MlflowClient.get_metric_history's page size
INGEST_RATIO, READ_RATIO, READ_SECONDS, CREATE_MS = 20.0, 25.0, 0.2, 2.0
T0 = 1_765_000_000_000  # ms


@dataclass
class Process:
    proc: subprocess.Popen[bytes]
    log: Path
    endpoint: str = ""

    def tail(self, lines: int = 30) -> str:
        text = (
            self.log.read_text(errors="replace").splitlines()[-lines:] if self.log.exists() else []
        )
        return "\n--- output (tail) ---\n" + "\n".join(text)

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGINT)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()


def wait_for(check: Callable[[], Any], what: str, process: Process, timeout: float = 90) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError, httpx.HTTPError, KeyError, ValueError):
            value = check()
            if value:
                return value
        if process.proc.poll() is not None:
            raise RuntimeError(f"{what}: exited with {process.proc.returncode}{process.tail()}")
        time.sleep(0.1)
    raise RuntimeError(f"{what}: not ready after {timeout:.0f} s{process.tail()}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def start_hangar(home: Path, database_url: str | None) -> tuple[Process, str, str]:
    exe = Path(sys.executable).with_name("hangar")
    config = home / "client.toml"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HANGAR_", "CLEARML_"))}
    env |= {
        "HOME": str(home), "HANGAR_DATA_DIR": str(home / "data"), "HANGAR_PORT": "0",
        "HANGAR_HOST": "127.0.0.1", "HANGAR_CLIENT_CONFIG_PATH": str(config),
        "HANGAR_LOG_LEVEL": "WARNING", "HANGAR_KERNEL_POOL_SIZE": "0",
        "HANGAR_SANDBOX_POOL_SIZE": "0", "NO_COLOR": "1",
    }  # fmt: skip
    if database_url:
        env["HANGAR_DATABASE_URL"] = database_url
    log = home / "hangar.log"
    proc = subprocess.Popen([str(exe), "server"], env=env, stdout=log.open("wb"),
                            stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip
    process = Process(proc, log)
    settings = wait_for(lambda: tomllib.loads(config.read_text()), "hangar server", process)
    process.endpoint = settings["endpoint"]
    wait_for(lambda: httpx.get(process.endpoint + "/healthz").status_code == 200, "hangar", process)
    return process, settings["access_key"], settings["secret_key"]


def start_mlflow(home: Path, mlflow: str) -> Process:
    port = free_port()
    log = home / "mlflow.log"
    command = [
        mlflow, "server", "--backend-store-uri", f"sqlite:///{home}/mlflow.db",
        "--default-artifact-root", str(home / "artifacts"), "--host", "127.0.0.1",
        "--port", str(port), "--workers", "1",
    ]  # fmt: skip
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    proc = subprocess.Popen(command, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT,
                            start_new_session=True)  # fmt: skip
    process = Process(proc, log, f"http://127.0.0.1:{port}")
    wait_for(lambda: httpx.get(process.endpoint + "/health").status_code == 200, "mlflow", process)
    return process


class Clearml:
    """The ClearML face as the SDK calls it."""

    def __init__(self, endpoint: str, access: str, secret: str) -> None:
        self.http = httpx.Client(base_url=endpoint, timeout=120)
        basic = base64.b64encode(f"{access}:{secret}".encode()).decode()
        login = self.http.get("/auth.login", headers={"Authorization": f"Basic {basic}"})
        self.auth = {"Authorization": f"Bearer {login.json()['data']['token']}"}
        self.parsed, self.received, self.wire = 0.0, 0, 0

    def call(self, name: str, body: dict[str, Any]) -> dict[str, Any]:
        response = self.http.request(
            "GET", f"/{API}/{name}", content=json.dumps(body).encode(),
            headers={**self.auth, "Content-Type": "application/json"},
        )  # fmt: skip
        if response.status_code != 200:
            raise RuntimeError(f"{name}: {response.status_code} {response.text[:300]}")
        start = time.perf_counter()
        data: dict[str, Any] = orjson.loads(response.content)["data"]
        self.parsed = time.perf_counter() - start  # the client's share of the last call
        self.received = len(response.content)
        self.wire = response.num_bytes_downloaded  # gzipped when large
        return data

    def add_batch(self, body: bytes) -> int:
        response = self.http.request(
            "GET", f"/{API}/events.add_batch", content=body,
            headers={**self.auth, "Content-Type": "application/json-lines"},
        )  # fmt: skip
        if response.status_code != 200:
            raise RuntimeError(f"add_batch: {response.status_code} {response.text[:300]}")
        added: int = response.json()["data"]["added"]
        return added


class Mlflow:
    def __init__(self, endpoint: str) -> None:
        self.http = httpx.Client(base_url=endpoint + "/api/2.0/mlflow", timeout=300)

    def call(self, method: str, path: str, **kw: Any) -> dict[str, Any]:
        response = self.http.request(method, path, **kw)
        if response.status_code != 200:
            raise RuntimeError(f"mlflow {path}: {response.status_code} {response.text[:300]}")
        data: dict[str, Any] = orjson.loads(response.content)
        return data


def scalar_line(task: str, it: int) -> str:
    """A ``report_scalar`` event as the SDK's reporter writes it."""
    return json.dumps({
        "timestamp": T0 + it, "type": "training_stats_scalar", "task": task, "iter": it,
        "metric": "loss", "variant": "train", "value": 1.0 / (it + 1), "allow_locked": False,
        "model_event": False,
    })  # fmt: skip


def timed(action: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    result = action()
    return time.perf_counter() - start, result


def median_time(action: Callable[[], Any], repeat: int) -> tuple[float, Any, float]:
    """The median time of ``repeat`` runs, the last run's result, and the first run's time."""
    runs = [timed(action) for _ in range(repeat)]
    return statistics.median(t for t, _ in runs), runs[-1][1], runs[0][0]


# --------------------------------------------------------------------------------------------
# The measurements


def hangar_figures(
    api: Clearml, points: int, batch: int, tasks: int, repeat: int
) -> dict[str, float]:
    task = api.call("tasks.create", {"name": "bench-ingest", "type": "training"})["id"]
    bodies = [
        "\n".join(scalar_line(task, i) for i in range(start, min(start + batch, points))).encode()
        for start in range(0, points, batch)
    ]
    seconds, added = timed(lambda: sum(api.add_batch(body) for body in bodies))
    if added != points:
        raise RuntimeError(f"hangar stored {added} of {points} points")
    figures = {"ingest": points / seconds}

    def histogram() -> int:
        data = api.call("events.scalar_metrics_iter_histogram", {"task": task, "key": "iter"})
        return len(data["loss"]["train"]["y"])

    parsing: list[float] = []
    size: list[int] = []
    wire: list[int] = []

    def metric_data() -> int:
        body = {"task": task, "metric": "loss", "no_scroll": True}
        found = len(api.call("events.get_scalar_metric_data", body)["events"])
        parsing.append(api.parsed)
        size.append(api.received)
        wire.append(api.wire)
        return found

    for name, read in (("history", histogram), ("metric data", metric_data)):
        figures[name], count, figures[f"{name} first"] = median_time(read, repeat)
        if count != points:
            raise RuntimeError(f"hangar {name} read {count} of {points} points")
    figures["metric data parse"] = statistics.median(parsing)
    figures["metric data bytes"] = size[-1]
    figures["metric data wire"] = wire[-1]
    seconds, _ = timed(lambda: [
        api.call("tasks.create", {"name": f"bench-task-{i}", "type": "training"})
        for i in range(tasks)
    ])  # fmt: skip
    figures["create"] = seconds / tasks * 1000
    return figures


def mlflow_figures(api: Mlflow, points: int, tasks: int, repeat: int) -> dict[str, float]:
    experiment = api.call("POST", "/experiments/create", json={"name": "bench"})["experiment_id"]
    created = api.call("POST", "/runs/create", json={"experiment_id": experiment, "start_time": T0})
    run = created["run"]["info"]["run_id"]
    bodies = [
        json.dumps({"run_id": run, "metrics": [
            {"key": "loss", "value": 1.0 / (i + 1), "timestamp": T0 + i, "step": i}
            for i in range(start, min(start + MLFLOW_BATCH, points))
        ]}).encode()
        for start in range(0, points, MLFLOW_BATCH)
    ]  # fmt: skip
    headers = {"Content-Type": "application/json"}
    seconds, _ = timed(lambda: [
        api.call("POST", "/runs/log-batch", content=body, headers=headers) for body in bodies
    ])  # fmt: skip
    figures = {"ingest": points / seconds}

    def history() -> int:
        found, token = 0, None
        while True:
            params = {"run_id": run, "metric_key": "loss", "max_results": MLFLOW_PAGE}
            data = api.call("GET", "/metrics/get-history", params=params | (
                {"page_token": token} if token else {}))  # fmt: skip
            found += len(data.get("metrics", []))
            token = data.get("next_page_token")
            if not token:
                return found

    figures["history"], count, _ = median_time(history, repeat)
    if count != points:
        raise RuntimeError(f"mlflow read {count} of {points} points")
    seconds, _ = timed(lambda: [
        api.call("POST", "/runs/create", json={"experiment_id": experiment, "start_time": T0})
        for _ in range(tasks)
    ])  # fmt: skip
    figures["create"] = seconds / tasks * 1000
    return figures


def report(hangar: dict[str, float], mlflow: dict[str, float], points: int, tasks: int) -> bool:
    """Print the table; whether every target is met."""
    ingest = hangar["ingest"] / mlflow["ingest"]
    rows = [
        (f"ingest {points:,} points (points/s)", f"{hangar['ingest']:,.0f}",
         f"{mlflow['ingest']:,.0f}", ingest, f">= {INGEST_RATIO:.0f}x", ingest >= INGEST_RATIO),
    ]  # fmt: skip
    for name, label in (("history", "scalar_metrics_iter_histogram"),
                        ("metric data", "get_scalar_metric_data")):  # fmt: skip
        ratio = mlflow["history"] / hangar[name]
        ok = ratio >= READ_RATIO and hangar[name] <= READ_SECONDS
        rows.append((f"read {points:,} points: {label} (s)", f"{hangar[name]:.3f}",
                     f"{mlflow['history']:.3f}", ratio,
                     f">= {READ_RATIO:.0f}x, <= {READ_SECONDS} s", ok))  # fmt: skip
    ratio = mlflow["create"] / hangar["create"]
    rows.append((f"create {tasks:,} tasks / runs (ms each)", f"{hangar['create']:.2f}",
                 f"{mlflow['create']:.2f}", ratio, f"<= {CREATE_MS} ms",
                 hangar["create"] <= CREATE_MS))  # fmt: skip
    print(f"{'':52} {'hangar':>12} {'mlflow':>12} {'ratio':>8}  target")
    for label, ours, theirs, ratio, target, ok in rows:
        mark = "ok" if ok else "MISSED"
        print(f"{label:52} {ours:>12} {theirs:>12} {ratio:>7.1f}x  {target} {mark}")
    print(f"(of get_scalar_metric_data's {hangar['metric data']:.3f} s, the client's orjson "
          f"parse of the {hangar['metric data bytes'] / 1e6:.1f} MB answer "
          f"({hangar['metric data wire'] / 1e6:.1f} MB on the wire) took "
          f"{hangar['metric data parse']:.3f} s; its first read, before the server kept the "
          f"encoded history, took {hangar['metric data first']:.3f} s, "
          f"{mlflow['history'] / hangar['metric data first']:.1f}x)")  # fmt: skip
    return all(row[-1] for row in rows)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--points", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=5000)
    parser.add_argument("--tasks", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--mlflow", default=MLFLOW)
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = parser.parse_args()
    if not Path(args.mlflow).exists():
        print(f"mlflow not found at {args.mlflow}: pip install mlflow into a venv of its own",
              file=sys.stderr)  # fmt: skip
        return 1
    work = Path(tempfile.mkdtemp(prefix="bench-tracking-"))
    processes: list[Process] = []
    try:
        hangar, access, secret = start_hangar(work, args.database_url)
        processes.append(hangar)
        mlflow = start_mlflow(work, args.mlflow)
        processes.append(mlflow)
        print(f"load average {os.getloadavg()[0]:.2f}; {os.cpu_count()} CPUs")
        ours = hangar_figures(Clearml(hangar.endpoint, access, secret), args.points,
                              args.batch, args.tasks, args.repeat)  # fmt: skip
        theirs = mlflow_figures(Mlflow(mlflow.endpoint), args.points, args.tasks, args.repeat)
        met = report(ours, theirs, args.points, args.tasks)
        print(f"load average {os.getloadavg()[0]:.2f}")
        return 0 if met else 1
    finally:
        for process in processes:
            process.stop()
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
