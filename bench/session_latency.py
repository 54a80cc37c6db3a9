"""Latency of a short batch session, create -> first output -> destroy, against bubblewrap.

What one iteration does, against a fresh ``hangar server`` (temporary data dir, SQLite unless
``--database-url``, ``HANGAR_PORT=0``; endpoint and keys read from the client.toml it writes
at ``$XDG_CONFIG_HOME/hangar/client.toml``), with Backend.AI-signed HTTP as the official
client sends it:

* ``create``        ``POST /session`` (interactive ``python``, no enqueue-only: the request is
                    held until the session is RUNNING), as ``backend.ai run`` does;
* ``first output``  the run of ``python -c "print(1)"`` in batch mode (no clean/build step),
                    from the moment it is submitted until its ``1`` reaches the client; over
                    the ``/stream/session/{s}/execute`` WebSocket like ``backend.ai run``
                    (``--transport ws``, default) or by polling ``POST /session/{s}``
                    (``--transport poll``, the SDK's ``execute``);
* ``run end``       from submission until the ``finished`` status (exit code 0);
* ``destroy``       ``DELETE /session/{s}`` after the run, until the server answers;
* ``total``         from the create request to the destroy answer.

The breakdown under the table splits these phases: ``ws open`` is the execute WebSocket's
handshake (connection, signature check, session look-up) within ``first output``; the create
and destroy steps come from the session's status history in the server's database (SQLite
only; the server's and this process's wall clocks are the same clock): request -> PENDING
(checks, the row), PENDING -> SCHEDULED (the scheduler's wake-up and pass), SCHEDULED ->
PREPARING, PREPARING -> RUNNING (the kernel: a pre-built sandbox or a new one), RUNNING ->
answer, and request -> TERMINATING, TERMINATING -> TERMINATED (the agent's destroy), then the
answer. The load average is printed before and after the run: the machine may be shared.

In the same run, interleaved with the sessions so that both see the same machine load, the
reference: the same command run directly in bubblewrap,
``bwrap --ro-bind / / --dev /dev --proc /proc --unshare-pid --die-with-parent
/usr/bin/python3 -c 'print(1)'`` (time to its first output line, and to its exit), and the
bare ``/usr/bin/python3 -c 'print(1)'``. The headline is ``total / reference`` (the reference
being the bubblewrap run to its exit), per iteration, then its median and p90.

    .venv/bin/python bench/session_latency.py [--repeat 20] [--warmup 2]
        [--transport ws|poll] [--database-url URL] [--log-level WARNING] [--settle] [--keep]

``server CPU per session`` is the server process's CPU time (all threads) from one iteration's
start to the next's, work after the answers included: less sensitive to a shared machine's
load than wall time. ``--settle`` waits, before each iteration, until the server has used no
CPU for 0.1 s, so a removal or a pool refill that follows one session lands neither in the
next reference run nor in the next create (it is still counted in the CPU figure).

The server runs at ``HANGAR_LOG_LEVEL=WARNING`` unless told otherwise (no access log).
Exit status: 0, or 1 if an iteration failed (wrong output, non-zero exit code, an error).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import tomllib
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
from websockets.sync.client import connect as ws_connect

from hangar.api.bai.signature import LATEST_VERSION
from hangar.util.signing import sign

COMMAND = 'python -c "print(1)"'
EXPECTED = "1"
PYTHON = "/usr/bin/python3"
BWRAP_ARGS = ["--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--unshare-pid",
              "--die-with-parent"]  # fmt: skip
PHASES = ("create", "first output", "run end", "destroy", "total")
# (label, from, to): status history entries, or the client's marks (create_sent, ...)
SERVER_STEPS = (
    ("create: request -> PENDING", "create_sent", "PENDING"),
    ("create: PENDING -> SCHEDULED", "PENDING", "SCHEDULED"),
    ("create: SCHEDULED -> PREPARING", "SCHEDULED", "PREPARING"),
    ("create: PREPARING -> RUNNING (kernel)", "PREPARING", "RUNNING"),
    ("create: RUNNING -> answer", "RUNNING", "create_done"),
    ("destroy: request -> TERMINATING", "destroy_sent", "TERMINATING"),
    ("destroy: TERMINATING -> TERMINATED", "TERMINATING", "TERMINATED"),
    ("destroy: TERMINATED -> answer", "TERMINATED", "destroy_done"),
)


# --------------------------------------------------------------------------------------------
# The server


@dataclass
class Server:
    proc: subprocess.Popen[bytes]
    home: Path
    endpoint: str
    access_key: str
    secret_key: str

    @property
    def log_path(self) -> Path:
        return self.home / "server.log"

    def tail(self, lines: int = 30) -> str:
        if not self.log_path.exists():
            return ""
        text = self.log_path.read_text(errors="replace").splitlines()[-lines:]
        return "\n--- server output (tail) ---\n" + "\n".join(text)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system, all threads) ``pid`` has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def settle(pid: int, quiet: float = 0.1, limit: float = 3.0) -> None:
    """Wait until ``pid`` has used no CPU for ``quiet`` seconds (at most ``limit``): work the
    server does after an answer (a removal, a pool refill) is then not inside the next
    iteration's reference run nor its create."""
    deadline = time.monotonic() + limit
    last = cpu_seconds(pid)
    while time.monotonic() < deadline:
        time.sleep(quiet)
        now = cpu_seconds(pid)
        if now == last:
            return
        last = now


