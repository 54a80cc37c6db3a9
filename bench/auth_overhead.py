"""Throughput of HMAC-signed requests, as a ratio to an unauthenticated Starlette endpoint.

What is compared, all in one run, each target in its own single-process uvicorn server
(httptools, uvloop, no uvicorn access log):

* ``reference``    a bare Starlette app, one route ``/auth/test`` answering the same small JSON
                   object as Hangar does; nothing else in the path.
* ``signed``       a real ``hangar server`` on a fresh data dir: a correctly signed
                   ``GET /auth/test`` (HMAC-SHA256, keys from the client.toml it writes).
* ``public``       the same server's ``GET /`` (version negotiation; a public route, though the
                   request carries the same kind of signature), to split the cost into the
                   framework (Hangar's request context, routing, JSON) and the route itself.

Hangar runs twice: at ``HANGAR_LOG_LEVEL=WARNING`` (no access log) and at the default ``INFO``
(one access-log line per request, to a file: the cheapest sink a user can have).

The request bytes are built once, with one Date header, and the reference gets exactly the
same bytes as the signed target, so the client-side cost is identical. The load generator is
a small asyncio (uvloop) keep-alive HTTP/1.1 client (one outstanding request per connection,
responses framed by Content-Length), or ``wrk`` when asked for and installed. Targets are
measured in alternating rounds after a warm-up; medians are reported.

    .venv/bin/python bench/auth_overhead.py [--seconds 3] [--connections 16] [--rounds 5]
        [--client python|wrk|auto] [--log-levels WARNING,INFO] [--pin]

Columns: median req/s; its ratio to the reference; median p50/p99 latency; the server process's
CPU use (fraction of one core) and CPU time per request (us/req, the steadier figure on a busy
machine); the load generator's CPU use (it must stay well below one core); failed requests.
The admin keypair gets HANGAR_DEFAULT_RATE_LIMIT=1e9: the default (30,000 per 15 minutes) is
used up by a benchmark in seconds and would turn the rest into 429s. The rate limiter still runs.

Exit status: 0, or 1 if any request failed (non-200 or a broken connection).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import re
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import tomllib
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

TARGET_RATIO = 0.5
API_VERSION = "v6.20220315"
CONTENT_TYPE = "application/json"
HANGAR_RATE_LIMIT = 10**9  # the default (30,000 per 15 min) would turn a long run into 429s
DATE_MAX_AGE = 600.0  # rebuild the requests before the server's 15-minute skew window closes


# --------------------------------------------------------------------------------------------
# The reference server (run as a child: ``auth_overhead.py --serve-reference``)


def serve_reference() -> None:
    """Serve a minimal Starlette app exactly as ``hangar server`` serves Hangar's."""
    import uvicorn
    import uvloop
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    async def test(_: Request) -> JSONResponse:
        return JSONResponse({"authorized": "yes", "echo": ""})

    app = Starlette(routes=[Route("/auth/test", test, methods=["GET", "POST"])])
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(2048)
    print(f"PORT {sock.getsockname()[1]}", flush=True)
    config = uvicorn.Config(
        app, log_config=None, access_log=False, lifespan="off", http="httptools", ws="auto",
        timeout_graceful_shutdown=5,
    )  # fmt: skip
    server = uvicorn.Server(config)
    with (
        contextlib.suppress(KeyboardInterrupt),
        asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner,
    ):
        runner.run(server.serve(sockets=[sock]))


# --------------------------------------------------------------------------------------------
# Servers under test


@dataclass
class Server:
    name: str
    proc: subprocess.Popen[bytes]
    host: str
    port: int
    log_path: Path | None = None
    access_key: str = ""
    secret_key: str = ""

    def cpu_seconds(self) -> float:
        """User + system CPU time of the server process (all its threads) so far."""
        try:
            fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return float("nan")
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def _wait_for(
    predicate, what: str, proc: subprocess.Popen[bytes], log: Path | None = None,
    timeout: float = 60.0,
):  # fmt: skip
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        if proc.poll() is not None:
            raise RuntimeError(
                f"{what}: the server exited with status {proc.returncode}{_tail(log)}"
            )
        time.sleep(0.05)
    raise RuntimeError(f"{what}: not ready after {timeout:.0f} s{_tail(log)}")


