"""Upload and download throughput of a vfolder file, as a ratio to a raw loopback HTTP copy.

Both sides run in the same process layout and are measured in alternating rounds in one run:

* ``raw``     a bare ASGI app on single-process uvicorn (httptools, uvloop): ``PUT /f`` writes
              the request body to a file as it arrives; ``GET /f`` streams the file back with
              an exact Content-Length. Nothing else is in the path.
* ``hangar``  a real ``hangar server`` on a fresh data dir: upload = ``request-upload`` (signed)
              then tus ``PATCH`` requests of ``--chunk`` bytes on one keep-alive connection
              (the file appears in the folder when complete); download = ``request-download``
              then ``GET <url>?token=`` of the whole file.

The client is the same small asyncio (uvloop) HTTP/1.1 client for both: it reads the source
file in 1 MiB pieces and writes downloads to a file, so client costs are identical. Every
download is checked byte for byte (SHA-256) against the source. Medians are reported.

    .venv/bin/python bench/transfer.py [--size 1g] [--rounds 3] [--chunk 64m] [--dir DIR]

Then one more upload of the file is cut off mid-body (the client drops the connection at 40 %)
and resumed from the offset the server reports (tus HEAD); the result is checked byte for byte.

Exit status: 0 when both ratios reach the target (0.8), the interrupted upload resumes from
where it stopped and every copy is byte-exact, else 1.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
import tomllib
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import uvloop

from hangar.api.bai.signature import LATEST_VERSION, sign

TARGET_RATIO = 0.8
PIECE = 1 << 20
GIB = 1 << 30

RAW_APP = textwrap.dedent(
    """
    import os, sys, uvicorn
    TARGET = sys.argv[1]
    PIECE = 1 << 20

    async def app(scope, receive, send):
        if scope["type"] != "http":
            return
        if scope["method"] == "PUT":
            fd = os.open(TARGET, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            try:
                more = True
                while more:
                    message = await receive()
                    os.write(fd, message.get("body", b""))
                    more = message.get("more_body", False)
            finally:
                os.close(fd)
            await send({"type": "http.response.start", "status": 204, "headers": []})
            await send({"type": "http.response.body", "body": b""})
            return
        size = os.path.getsize(TARGET)
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-length", str(size).encode()),
                                (b"content-type", b"application/octet-stream")]})
        with open(TARGET, "rb", buffering=0) as f:
            while True:
                piece = f.read(PIECE)
                if not piece:
                    break
                await send({"type": "http.response.body", "body": piece, "more_body": True})
        await send({"type": "http.response.body", "body": b""})

    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[2]), http="httptools",
                loop="uvloop", log_level="warning", access_log=False, lifespan="off")
    """
)


def parse_size(text: str) -> int:
    units = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30}
    text = text.strip().lower()
    return int(float(text[:-1]) * units[text[-1]]) if text[-1] in units else int(text)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


# A minimal HTTP/1.1 client ---------------------------------------------------------------


class Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, host: str, port: int) -> Connection:
        reader, writer = await asyncio.open_connection(host, port, limit=4 * PIECE)
        return cls(reader, writer)

    async def request(
        self,
        method: str,
        target: str,
        headers: dict[str, str],
        body_file: Path | None = None,
        offset: int = 0,
        length: int = 0,
        sink: Path | None = None,
    ) -> tuple[int, dict[str, str]]:
        lines = [f"{method} {target} HTTP/1.1", "Host: 127.0.0.1"]
        lines += [f"{k}: {v}" for k, v in {**headers, "Content-Length": str(length)}.items()]
        self.writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
        if body_file is not None:
            with body_file.open("rb", buffering=0) as source:
                source.seek(offset)
                left = length
                while left:
                    piece = source.read(min(PIECE, left))
                    left -= len(piece)
                    self.writer.write(piece)
                    await self.writer.drain()
        await self.writer.drain()
        status_line = await self.reader.readline()
        status = int(status_line.split()[1])
        response_headers: dict[str, str] = {}
        while True:
            line = await self.reader.readline()
            if line in (b"\r\n", b""):
                break
            name, _, value = line.decode().partition(":")
            response_headers[name.strip().lower()] = value.strip()
        size = int(response_headers.get("content-length", "0"))
        if sink is None:
            await self.reader.readexactly(size)
            return status, response_headers
        fd = os.open(sink, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            left = size
            while left:
                piece = await self.reader.read(min(4 * PIECE, left))
                if not piece:
                    raise ConnectionError("the server closed the connection mid-body")
                os.write(fd, piece)
                left -= len(piece)
        finally:
            os.close(fd)
        return status, response_headers

    def close(self) -> None:
        self.writer.close()


# Targets ---------------------------------------------------------------------------------


@dataclass
class Process:
    proc: subprocess.Popen[bytes]

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()


def wait_http(url: str, proc: subprocess.Popen[bytes], seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{url}: the server exited ({proc.returncode})")
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.05)
    raise RuntimeError(f"{url} did not answer in {seconds} s")


def start_raw(workdir: Path) -> tuple[Process, int]:
    port = free_port()
    script = workdir / "raw_app.py"
    script.write_text(RAW_APP)
    proc = subprocess.Popen(
        [sys.executable, str(script), str(workdir / "raw-target"), str(port)],
        start_new_session=True,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return Process(proc), port
        time.sleep(0.05)
    raise RuntimeError("the raw server did not start")


@dataclass
class Hangar:
    process: Process
    endpoint: str
    access_key: str
    secret_key: str

    def signed(self, method: str, target: str, body: Any) -> Any:
        now = datetime.now(UTC)
        host = urlsplit(self.endpoint).netloc
        signature = sign(
            secret_key=self.secret_key, hash_name="sha256", method=method, target=target,
            date_header=now.isoformat(), date=now, host=host,
            content_type="application/json", version=LATEST_VERSION,
        )  # fmt: skip
        headers = {
            "Date": now.isoformat(),
            "X-BackendAI-Version": LATEST_VERSION,
            "Content-Type": "application/json",
            "Authorization": "BackendAI signMethod=HMAC-SHA256, "
            f"credential={self.access_key}:{signature}",
        }
        response = httpx.request(
            method, self.endpoint + target, headers=headers, content=json.dumps(body), timeout=60
        )
        response.raise_for_status()
        return response.json() if response.content else None


def start_hangar(workdir: Path) -> Hangar:
    home = workdir / "hangar"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HANGAR_", "BACKEND_"))}
    env.update(
        HANGAR_DATA_DIR=str(home / "data"), HANGAR_HOST="127.0.0.1", HANGAR_PORT="0",
        HANGAR_LOG_LEVEL="WARNING", HANGAR_AGENT_RUNTIME="none",
        HANGAR_DEFAULT_RATE_LIMIT=str(10**9), XDG_CONFIG_HOME=str(home / "config"),
    )  # fmt: skip
    home.mkdir(parents=True)
    exe = Path(sys.executable).parent / "hangar"
    command = [str(exe), "server"] if exe.exists() else ["hangar", "server"]
    with (home / "server.log").open("wb") as log:
        proc = subprocess.Popen(command, env=env, stdout=log, stderr=log, start_new_session=True)
    config_path = home / "config" / "hangar" / "client.toml"
    deadline = time.monotonic() + 60
    while not config_path.exists():
        if time.monotonic() > deadline or proc.poll() is not None:
            raise RuntimeError("hangar server did not start:\n" + (home / "server.log").read_text())
        time.sleep(0.05)
    config = tomllib.loads(config_path.read_text())
    wait_http(config["endpoint"] + "/healthz", proc)
    return Hangar(Process(proc), config["endpoint"], config["access_key"], config["secret_key"])


# Rounds ----------------------------------------------------------------------------------


async def raw_round(port: int, source: Path, sink: Path, size: int) -> tuple[float, float]:
    conn = await Connection.open("127.0.0.1", port)
    try:
        began = time.perf_counter()
        status, _ = await conn.request("PUT", "/f", {}, source, 0, size)
        up = time.perf_counter() - began
        assert status == 204, status
        began = time.perf_counter()
        status, _ = await conn.request("GET", "/f", {}, sink=sink)
        down = time.perf_counter() - began
        assert status == 200, status
    finally:
        conn.close()
    return up, down


async def hangar_round(
    hangar: Hangar, source: Path, sink: Path, size: int, chunk: int, name: str
) -> tuple[float, float]:
    port = urlsplit(hangar.endpoint).port or 80
    conn = await Connection.open("127.0.0.1", port)
    try:
        began = time.perf_counter()
        ticket = await asyncio.to_thread(
            hangar.signed, "POST", "/folders/bench/request-upload", {"path": name, "size": size}
        )
        target = f"{urlsplit(ticket['url']).path}?token={ticket['token']}"
        offset = 0
        while offset < size:
            length = min(chunk, size - offset)
            headers = {"Tus-Resumable": "1.0.0", "Upload-Offset": str(offset),
                       "Content-Type": "application/offset+octet-stream"}  # fmt: skip
            status, reply = await conn.request("PATCH", target, headers, source, offset, length)
            assert status == 204, (status, reply)
            offset = int(reply["upload-offset"])
        up = time.perf_counter() - began
        began = time.perf_counter()
        ticket = await asyncio.to_thread(
            hangar.signed, "POST", "/folders/bench/request-download", {"path": name}
        )
        target = f"{urlsplit(ticket['url']).path}?token={ticket['token']}"
        status, _ = await conn.request("GET", target, {}, sink=sink)
        down = time.perf_counter() - began
        assert status == 200, status
    finally:
        conn.close()
    return up, down


async def interrupted_upload(hangar: Hangar, source: Path, sink: Path, size: int) -> int:
    """Upload ``source`` in one PATCH cut off at 40 %, then resume from the offset the server
    reports (HEAD); returns that offset. The completed file is downloaded to ``sink``."""
    port = urlsplit(hangar.endpoint).port or 80
    ticket = await asyncio.to_thread(
        hangar.signed, "POST", "/folders/bench/request-upload", {"path": "cut.bin", "size": size}
    )
    target = f"{urlsplit(ticket['url']).path}?token={ticket['token']}"
    headers = {"Tus-Resumable": "1.0.0", "Upload-Offset": "0",
               "Content-Type": "application/offset+octet-stream"}  # fmt: skip
    conn = await Connection.open("127.0.0.1", port)
    lines = [f"PATCH {target} HTTP/1.1", "Host: 127.0.0.1", f"Content-Length: {size}"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    conn.writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
    cut = size * 2 // 5
    with source.open("rb", buffering=0) as f:
        left = cut
        while left:
            piece = f.read(min(PIECE, left))
            left -= len(piece)
            conn.writer.write(piece)
            await conn.writer.drain()
    conn.writer.transport.abort()  # the connection breaks mid-body
    offset, stable = -1, 0
    while stable < 3:  # until the server has taken in what reached it
        await asyncio.sleep(0.1)
        check = await Connection.open("127.0.0.1", port)
        _status, reply = await check.request("HEAD", target, {"Tus-Resumable": "1.0.0"})
        check.close()
        now = int(reply["upload-offset"])
        stable, offset = (stable + 1, now) if now == offset else (0, now)
    conn = await Connection.open("127.0.0.1", port)
    try:
        headers["Upload-Offset"] = str(offset)
        status, reply = await conn.request("PATCH", target, headers, source, offset, size - offset)
        assert status == 204 and int(reply["upload-offset"]) == size, (status, reply)
        ticket = await asyncio.to_thread(
            hangar.signed, "POST", "/folders/bench/request-download", {"path": "cut.bin"}
        )
        target = f"{urlsplit(ticket['url']).path}?token={ticket['token']}"
        status, _ = await conn.request("GET", target, {}, sink=sink)
        assert status == 200
    finally:
        conn.close()
    return offset


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while piece := f.read(8 * PIECE):
            digest.update(piece)
    return digest.hexdigest()


def make_source(path: Path, size: int) -> None:
    with path.open("wb") as f:
        left = size
        while left:
            piece = os.urandom(min(8 * PIECE, left))
            f.write(piece)
            left -= len(piece)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", default="1g")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--chunk", default="64m", help="tus PATCH size for Hangar uploads")
    parser.add_argument("--dir", type=Path, default=None, help="scratch dir (default: a tmp dir)")
    args = parser.parse_args()
    size, chunk = parse_size(args.size), parse_size(args.chunk)
    workdir = Path(tempfile.mkdtemp(prefix="hangar-transfer-", dir=args.dir))
    raw = hangar = None
    try:
        source = workdir / "source.bin"
        make_source(source, size)
        expected = sha256(source)
        raw, port = start_raw(workdir)
        hangar = start_hangar(workdir)
        hangar.signed("POST", "/folders", {"name": "bench"})
        sink = workdir / "downloaded.bin"
        results: dict[str, list[tuple[float, float]]] = {"raw": [], "hangar": []}
        exact = True
        for index in range(args.rounds):
            for label in ("raw", "hangar"):
                if label == "raw":
                    timing = uvloop.run(raw_round(port, source, sink, size))
                else:
                    timing = uvloop.run(
                        hangar_round(hangar, source, sink, size, chunk, f"f{index}.bin")
                    )
                exact = exact and sha256(sink) == expected
                sink.unlink()
                results[label].append(timing)
                (workdir / "raw-target").unlink(missing_ok=True)
        mib = size / (1 << 20)
        print(f"file {mib:.0f} MiB, {args.rounds} rounds, tus chunk {chunk >> 20} MiB, medians")
        print(f"{'target':8} {'upload MiB/s':>13} {'download MiB/s':>15}")
        rates: dict[str, tuple[float, float]] = {}
        for label, timings in results.items():
            up = mib / statistics.median(t[0] for t in timings)
            down = mib / statistics.median(t[1] for t in timings)
            rates[label] = (up, down)
            print(f"{label:8} {up:13.0f} {down:15.0f}")
        up_ratio = rates["hangar"][0] / rates["raw"][0]
        down_ratio = rates["hangar"][1] / rates["raw"][1]
        print(f"ratio    {up_ratio:13.2f} {down_ratio:15.2f}   (target >= {TARGET_RATIO})")
        print(f"byte-exact downloads: {'yes' if exact else 'NO'}")
        resumed_at = uvloop.run(interrupted_upload(hangar, source, sink, size))
        resumed_exact = sha256(sink) == expected
        print(
            f"interrupted upload: cut after {size * 2 // 5 >> 20} MiB sent, resumed from "
            f"{resumed_at / (1 << 20):.1f} MiB, byte-exact: {'yes' if resumed_exact else 'NO'}"
        )
        good = exact and resumed_exact and resumed_at > 0
        good = good and up_ratio >= TARGET_RATIO and down_ratio >= TARGET_RATIO
        return 0 if good else 1
    finally:
        for target in (raw, hangar.process if hangar else None):
            if target is not None:
                target.stop()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
