"""Throughput of the list reads under load, as a ratio to the signed no-op route.

What is compared, all in one run, on one ``hangar server`` per database (SQLite, then
PostgreSQL on a throwaway loopback cluster), each with FOLDERS folders and SESSIONS sessions
of the admin (the fake runtime: no sandbox, the read path is what is measured):

* ``noop``      a signed ``GET /auth/test``: authentication, rate limit, routing, JSON; no
                database read (the reference: what any route costs at least).
* ``folders``   a signed ``GET /folders`` (``backend.ai vfolder list``). On SQLite the list is
                kept until the database changes (hangar.db.hotread), so this is clients
                polling an unchanged list; re-read on every request it measured ~0.45x noop.
* ``sessions``  a signed ``POST /admin/gql`` with ``compute_session_list`` (``backend.ai ps``).

Each at 1, 50 and 200 concurrent keep-alive clients, one outstanding request each (the load
generator of bench/auth_overhead.py). Every request is signed like the official client's.

    .venv/bin/python bench/read_path.py [--seconds 3] [--warmup 1] [--clients 1,50,200]
        [--databases sqlite,postgresql] [--pin]

Columns: req/s, its ratio to the no-op route at the same concurrency on the same server,
p50/p99 latency, the server's CPU time per request, failed requests. The folder target
(``GET /folders`` >= TARGET_RPS at 200 clients on SQLite) is checked at the end.

Exit status: 0, or 1 if any request failed or the target was missed.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import tomllib
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from auth_overhead import (  # noqa: E402
    API_VERSION,
    HANGAR_RATE_LIMIT,
    Result,
    Server,
    _accepts,
    _hangar_command,
    _pin,
    _run_loop,
    _run_python,
    _wait_for,
)

TARGET_RPS = 2000
FOLDERS = 10  # the default resource policy's folder limit
SESSIONS = 10
SESSION_QUERY = (  # the fields `backend.ai ps` asks for
    "query($limit: Int!, $offset: Int!) { compute_session_list(limit: $limit, offset: $offset)"
    " { items { session_id name image type status status_info status_changed result }"
    " total_count } }"
)


def signed(server: Server, method: str, path: str, body: bytes = b"") -> bytes:
    """A request as the official client signs it (the body is not part of the signature)."""
    from hangar.util.signing import sign

    now = datetime.now(UTC)
    host = f"{server.host}:{server.port}"
    ctype = "application/json"
    signature = sign(
        secret_key=server.secret_key, hash_name="sha256", method=method, target=path,
        date_header=now.isoformat(), date=now, host=host, content_type=ctype,
        version=API_VERSION,
    )  # fmt: skip
    lines = [
        f"{method} {path} HTTP/1.1",
        f"Host: {host}",
        f"Date: {now.isoformat()}",
        f"Content-Type: {ctype}",
        f"Content-Length: {len(body)}",
        f"X-BackendAI-Version: {API_VERSION}",
        f"Authorization: BackendAI signMethod=HMAC-SHA256, credential={server.access_key}:"
        f"{signature}",
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def send(server: Server, method: str, path: str, payload: object) -> httpx.Response:
    raw = signed(server, method, path, json.dumps(payload).encode())
    head, body = raw.split(b"\r\n\r\n", 1)
    headers = dict(line.split(": ", 1) for line in head.decode().split("\r\n")[1:])
    url = f"http://{server.host}:{server.port}{path}"
    return httpx.request(method, url, headers=headers, content=body, timeout=60)


def start_hangar(workdir: Path, database: str, database_url: str | None, cpu: int | None) -> Server:
    home = workdir / f"hangar-{database}"
    home.mkdir()
    config_path = home / "client.toml"
    env = {k: v for k, v in os.environ.items() if not k.startswith("HANGAR_")}
    env.update(
        HANGAR_DATA_DIR=str(home / "data"), HANGAR_PORT="0", HANGAR_HOST="127.0.0.1",
        HANGAR_CLIENT_CONFIG_PATH=str(config_path), HANGAR_LOG_LEVEL="WARNING",
        HANGAR_DEFAULT_RATE_LIMIT=str(HANGAR_RATE_LIMIT), HANGAR_AGENT_RUNTIME="fake",
        HANGAR_KERNEL_POOL_SIZE="0", NO_COLOR="1",
    )  # fmt: skip
    if database_url:
        env["HANGAR_DATABASE_URL"] = database_url
    log_path = home / "server.log"
    with log_path.open("wb") as err, (home / "server.out").open("wb") as out:
        proc = __import__("subprocess").Popen(
            _hangar_command(), env=env, stdout=out, stderr=err, cwd=home, preexec_fn=_pin(cpu)
        )
    _wait_for(lambda: "Hangar listening on" in log_path.read_text(errors="replace"),
              f"hangar ({database})", proc, log_path)  # fmt: skip
    config = tomllib.loads(config_path.read_text())
    url = urlsplit(config["endpoint"])
    server = Server(
        f"hangar {database}", proc, url.hostname or "127.0.0.1", url.port or 80, log_path,
        config["access_key"], config["secret_key"],
    )  # fmt: skip
    _wait_for(lambda: _accepts(server.host, server.port), f"hangar ({database})", proc, log_path)
    return server


def populate(server: Server) -> None:
    for i in range(FOLDERS):
        made = send(server, "POST", "/folders", {"name": f"bench-{i:03d}"})
        if made.status_code != 201:
            raise RuntimeError(f"creating a folder: {made.status_code} {made.text}")
    for i in range(SESSIONS):
        made = send(server, "POST", "/session", {"name": f"bench-{i:03d}", "image": "python",
                                                 "enqueueOnly": True})  # fmt: skip
        if made.status_code not in (200, 201):
            raise RuntimeError(f"creating a session: {made.status_code} {made.text}")


def targets(server: Server) -> dict[str, bytes]:
    variables = {"limit": 50, "offset": 0}
    listed = send(server, "POST", "/admin/gql", {"query": SESSION_QUERY, "variables": variables})
    found = (listed.json().get("data") or {}).get("compute_session_list") or {}
    if listed.status_code != 200 or found.get("total_count") != SESSIONS:
        raise RuntimeError(f"listing sessions: {listed.status_code} {listed.text[:300]}")
    query = json.dumps({"query": SESSION_QUERY, "variables": variables})
    return {
        "noop": signed(server, "GET", "/auth/test"),
        "folders": signed(server, "GET", "/folders"),
        "sessions": signed(server, "POST", "/admin/gql", query.encode()),
    }


@dataclass
class Row:
    database: str
    clients: int
    target: str
    result: Result
    ratio: float


def measure(
    server: Server, database: str, clients: list[int], args: argparse.Namespace
) -> list[Row]:
    rows: list[Row] = []
    requests = targets(server)
    for n in clients:
        results = {
            name: _run_loop(_run_python(raw, server, n, args.warmup, args.seconds))
            for name, raw in requests.items()
        }
        noop = results["noop"].rps
        for name, r in results.items():
            rows.append(Row(database, n, name, r, r.rps / noop if noop else float("nan")))
            print(f"{database:<10} {n:>4} clients  {name:<9} {r.rps:>8,.0f} req/s"
                  f"  x{rows[-1].ratio:.2f} of noop", flush=True)  # fmt: skip
    return rows


def postgres_url(stack: list[object]) -> str:
    from tests.support.postgres import create_database, start_temporary_cluster

    cluster = start_temporary_cluster()
    stack.append(cluster)
    return create_database(cluster.url, prefix="hangar_bench")


def report(rows: list[Row]) -> int:
    print()
    print(f"{'database':<10} {'clients':>7} {'target':<9} {'req/s':>8} {'vs noop':>8} "
          f"{'p50 ms':>8} {'p99 ms':>8} {'us/req':>7} {'errors':>7}")  # fmt: skip
    failed = 0
    for row in rows:
        r = row.result
        failed += r.errors
        us = r.server_cpu * 1e6 / r.rps if r.rps else float("nan")
        print(f"{row.database:<10} {row.clients:>7} {row.target:<9} {r.rps:>8,.0f} "
              f"{row.ratio:>8.2f} {r.p50_ms:>8.1f} {r.p99_ms:>8.1f} {us:>7.0f} "
              f"{r.errors:>7}")  # fmt: skip
        for detail in r.error_detail[:3]:
            print(f"ERROR {row.database} {row.target} x{row.clients}: {detail}")
    status = 1 if failed else 0
    goal = [r for r in rows if (r.database, r.target, r.clients) == ("sqlite", "folders", 200)]
    if goal:
        rps = goal[0].result.rps
        verdict = "met" if rps >= TARGET_RPS else "MISSED"
        print(f"\nGET /folders, 200 clients, SQLite: {rps:,.0f} req/s (target >= {TARGET_RPS}: "
              f"{verdict})")  # fmt: skip
        status = status or int(rps < TARGET_RPS)
    return status


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="per target and concurrency")
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--clients", default="1,50,200", help="concurrencies, comma separated")
    parser.add_argument("--databases", default="sqlite,postgresql")
    parser.add_argument("--pin", action="store_true", help="server on CPU 0, load on CPU 1")
    args = parser.parse_args(argv)
    clients = [int(c) for c in args.clients.split(",") if c.strip()]
    server_cpu = None
    if args.pin and len(cpus := sorted(os.sched_getaffinity(0))) >= 2:
        server_cpu = cpus[0]
        os.sched_setaffinity(0, {cpus[1]})
    rows: list[Row] = []
    stack: list[object] = []
    with tempfile.TemporaryDirectory(prefix="hangar-bench-") as tmp:
        try:
            for database in [d.strip() for d in args.databases.split(",") if d.strip()]:
                url = postgres_url(stack) if database == "postgresql" else None
                server = start_hangar(Path(tmp), database, url, server_cpu)
                try:
                    populate(server)
                    time.sleep(1)  # let the enqueued sessions settle
                    rows += measure(server, database, clients, args)
                finally:
                    server.stop()
        finally:
            for cluster in stack:
                cluster.stop()  # type: ignore[attr-defined]
    return report(rows)


if __name__ == "__main__":
    try:
        sys.exit(main())
    except RuntimeError as exc:
        print(f"read_path: {exc}", file=sys.stderr)
        sys.exit(2)