def _tail(log: Path | None, lines: int = 30) -> str:
    if log is None or not log.exists():
        return ""
    text = log.read_text(errors="replace").splitlines()[-lines:]
    return "\n--- server output (tail) ---\n" + "\n".join(text)


def start_reference(workdir: Path, cpu: int | None) -> Server:
    out = workdir / "reference.out"
    with out.open("wb") as f:
        proc = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), "--serve-reference"],
            stdout=f, stderr=subprocess.STDOUT, preexec_fn=_pin(cpu),
        )  # fmt: skip

    def port() -> int | None:
        match = re.search(r"PORT (\d+)", out.read_text())
        return int(match.group(1)) if match else None

    server = Server("reference", proc, "127.0.0.1", _wait_for(port, "reference", proc, out), out)
    _wait_for(lambda: _accepts(server.host, server.port), "reference", proc, out)
    return server


def _hangar_command() -> list[str]:
    exe = Path(sys.executable).with_name("hangar")
    if exe.exists():
        return [str(exe), "server"]
    found = shutil.which("hangar")
    if found:
        return [found, "server"]
    return [sys.executable, "-c", "from hangar.cli.main import main; main()", "server"]


def start_hangar(workdir: Path, log_level: str, cpu: int | None) -> Server:
    home = workdir / f"hangar-{log_level.lower()}"
    home.mkdir()
    config_path = home / "client.toml"
    env = {
        **os.environ,
        "HANGAR_DATA_DIR": str(home / "data"),
        "HANGAR_PORT": "0",
        "HANGAR_HOST": "127.0.0.1",
        "HANGAR_CLIENT_CONFIG_PATH": str(config_path),
        "HANGAR_LOG_LEVEL": log_level,
        "HANGAR_DEFAULT_RATE_LIMIT": str(HANGAR_RATE_LIMIT),
        "NO_COLOR": "1",
    }
    for name in ("HANGAR_CONFIG_FILE", "HANGAR_DATABASE_URL", "HANGAR_PUBLIC_URL"):
        env.pop(name, None)
    log_path = home / "server.log"  # stderr: the banner, then the access log at INFO
    with log_path.open("wb") as err, (home / "server.out").open("wb") as out:
        proc = subprocess.Popen(
            _hangar_command(), env=env, stdout=out, stderr=err, cwd=home,
            preexec_fn=_pin(cpu),
        )  # fmt: skip
    _wait_for(lambda: "Hangar listening on" in log_path.read_text(errors="replace"),
              f"hangar ({log_level})", proc, log_path)  # fmt: skip
    config = tomllib.loads(config_path.read_text())
    url = urlsplit(config["endpoint"])
    server = Server(
        f"hangar {log_level}", proc, url.hostname or "127.0.0.1", url.port or 80, log_path,
        config["access_key"], config["secret_key"],
    )  # fmt: skip
    _wait_for(lambda: _accepts(server.host, server.port), f"hangar ({log_level})", proc, log_path)
    return server


def _accepts(host: str, port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=1):
        return True
    return False


def _pin(cpu: int | None):
    if cpu is None:
        return None
    return lambda: os.sched_setaffinity(0, {cpu})


# --------------------------------------------------------------------------------------------
# Requests