def _hangar_command() -> list[str]:
    exe = Path(sys.executable).with_name("hangar")
    if exe.exists():
        return [str(exe), "server"]
    found = shutil.which("hangar")
    if found:
        return [found, "server"]
    return [sys.executable, "-c", "from hangar.cli.main import main; main()", "server"]


def start_server(
    home: Path,
    database_url: str | None,
    log_level: str,
    session_network: str | None = None,
    extra_env: dict[str, str] | None = None,
) -> Server:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HANGAR_", "BACKEND_"))}
    env.update(
        HANGAR_DATA_DIR=str(home / "data"),
        HANGAR_HOST="127.0.0.1",
        HANGAR_PORT="0",
        HANGAR_LOG_LEVEL=log_level,
        HANGAR_DEFAULT_RATE_LIMIT=str(10**9),
        XDG_CONFIG_HOME=str(home / "config"),
        NO_COLOR="1",
    )
    if database_url:
        env["HANGAR_DATABASE_URL"] = database_url
    if session_network:
        env["HANGAR_SESSION_NETWORK"] = session_network
    env.update(extra_env or {})
    config_path = home / "config" / "hangar" / "client.toml"
    with (home / "server.log").open("wb") as log:
        proc = subprocess.Popen(
            _hangar_command(), env=env, stdout=log, stderr=log, cwd=home,
            start_new_session=True,
        )  # fmt: skip
    server = Server(proc, home, "", "", "")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"hangar server exited with status {proc.returncode}"
                               + server.tail())  # fmt: skip
        if config_path.exists():
            config = tomllib.loads(config_path.read_text())
            try:
                healthy = httpx.get(config["endpoint"] + "/healthz", timeout=1).status_code
            except httpx.HTTPError:
                healthy = 0
            if healthy == 200:
                server.endpoint = config["endpoint"]
                server.access_key = config["access_key"]
                server.secret_key = config["secret_key"]
                return server
        time.sleep(0.05)
    server.stop()
    raise RuntimeError("hangar server did not become ready in 60 s" + server.tail())


# --------------------------------------------------------------------------------------------
# A signed client