def build_request(
    path: str, host: str, port: int, access_key: str, secret_key: str, now: datetime
) -> bytes:
    """A Backend.AI-signed GET, as the official client sends it (ISO-8601 Date, no body)."""
    from hangar.api.bai.signature import sign

    date_header = now.isoformat()
    host_header = f"{host}:{port}"
    signature = sign(
        secret_key=secret_key, hash_name="sha256", method="GET", target=path,
        date_header=date_header, date=now, host=host_header, content_type=CONTENT_TYPE,
        version=API_VERSION,
    )  # fmt: skip
    lines = [
        f"GET {path} HTTP/1.1",
        f"Host: {host_header}",
        "User-Agent: hangar-bench/1",
        "Accept: */*",
        f"Date: {date_header}",
        f"Content-Type: {CONTENT_TYPE}",
        f"X-BackendAI-Version: {API_VERSION}",
        f"Authorization: BackendAI signMethod=HMAC-SHA256, credential={access_key}:{signature}",
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


# --------------------------------------------------------------------------------------------
# Load generator: asyncio keep-alive client


@dataclass
class Tally:
    done: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    samples: dict[int, bytes] = field(default_factory=dict)
    latencies: list[float] = field(default_factory=list)
    broken: int = 0
    broken_reasons: Counter[str] = field(default_factory=Counter)


class _Conn(asyncio.Protocol):
    __slots__ = ("request", "tally", "running", "buf", "transport", "sent_at", "closed")

    def __init__(self, request: bytes, tally: Tally, running: list[bool]) -> None:
        self.request = request
        self.tally = tally
        self.running = running
        self.buf = bytearray()
        self.transport: asyncio.Transport | None = None
        self.sent_at = 0.0
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's is no subclass
        self._send()

    def _send(self) -> None:
        self.sent_at = time.perf_counter()
        self.transport.write(self.request)  # type: ignore[union-attr]

    def data_received(self, data: bytes) -> None:
        buf = self.buf
        buf += data
        while True:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(buf[:end]).lower()
            at = head.find(b"\r\ncontent-length:")
            if at < 0:
                self._fail("response without Content-Length")
                return
            eol = head.find(b"\r\n", at + 2)
            length = int(head[at + 17 : eol if eol > 0 else len(head)])
            total = end + 4 + length
            if len(buf) < total:
                return
            status = int(head[9:12])
            tally = self.tally
            tally.latencies.append(time.perf_counter() - self.sent_at)
            tally.done += 1
            tally.statuses[status] += 1
            if status != 200 and status not in tally.samples:
                tally.samples[status] = bytes(buf[:total])
            del buf[:total]
            if self.running[0]:
                self._send()
            else:
                self.transport.close()  # type: ignore[union-attr]
                return

    def _fail(self, reason: str) -> None:
        self.tally.broken += 1
        self.tally.broken_reasons[reason] += 1
        if self.transport is not None:
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.running[0]:
            self.tally.broken += 1
            self.tally.broken_reasons[f"connection lost: {exc!r}"] += 1
        if not self.closed.done():
            self.closed.set_result(None)


@dataclass
class Result:
    rps: float
    ok: int
    errors: int
    error_detail: list[str]
    p50_ms: float
    p99_ms: float
    server_cpu: float  # fraction of one core
    client_cpu: float  # fraction of one core (nan when unknown)


async def _run_python(
    request: bytes, server: Server, connections: int, warmup: float, seconds: float
) -> Result:
    loop = asyncio.get_running_loop()
    tally = Tally()
    running = [True]
    conns: list[_Conn] = []
    for _ in range(connections):
        _, proto = await loop.create_connection(
            lambda: _Conn(request, tally, running), server.host, server.port
        )
        conns.append(proto)
    await asyncio.sleep(warmup)
    done0, lat0, status0 = tally.done, len(tally.latencies), tally.statuses.copy()
    cpu0, client0, t0 = server.cpu_seconds(), _own_cpu(), time.perf_counter()
    await asyncio.sleep(seconds)
    done1, lat1, status1 = tally.done, len(tally.latencies), tally.statuses.copy()
    cpu1, client1, t1 = server.cpu_seconds(), _own_cpu(), time.perf_counter()
    running[0] = False
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(asyncio.gather(*(c.closed for c in conns)), timeout=5)
    for c in conns:
        if c.transport is not None:
            c.transport.close()
    elapsed = t1 - t0
    window = status1 - status0
    latencies = sorted(tally.latencies[lat0:lat1])
    errors = sum(n for s, n in tally.statuses.items() if s != 200) + tally.broken
    detail = [f"HTTP {s} x{n}: {_excerpt(tally.samples.get(s, b''))}"
              for s, n in tally.statuses.items() if s != 200]  # fmt: skip
    detail += [f"{reason} x{n}" for reason, n in tally.broken_reasons.items()]
    return Result(
        rps=(done1 - done0) / elapsed, ok=window[200], errors=errors, error_detail=detail,
        p50_ms=_pct(latencies, 0.50) * 1000, p99_ms=_pct(latencies, 0.99) * 1000,
        server_cpu=(cpu1 - cpu0) / elapsed, client_cpu=(client1 - client0) / elapsed,
    )  # fmt: skip


def _own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    return values[min(len(values) - 1, int(q * len(values)))]


def _excerpt(raw: bytes) -> str:
    text = raw.decode("latin-1", "replace")
    body = text.split("\r\n\r\n", 1)[-1]
    return body[:300]


# --------------------------------------------------------------------------------------------
# Load generator: wrk (optional)

_WRK_LUA = """
local seen = {}
response = function(status, headers, body)
  if status ~= 200 and seen[status] == nil then
    seen[status] = true
    io.write(string.format("BENCH_BAD %d %s\\n", status, (body or ""):sub(1, 300)))
  end
end
done = function(summary, latency, requests)
  io.write(string.format("BENCH_LAT %f %f\\n", latency:percentile(50), latency:percentile(99)))
end
"""


def _run_wrk(
    wrk: str,
    request: bytes,
    server: Server,
    connections: int,
    warmup: float,
    seconds: float,
    threads: int,
    workdir: Path,
) -> Result:
    head = request.decode("latin-1").split("\r\n")
    method, path, _ = head[0].split(" ")
    headers = [h for h in head[1:] if h and not h.lower().startswith("host:")]
    script = workdir / "bench.lua"
    script.write_text(_WRK_LUA)
    url = f"http://{server.host}:{server.port}{path}"
    base = [wrk, "-t", str(threads), "-c", str(connections), "--latency", "-s", str(script)]
    for h in headers:
        base += ["-H", h]
    if warmup > 0:
        subprocess.run([*base, "-d", f"{max(1, round(warmup))}s", url], capture_output=True,
                       check=False)  # fmt: skip
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu0 = server.cpu_seconds()
    t0 = time.perf_counter()
    out = subprocess.run([*base, "-d", f"{max(1, round(seconds))}s", url], capture_output=True,
                         text=True, check=False).stdout  # fmt: skip
    elapsed = time.perf_counter() - t0
    cpu1 = server.cpu_seconds()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    total = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    sock_err = re.search(r"Socket errors: (.*)", out)
    bad = [f"HTTP {m.group(1)}: {m.group(2)}" for m in re.finditer(r"BENCH_BAD (\d+) (.*)", out)]
    errors = (int(non2xx.group(1)) if non2xx else 0) + (1 if sock_err else 0)
    lat = re.search(r"BENCH_LAT ([\d.]+) ([\d.]+)", out)
    p50, p99 = (float(lat.group(1)) / 1000, float(lat.group(2)) / 1000) if lat else (0.0, 0.0)
    client = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    return Result(
        rps=rps, ok=total - errors, errors=errors,
        error_detail=bad + ([f"socket errors: {sock_err.group(1)}"] if sock_err else []),
        p50_ms=p50, p99_ms=p99, server_cpu=(cpu1 - cpu0) / elapsed, client_cpu=client / elapsed,
    )  # fmt: skip


# --------------------------------------------------------------------------------------------
# The benchmark


@dataclass
class Target:
    label: str
    server: Server
    path: str
    results: list[Result] = field(default_factory=list)
    request: bytes = b""


def _build_requests(targets: list[Target], signer: Server) -> float:
    """One Date for every request; the reference gets the signed target's exact bytes."""
    now = datetime.now(UTC)
    for t in targets:
        # The signature is always computed for a Hangar server's Host, so the request bytes
        # (and the client's work) are the same for the reference as for the signed target.
        by = t.server if t.server.access_key else signer
        t.request = build_request(t.path, by.host, by.port, by.access_key, by.secret_key, now)
    return time.monotonic()


def _median(values: list[float]) -> float:
    values = [v for v in values if v == v]
    return statistics.median(values) if values else float("nan")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="per round and target")
    parser.add_argument("--connections", type=int, default=16, help="keep-alive connections")
    parser.add_argument("--rounds", type=int, default=5, help="alternating rounds")
    parser.add_argument(
        "--warmup",
        type=float,
        default=1.0,
        help="seconds of unmeasured load before each measurement",
    )
    parser.add_argument(
        "--log-levels",
        default="WARNING,INFO",
        help="HANGAR_LOG_LEVEL values to measure, comma separated",
    )
    parser.add_argument(
        "--client",
        choices=("python", "wrk", "auto"),
        default="python",
        help="load generator: the built-in asyncio client (default), wrk, or wrk when installed",
    )
    parser.add_argument("--wrk-threads", type=int, default=1)
    parser.add_argument(
        "--pin",
        action="store_true",
        help="pin the servers to CPU 0 and the load generator to CPU 1",
    )
    parser.add_argument("--serve-reference", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)  # fmt: skip
    if args.serve_reference:
        serve_reference()
        return 0

    wrk = shutil.which("wrk") if args.client in ("wrk", "auto") else None
    if args.client == "wrk" and not wrk:
        parser.error("--client wrk: wrk is not installed")
    server_cpu = client_cpu = None
    if args.pin:
        cpus = sorted(os.sched_getaffinity(0))
        if len(cpus) >= 2:
            server_cpu, client_cpu = cpus[0], cpus[1]
            os.sched_setaffinity(0, {client_cpu})
    levels = [lv.strip().upper() for lv in args.log_levels.split(",") if lv.strip()]
    if not levels:
        parser.error("--log-levels: name at least one level")

    servers: list[Server] = []
    with tempfile.TemporaryDirectory(prefix="hangar-bench-") as tmp:
        workdir = Path(tmp)
        try:
            reference = start_reference(workdir, server_cpu)
            servers.append(reference)
            targets = [Target("reference  GET /auth/test (Starlette, no auth)", reference,
                              "/auth/test")]  # fmt: skip
            hangars: dict[str, Server] = {}
            for level in levels:
                hangar = start_hangar(workdir, level, server_cpu)
                servers.append(hangar)
                hangars[level] = hangar
                targets.append(Target(f"hangar {level:<7} GET /auth/test (signed)", hangar,
                                      "/auth/test"))  # fmt: skip
                targets.append(Target(f"hangar {level:<7} GET / (public)", hangar, "/"))
            built_at = _build_requests(targets, next(iter(hangars.values())))

            loader = "wrk" if wrk else ("asyncio+uvloop" if _use_uvloop() else "asyncio")
            pinned = (f", pinned (servers: cpu {server_cpu}, client: cpu {client_cpu})"
                      if server_cpu is not None else "")  # fmt: skip
            print(f"load: {loader}, {args.connections} connections, warm-up {args.warmup:g} s, "
                  f"{args.rounds} rounds x {args.seconds:g} s per target{pinned}"
                  f"{'; hangar INFO writes its access log to a file' if 'INFO' in levels else ''}",
                  flush=True)  # fmt: skip
            for rnd in range(1, args.rounds + 1):
                if time.monotonic() - built_at > DATE_MAX_AGE:
                    built_at = _build_requests(targets, next(iter(hangars.values())))
                line = []
                for t in targets:
                    if wrk:
                        r = _run_wrk(wrk, t.request, t.server, args.connections, args.warmup,
                                     args.seconds, args.wrk_threads, workdir)  # fmt: skip
                    else:
                        r = _run_loop(_run_python(t.request, t.server, args.connections,
                                                  args.warmup, args.seconds))  # fmt: skip
                    t.results.append(r)
                    line.append(f"{r.rps:,.0f}")
                print(f"round {rnd}: " + " | ".join(line) + " req/s", flush=True)
        finally:
            for s in servers:
                s.stop()

    return report(targets, levels)


def report(targets: list[Target], levels: list[str]) -> int:
    print()
    print(f"{'target':<48} {'req/s':>9} {'vs ref':>7} {'p50 ms':>7} {'p99 ms':>7} "
          f"{'srv cpu':>8} {'us/req':>7} {'cli cpu':>8} {'errors':>7}")  # fmt: skip
    ref = _median([r.rps for r in targets[0].results])
    medians: dict[str, float] = {}
    failed = 0
    for t in targets:
        rps = _median([r.rps for r in t.results])
        medians[t.label] = rps
        errors = sum(r.errors for r in t.results)
        idle = sum(1 for r in t.results if r.ok == 0)
        if idle:
            print(f"ERROR {t.label.strip()}: {idle} round(s) without a single 200 response")
            errors += idle
        failed += errors
        print(
            f"{t.label:<48} {rps:>9,.0f} {_ratio(rps, ref):>7.2f} "
            f"{_median([r.p50_ms for r in t.results]):>7.2f} "
            f"{_median([r.p99_ms for r in t.results]):>7.2f} "
            f"{_median([r.server_cpu for r in t.results]):>7.0%} "
            f"{_median([_cpu_us(r) for r in t.results]):>7.0f} "
            f"{_median([r.client_cpu for r in t.results]):>7.0%} {errors:>7}"
        )
        spread = [r.rps for r in t.results]
        if len(spread) > 1:
            print(f"{'':<4}rounds: " + ", ".join(f"{v:,.0f}" for v in spread))
    for t in targets:
        for r in t.results:
            for d in r.error_detail:
                print(f"ERROR {t.label.strip()}: {d}")
    print()
    for level in levels:
        signed = medians[f"hangar {level:<7} GET /auth/test (signed)"]
        public = medians[f"hangar {level:<7} GET / (public)"]
        print(
            f"[{level}] framework only (hangar GET / vs reference)  = {_ratio(public, ref):.2f}; "
            f"auth on top of it (signed vs hangar GET /) = {_ratio(signed, public):.2f}"
        )
    for level in levels:
        signed = medians[f"hangar {level:<7} GET /auth/test (signed)"]
        print(
            f"ratio signed/unauthenticated = {_ratio(signed, ref):.2f} (target >= {TARGET_RATIO}) "
            f"[HANGAR_LOG_LEVEL={level}]"
        )
    if failed:
        print(f"{failed} request(s) failed")
        return 1
    return 0


def _cpu_us(r: Result) -> float:
    """Server CPU time per request (microseconds): steadier than req/s on a busy machine."""
    return r.server_cpu * 1e6 / r.rps if r.rps else float("nan")


def _ratio(a: float, b: float) -> float:
    return a / b if b else float("nan")


def _use_uvloop() -> bool:
    try:
        import uvloop  # noqa: F401
    except ImportError:
        return False
    return True


def _run_loop(coro):  # type: ignore[no-untyped-def]
    if _use_uvloop():
        import uvloop

        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            return runner.run(coro)
    return asyncio.run(coro)


if __name__ == "__main__":
    try:
        sys.exit(main())
    except RuntimeError as exc:  # a server did not start: say why, without a traceback
        print(f"auth_overhead: {exc}", file=sys.stderr)
        sys.exit(2)