class Client:
    """Backend.AI-signed requests over one keep-alive connection, as the official client."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.host = urlsplit(server.endpoint).netloc
        self.http = httpx.Client(base_url=server.endpoint, timeout=120)

    def headers(self, method: str, target: str, content_type: str) -> dict[str, str]:
        now = datetime.now(UTC)
        signature = sign(
            secret_key=self.server.secret_key, hash_name="sha256", method=method,
            target=target, date_header=now.isoformat(), date=now, host=self.host,
            content_type=content_type, version=LATEST_VERSION,
        )  # fmt: skip
        return {
            "Date": now.isoformat(),
            "X-BackendAI-Version": LATEST_VERSION,
            "Authorization": "BackendAI signMethod=HMAC-SHA256, "
            f"credential={self.server.access_key}:{signature}",
        }

    def call(self, method: str, target: str, body: Any = None) -> httpx.Response:
        headers = self.headers(method, target, "application/json")
        headers["Content-Type"] = "application/json"
        content = json.dumps(body).encode() if body is not None else b""
        return self.http.request(method, target, headers=headers, content=content)

    def websocket(self, target: str) -> Any:
        # Signed as a GET without a body; no Content-Type header, so the server assumes
        # application/octet-stream, as for the official client's WebSocket upgrades.
        headers = self.headers("GET", target, "application/octet-stream")
        url = "ws" + self.server.endpoint[len("http") :] + target
        return ws_connect(url, additional_headers=headers, max_size=None, open_timeout=60)

    def close(self) -> None:
        self.http.close()


def create_body(name: str) -> dict[str, Any]:
    """What ``backend.ai run`` sends (all keys present, nulls when unset)."""
    return {
        "tag": None, "name": name,
        "config": {"mounts": [], "environ": {}, "resources": {}, "resource_opts": {},
                   "scalingGroup": None, "mount_map": {}, "preopen_ports": [],
                   "agentList": []},
        "dependencies": [], "callback_url": None, "clusterSize": 1,
        "clusterMode": "single-node", "starts_at": None, "bootstrap_script": None,
        "owner_access_key": None, "domain": "default", "group": "default",
        "type": "interactive", "enqueueOnly": False, "maxWaitSeconds": 0,
        "reuseIfExists": False, "startupCommand": None, "image": "python",
    }  # fmt: skip


BATCH_OPTIONS = {"clean": "", "build": "", "buildLog": False, "exec": COMMAND}


@dataclass
class RunResult:
    first_output: float  # seconds from submission to the first stdout containing EXPECTED
    end: float  # seconds from submission to "finished"
    exit_code: int | None
    stdout: str
    connected: float | None = None  # seconds from submission until the WebSocket was open
    stderr: str = ""


@dataclass
class Marks:
    """Wall-clock times (``time.time()``) of one iteration, to set against the server's
    status history."""

    session_id: str
    create_sent: float
    create_done: float
    destroy_sent: float = 0.0
    destroy_done: float = 0.0


def run_ws(client: Client, session_id: str) -> RunResult:
    started = time.perf_counter()
    first = None
    stdout = ""
    stderr = ""
    with client.websocket(f"/stream/session/{session_id}/execute") as ws:
        connected = time.perf_counter() - started
        ws.send(json.dumps({"code": "", "mode": "batch", "options": BATCH_OPTIONS}))
        while True:
            result = json.loads(ws.recv(timeout=120))
            if result.get("status") == "error":
                raise RuntimeError(f"execute failed: {result}")
            for kind, payload in result.get("console") or []:
                if kind == "stdout":
                    stdout += payload
                elif kind == "stderr":
                    stderr += payload
            if first is None and EXPECTED in stdout:
                first = time.perf_counter() - started
            if result.get("status") in ("finished", "exec-timeout"):
                end = time.perf_counter() - started
                return RunResult(first if first is not None else end, end,
                                 result.get("exitCode"), stdout, connected, stderr)  # fmt: skip


def run_poll(client: Client, session_id: str) -> RunResult:
    started = time.perf_counter()
    first = None
    stdout = ""
    body: dict[str, Any] = {"mode": "batch", "code": "", "runId": None, "options": BATCH_OPTIONS}
    while True:
        response = client.call("POST", f"/session/{session_id}", body)
        if response.status_code != 200:
            raise RuntimeError(f"execute: {response.status_code} {response.text}")
        result = response.json()["result"]
        for kind, payload in result.get("console") or []:
            if kind == "stdout":
                stdout += payload
        if first is None and EXPECTED in stdout:
            first = time.perf_counter() - started
        if result["status"] in ("finished", "exec-timeout"):
            end = time.perf_counter() - started
            return RunResult(first if first is not None else end, end,
                             result.get("exitCode"), stdout)  # fmt: skip
        body = {"mode": "continue", "code": "", "runId": result["runId"], "options": {}}


def session_iteration(client: Client, transport: str) -> tuple[dict[str, float], Marks]:
    name = f"lat-{uuid.uuid4().hex[:12]}"
    sent = time.time()
    t0 = time.perf_counter()
    response = client.call("POST", "/session", create_body(name))
    t1 = time.perf_counter()
    if response.status_code != 201 or response.json().get("status") != "RUNNING":
        raise RuntimeError(f"create: {response.status_code} {response.text}")
    session_id = response.json()["sessionId"]
    marks = Marks(session_id, sent, sent + (t1 - t0))
    try:
        run = (run_ws if transport == "ws" else run_poll)(client, session_id)
    finally:
        marks.destroy_sent = time.time()
        t2 = time.perf_counter()
        destroyed = client.call("DELETE", f"/session/{session_id}")
        t3 = time.perf_counter()
        marks.destroy_done = marks.destroy_sent + (t3 - t2)
    if destroyed.status_code != 200:
        raise RuntimeError(f"destroy: {destroyed.status_code} {destroyed.text}")
    if run.exit_code != 0 or run.stdout.strip() != EXPECTED:
        raise RuntimeError(f"run: exit code {run.exit_code}, stdout {run.stdout!r}, "
                           f"stderr {run.stderr[-500:]!r}")  # fmt: skip
    phases = {
        "create": t1 - t0,
        "first output": run.first_output,
        "run end": run.end,
        "destroy": t3 - t2,
        "total": t3 - t0,
    }
    if run.connected is not None:
        phases["ws open"] = run.connected
    return phases, marks


def server_steps(database: Path, marks: list[Marks], samples: Samples) -> None:
    """Add the create and destroy steps of each iteration (:data:`SERVER_STEPS`) from the
    sessions' status history in the server's SQLite database."""
    with contextlib.closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True)) as db:
        for mark in marks:
            ids = (uuid.UUID(mark.session_id).hex, mark.session_id)
            row = db.execute("SELECT status_history FROM sessions WHERE id IN (?, ?)", ids)
            found = row.fetchone()
            if found is None:
                continue
            history = json.loads(found[0])
            times = {k: datetime.fromisoformat(v).timestamp() for k, v in history.items()}
            times.update({k: v for k, v in vars(mark).items() if isinstance(v, float)})
            for label, start, end in SERVER_STEPS:
                if start in times and end in times:
                    samples.add(f"step:{label}", times[end] - times[start])


# --------------------------------------------------------------------------------------------
# The reference


def direct_run(argv: list[str], attempts: int = 1) -> tuple[float, float]:
    """Seconds to the first output line and to the exit of ``argv``, which must print 1.

    A run that exits non-zero without output is tried again, ``attempts`` times in all:
    bubblewrap 0.8 fails to build a sandbox when a mount it copied goes away meanwhile (a
    session's scratch disk being removed; containers/bubblewrap#650).
    """
    for attempt in range(attempts):
        started = time.perf_counter()
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stdin=subprocess.DEVNULL)
        assert proc.stdout is not None
        line = proc.stdout.readline()
        first = time.perf_counter() - started
        rest = proc.stdout.read()
        code = proc.wait()
        end = time.perf_counter() - started
        if code != 0 and not line + rest and attempt + 1 < attempts:
            continue
        if code != 0 or line.strip() != b"1" or rest.strip():
            raise RuntimeError(f"{argv}: exit {code}, output {line + rest!r}")
        return first, end
    raise AssertionError("unreachable")


# --------------------------------------------------------------------------------------------
# Report


def quantile(values: list[float], q: float) -> float:
    """Linear interpolation between closest ranks (``statistics.quantiles``, inclusive)."""
    if len(values) == 1:
        return values[0]
    ordered = sorted(values)
    position = q * (len(ordered) - 1)
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


@dataclass
class Samples:
    values: dict[str, list[float]] = field(default_factory=dict)

    def add(self, key: str, value: float) -> None:
        self.values.setdefault(key, []).append(value)

    def median(self, key: str) -> float:
        return statistics.median(self.values[key])

    def p90(self, key: str) -> float:
        return quantile(self.values[key], 0.9)


def report(samples: Samples, args: argparse.Namespace, failures: int) -> None:
    n = len(samples.values.get("session:total", []))
    print()
    print(f"Session latency: {n} iterations (+{args.warmup} warm-up), transport {args.transport}, "
          f"{args.database_url or 'SQLite'}, server log level {args.log_level}"
          + (", settled before each iteration" if args.settle else ""))  # fmt: skip
    print(f"command: {COMMAND}   host: {os.cpu_count()} CPUs, Python {sys.version.split()[0]}")
    print()
    width = 44
    print(f"{'phase':<{width}} {'median ms':>10} {'p90 ms':>10}")
    print("-" * (width + 22))
    rows = [(f"session: {phase}", f"session:{phase}") for phase in PHASES]
    rows += [
        ("reference bwrap python3: first output", "bwrap:first"),
        ("reference bwrap python3: exit", "bwrap:end"),
        ("bare python3 -c: first output", "bare:first"),
        ("bare python3 -c: exit", "bare:end"),
        ("server CPU per session (incl. work after it)", "server:cpu"),
    ]
    breakdown = [("first output: ws open", "session:ws open")]
    breakdown += [(label, f"step:{label}") for label, _, _ in SERVER_STEPS]
    rows += [("breakdown:", "")] + [(f"  {label}", key) for label, key in breakdown]
    for label, key in rows:
        if not key:
            print(label)
        elif key in samples.values:
            med, p90 = samples.median(key) * 1e3, samples.p90(key) * 1e3
            print(f"{label:<{width}} {med:>10.1f} {p90:>10.1f}")
    print("-" * (width + 22))
    for label, key in [
        ("ratio total / bwrap reference (exit)", "ratio:total"),
        ("ratio first output / bwrap first output", "ratio:first"),
        ("ratio bwrap reference / bare python3", "ratio:bwrap"),
    ]:
        if key in samples.values:
            print(f"{label:<{width}} {samples.median(key):>9.1f}x {samples.p90(key):>9.1f}x")
    if "server:cpu" in samples.values:
        cpu = samples.values["server:cpu"]
        print(f"{'server CPU per session, mean (10 ms ticks)':<{width}} "
              f"{statistics.fmean(cpu) * 1e3:>9.1f}ms")  # fmt: skip
    print()
    print("Ratios are per iteration (session and reference measured back to back), then "
          "median / p90.")  # fmt: skip
    print("load average (1, 5, 15 min): before " + ", ".join(f"{x:.2f}" for x in args.load[0])
          + "; after " + ", ".join(f"{x:.2f}" for x in os.getloadavg()))  # fmt: skip
    if failures:
        print(f"FAILED iterations: {failures}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", "-n", type=int, default=20, help="measured iterations")
    parser.add_argument("--warmup", type=int, default=2, help="iterations not counted")
    parser.add_argument("--transport", choices=("ws", "poll"), default="ws")
    parser.add_argument("--database-url", default=None, help="default: SQLite in the data dir")
    parser.add_argument("--log-level", default="WARNING", help="the server's HANGAR_LOG_LEVEL")
    parser.add_argument(
        "--session-network", choices=("none", "egress"), default=None,
        help="the server's HANGAR_SESSION_NETWORK (default: its default, egress)",
    )  # fmt: skip
    parser.add_argument(
        "--env", action="append", default=[], metavar="HANGAR_NAME=VALUE",
        help="a setting for the server (repeatable), e.g. HANGAR_KERNEL_POOL_SIZE=0",
    )  # fmt: skip
    parser.add_argument(
        "--settle", action="store_true",
        help="before each iteration, wait until the server has used no CPU for 0.1 s",
    )  # fmt: skip
    parser.add_argument("--keep", action="store_true", help="keep the temporary data dir")
    args = parser.parse_args(argv)

    bwrap = shutil.which("bwrap")
    if bwrap is None:
        print("bubblewrap (bwrap) is not installed: no reference to compare with", file=sys.stderr)
        return 2
    reference = [bwrap, *BWRAP_ARGS, PYTHON, "-c", "print(1)"]
    bare = [PYTHON, "-c", "print(1)"]

    workdir = Path(tempfile.mkdtemp(prefix="hangar-session-latency-"))
    extra = dict(item.split("=", 1) for item in args.env)
    server = start_server(workdir, args.database_url, args.log_level, args.session_network, extra)
    client = Client(server)
    samples = Samples()
    failures = 0
    measured_marks: list[Marks] = []
    args.load = [os.getloadavg()]
    try:
        for i in range(args.warmup + args.repeat):
            measured = i >= args.warmup
            if args.settle:
                settle(server.proc.pid)
            cpu_before = cpu_seconds(server.proc.pid)
            ref_first, ref_end = direct_run(reference, attempts=3)
            bare_first, bare_end = direct_run(bare)
            try:
                phases, marks = session_iteration(client, args.transport)
            except Exception as exc:  # report and go on: one failure must not hide the rest
                failures += 1
                print(f"iteration {i}: {exc}", file=sys.stderr)
                continue
            if args.settle:
                settle(server.proc.pid)
            if not measured:
                continue
            samples.add("server:cpu", cpu_seconds(server.proc.pid) - cpu_before)
            for phase, seconds in phases.items():
                samples.add(f"session:{phase}", seconds)
            samples.add("bwrap:first", ref_first)
            samples.add("bwrap:end", ref_end)
            samples.add("bare:first", bare_first)
            samples.add("bare:end", bare_end)
            samples.add("ratio:total", phases["total"] / ref_end)
            samples.add("ratio:first", phases["first output"] / ref_first)
            samples.add("ratio:bwrap", ref_end / bare_end)
            measured_marks.append(marks)
            print(f"  {i - args.warmup + 1:>3}/{args.repeat}: total {phases['total'] * 1e3:7.1f} ms"
                  f"  (bwrap {ref_end * 1e3:5.1f} ms)", file=sys.stderr, flush=True)  # fmt: skip
        if args.database_url is None:
            server_steps(workdir / "data" / "hangar.db", measured_marks, samples)
    finally:
        client.close()
        server.stop()
        if args.keep:
            print(f"data dir kept: {workdir}", file=sys.stderr)
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    if not samples.values:
        print("no successful iteration", file=sys.stderr)
        return 1
    report(samples, args, failures)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
