"""Upload and download throughput of a vfolder file, as a ratio to a raw loopback HTTP copy.

The targets run as separate processes and are measured in paired rounds in one run:

* ``raw``     the reference: a plain-socket HTTP/1.1 server (no framework, blocking sockets,
              one thread per connection). ``PUT /f`` reads the body with ``recv_into`` into a
              4 MiB buffer and ``os.write``s it to a new file; ``GET /f`` sends the file with
              ``sendfile(2)``. This is about as fast as a loopback HTTP copy gets here.
* ``hangar``  a real ``hangar server`` on a fresh data dir: upload = ``request-upload`` (signed)
              then tus ``PATCH`` requests of ``--chunk`` bytes (16 MiB, the official client's
              default) on one keep-alive connection (the file appears in the folder when
              complete); download = ``request-download`` then ``GET <url>?token=`` of the
              whole file. The token requests are inside the timed span.
* ``asgi``    (``--asgi``, for context) a bare ASGI app on single-process uvicorn (httptools,
              uvloop) doing what ``raw`` does: the floor any Python ASGI server starts from.

Both data dirs are on the same file system (``--dir``), and both targets start every round
from the same state: the uploaded file is new (``raw`` creates it, Hangar stages and renames
it) and is deleted after the round, so each upload allocates fresh page cache, as a real
one does, and nothing piles up for the disk's write-back.

The client is the same for all: blocking sockets with ``TCP_NODELAY`` (as HTTP client
libraries set it), request bodies sent with ``sendfile(2)``, response bodies received with
``recv_into`` into an 8 MiB buffer and written over a sink file in ``--sink-dir`` (default
``/dev/shm``) that is allocated once before the first round, so the client's cost is the
same, small and steady for every target. (Writing each download into a new file made the
client allocate 1 GiB of memory per download, and on this virtual machine fresh memory
costs anywhere from 0.2 to 3 CPU-seconds per GiB: that, not the servers, was most of the
spread between runs.) Every download is checked byte for byte (SHA-256) against the source.

The machine is shared, so one round can be slowed by others' work. Round i runs ``raw``
then ``hangar`` (even i) or ``hangar`` then ``raw`` (odd i), back to back, and gives one
upload and one download ratio; the result is the median of those paired ratios. The
ratio of the median rates is printed beside it. The load average is printed before and
after. (The reference's upload is bimodal on the shared 2-CPU machine: about 550 MiB/s, or
1.3 to 3 GiB/s when it follows its own upload; Hangar's stays near 800 MiB/s either way,
so single rounds swing and only the median of several means much.)

    .venv/bin/python bench/transfer.py [--size 1g] [--rounds 5] [--chunk 16m] [--dir DIR]

Then one more upload of the file is cut off mid-body (the client drops the connection at 40 %)
and resumed from the offset the server reports (tus HEAD); the result is checked byte for byte.

Exit status: 0 when both median paired ratios reach ``--target`` (0.8), the interrupted
upload resumes from where it stopped and every copy is byte-exact, else 1.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import signal
import socket
import statistics
import struct
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


RAW_SOCKET_APP = textwrap.dedent(
    """
    import os, socket, sys, threading
    TARGET, BUF = sys.argv[1], 4 << 20

    def serve(conn):
        view = memoryview(bytearray(BUF))
        pending = b""
        with conn:
            while True:
                while b"\\r\\n\\r\\n" not in pending:
                    data = conn.recv(65536)
                    if not data:
                        return
                    pending += data
                head, _, pending = pending.partition(b"\\r\\n\\r\\n")
                lines = head.decode().split("\\r\\n")
                fields = {k.strip().lower(): v.strip()
                          for k, _, v in (line.partition(":") for line in lines[1:])}
                length = int(fields.get("content-length", "0"))
                if lines[0].startswith("PUT "):
                    fd = os.open(TARGET, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
                    try:
                        first, pending = pending[:length], pending[length:]
                        os.write(fd, first)
                        left = length - len(first)
                        while left:
                            n = conn.recv_into(view[: min(BUF, left)])
                            if not n:
                                return
                            os.write(fd, view[:n])
                            left -= n
                    finally:
                        os.close(fd)
                    conn.sendall(b"HTTP/1.1 204 No Content\\r\\nContent-Length: 0\\r\\n\\r\\n")
                    continue
                fd = os.open(TARGET, os.O_RDONLY)
                try:
                    size = os.fstat(fd).st_size
                    conn.sendall(("HTTP/1.1 200 OK\\r\\nContent-Type: application/octet-stream"
                                  f"\\r\\nContent-Length: {size}\\r\\n\\r\\n").encode())
                    offset = 0
                    while offset < size:
                        offset += os.sendfile(conn.fileno(), fd, offset, size - offset)
                finally:
                    os.close(fd)

    server = socket.create_server(("127.0.0.1", int(sys.argv[2])))
    while True:
        conn, _ = server.accept()
        threading.Thread(target=serve, args=(conn,), daemon=True).start()
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
    """One keep-alive HTTP/1.1 connection on a blocking socket."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buffer = bytearray(8 * PIECE)
        self.pending = b""

    @classmethod
    def open(cls, host: str, port: int) -> Connection:
        sock = socket.create_connection((host, port))
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return cls(sock)

    def send_head(self, method: str, target: str, headers: dict[str, str], length: int) -> None:
        lines = [f"{method} {target} HTTP/1.1", "Host: 127.0.0.1"]
        lines += [f"{k}: {v}" for k, v in {**headers, "Content-Length": str(length)}.items()]
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())

    def request(
        self,
        method: str,
        target: str,
        headers: dict[str, str],
        body_file: Path | None = None,
        offset: int = 0,
        length: int = 0,
        sink: Path | None = None,
    ) -> tuple[int, dict[str, str]]:
        self.send_head(method, target, headers, length)
        if body_file is not None and length:
            with body_file.open("rb") as source:
                self.sock.sendfile(source, offset, length)
        while b"\r\n\r\n" not in self.pending:
            data = self.sock.recv(65536)
            if not data:
                raise ConnectionError("the server closed the connection")
            self.pending += data
        head, _, self.pending = self.pending.partition(b"\r\n\r\n")
        lines = head.decode().split("\r\n")
        status = int(lines[0].split()[1])
        response_headers = {
            k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])
        }
        size = 0 if method == "HEAD" else int(response_headers.get("content-length", "0"))
        first, self.pending = self.pending[:size], self.pending[size:]
        # The body is written over the sink from its start, then the sink is cut to its size:
        # pages of an earlier body are reused, not allocated again.
        fd = os.open(sink, os.O_WRONLY | os.O_CREAT, 0o644) if sink else None
        try:
            if fd is not None:
                os.write(fd, first)
            left, view = size - len(first), memoryview(self.buffer)
            while left:
                n = self.sock.recv_into(view[: min(len(view), left)])
                if not n:
                    raise ConnectionError("the server closed the connection mid-body")
                if fd is not None:
                    os.write(fd, view[:n])
                left -= n
            if fd is not None:
                os.ftruncate(fd, size)
        finally:
            if fd is not None:
                os.close(fd)
        return status, response_headers

    def abort(self) -> None:
        """Drop the connection at once (RST), as a client that crashes would."""
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.sock.close()

    def close(self) -> None:
        self.sock.close()


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


def start_raw(workdir: Path, kind: str) -> tuple[Process, int]:
    """The ``raw`` (plain socket) or ``asgi`` (uvicorn) reference server."""
    port = free_port()
    script = workdir / f"{kind}_app.py"
    script.write_text(RAW_SOCKET_APP if kind == "raw" else RAW_APP)
    proc = subprocess.Popen(
        [sys.executable, str(script), str(workdir / f"{kind}-target"), str(port)],
        start_new_session=True,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return Process(proc), port
        time.sleep(0.05)
    raise RuntimeError(f"the {kind} server did not start")


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


def raw_round(port: int, source: Path, sink: Path, size: int, target: Path) -> tuple[float, float]:
    conn = Connection.open("127.0.0.1", port)
    try:
        began = time.perf_counter()
        status, _ = conn.request("PUT", "/f", {}, source, 0, size)
        up = time.perf_counter() - began
        assert status == 204, status
        began = time.perf_counter()
        status, _ = conn.request("GET", "/f", {}, sink=sink)
        down = time.perf_counter() - began
        assert status == 200, status
    finally:
        conn.close()
    target.unlink()
    return up, down


def hangar_round(
    hangar: Hangar, source: Path, sink: Path, size: int, chunk: int, name: str
) -> tuple[float, float]:
    port = urlsplit(hangar.endpoint).port or 80
    conn = Connection.open("127.0.0.1", port)
    try:
        began = time.perf_counter()
        ticket = hangar.signed(
            "POST", "/folders/bench/request-upload", {"path": name, "size": size}
        )
        target = f"{urlsplit(ticket['url']).path}?token={ticket['token']}"
        offset = 0
        while offset < size:
            length = min(chunk, size - offset)
            headers = {"Tus-Resumable": "1.0.0", "Upload-Offset": str(offset),
                       "Content-Type": "application/offset+octet-stream"}  # fmt: skip
            status, reply = conn.request("PATCH", target, headers, source, offset, length)
            assert status == 204, (status, reply)
            offset = int(reply["upload-offset"])
        up = time.perf_counter() - began
        began = time.perf_counter()
        ticket = hangar.signed("POST", "/folders/bench/request-download", {"path": name})
        target = f"{urlsplit(ticket['url']).path}?token={ticket['token']}"
        status, _ = conn.request("GET", target, {}, sink=sink)
        down = time.perf_counter() - began
        assert status == 200, status
    finally:
        conn.close()
    hangar.signed("DELETE", "/folders/bench/delete-files", {"files": [name]})
    return up, down


def interrupted_upload(hangar: Hangar, source: Path, sink: Path, size: int) -> int:
    """Upload ``source`` in one PATCH cut off at 40 %, then resume from the offset the server
    reports (HEAD); returns that offset. The completed file is downloaded to ``sink``."""
    port = urlsplit(hangar.endpoint).port or 80
    ticket = hangar.signed(
        "POST", "/folders/bench/request-upload", {"path": "cut.bin", "size": size}
    )
    target = f"{urlsplit(ticket['url']).path}?token={ticket['token']}"
    headers = {"Tus-Resumable": "1.0.0", "Upload-Offset": "0",
               "Content-Type": "application/offset+octet-stream"}  # fmt: skip
    conn = Connection.open("127.0.0.1", port)
    conn.send_head("PATCH", target, headers, size)
    cut = size * 2 // 5
    with source.open("rb") as f:
        conn.sock.sendfile(f, 0, cut)
    conn.abort()  # the connection breaks mid-body
    offset, stable = -1, 0
    while stable < 3:  # until the server has taken in what reached it
        time.sleep(0.1)
        check = Connection.open("127.0.0.1", port)
        _status, reply = check.request("HEAD", target, {"Tus-Resumable": "1.0.0"})
        check.close()
        now = int(reply["upload-offset"])
        stable, offset = (stable + 1, now) if now == offset else (0, now)
    conn = Connection.open("127.0.0.1", port)
    try:
        headers["Upload-Offset"] = str(offset)
        status, reply = conn.request("PATCH", target, headers, source, offset, size - offset)
        assert status == 204 and int(reply["upload-offset"]) == size, (status, reply)
        ticket = hangar.signed("POST", "/folders/bench/request-download", {"path": "cut.bin"})
        target = f"{urlsplit(ticket['url']).path}?token={ticket['token']}"
        status, _ = conn.request("GET", target, {}, sink=sink)
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
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--chunk", default="16m", help="tus PATCH size for Hangar uploads")
    parser.add_argument("--dir", type=Path, default=None, help="scratch dir (default: a tmp dir)")
    parser.add_argument(
        "--sink-dir",
        type=Path,
        default=Path("/dev/shm") if Path("/dev/shm").is_dir() else None,
        help="where downloads land (default /dev/shm: memory, so the disk is not measured)",
    )
    parser.add_argument("--target", type=float, default=TARGET_RATIO, help="ratio to reach")
    parser.add_argument("--asgi", action="store_true", help="measure a bare uvicorn app too")
    args = parser.parse_args()
    size, chunk = parse_size(args.size), parse_size(args.chunk)
    workdir = Path(tempfile.mkdtemp(prefix="hangar-transfer-", dir=args.dir))
    servers: list[Process] = []
    sink = Path(args.sink_dir or workdir) / f"hangar-transfer-{os.getpid()}.bin"
    try:
        source = workdir / "source.bin"
        make_source(source, size)
        shutil.copyfile(source, sink)  # allocated once; every download overwrites it
        expected = sha256(source)
        ports: dict[str, int] = {}
        for kind in ("raw", "asgi") if args.asgi else ("raw",):
            process, ports[kind] = start_raw(workdir, kind)
            servers.append(process)
        hangar = start_hangar(workdir)
        servers.append(hangar.process)
        hangar.signed("POST", "/folders", {"name": "bench"})
        mib = size / (1 << 20)
        print(
            f"file {mib:.0f} MiB, {args.rounds} rounds, tus chunk {chunk >> 20} MiB, "
            f"load average {load()} (1, 5, 15 min), {os.cpu_count()} CPUs"
        )
        print(f"{'round':5} {'order':11} {'upload MiB/s':>24} {'download MiB/s':>24}")
        print(
            f"{'':17} {'hangar':>8} {'raw':>7} {'ratio':>7} {'hangar':>8} {'raw':>7} {'ratio':>7}"
        )
        timings: dict[str, list[tuple[float, float]]] = {label: [] for label in (*ports, "hangar")}
        exact = True
        for index in range(args.rounds):
            order = ["raw", "hangar"] if index % 2 == 0 else ["hangar", "raw"]
            if args.asgi:
                order.append("asgi")
            for label in order:
                if label == "hangar":
                    timing = hangar_round(hangar, source, sink, size, chunk, f"f{index}.bin")
                else:
                    target = workdir / f"{label}-target"
                    timing = raw_round(ports[label], source, sink, size, target)
                exact = exact and sha256(sink) == expected
                timings[label].append(timing)
            (hup, hdown), (rup, rdown) = timings["hangar"][-1], timings["raw"][-1]
            print(
                f"{index + 1:<5} {'/'.join(order[:2]):11} {mib / hup:8.0f} {mib / rup:7.0f} "
                f"{rup / hup:7.2f} {mib / hdown:8.0f} {mib / rdown:7.0f} {rdown / hdown:7.2f}"
            )
        rates = {
            label: (mib / statistics.median(t[0] for t in got),
                    mib / statistics.median(t[1] for t in got))
            for label, got in timings.items()
        }  # fmt: skip
        up_ratios = [r[0] / h[0] for h, r in zip(timings["hangar"], timings["raw"], strict=True)]
        down_ratios = [r[1] / h[1] for h, r in zip(timings["hangar"], timings["raw"], strict=True)]
        up_ratio, down_ratio = statistics.median(up_ratios), statistics.median(down_ratios)
        print(f"{'median':17} {rates['hangar'][0]:8.0f} {rates['raw'][0]:7.0f} {up_ratio:7.2f} "
              f"{rates['hangar'][1]:8.0f} {rates['raw'][1]:7.0f} {down_ratio:7.2f}")  # fmt: skip
        print(
            f"median of the paired ratios: upload {up_ratio:.2f}, download {down_ratio:.2f} "
            f"(hangar/raw, target >= {args.target}); ratio of the medians: upload "
            f"{rates['hangar'][0] / rates['raw'][0]:.2f}, download "
            f"{rates['hangar'][1] / rates['raw'][1]:.2f}"
        )
        if args.asgi:
            print(
                f"asgi (bare uvicorn): upload {rates['asgi'][0]:.0f}, download "
                f"{rates['asgi'][1]:.0f} MiB/s (medians, for context)"
            )
        print(f"byte-exact downloads: {'yes' if exact else 'NO'}")
        resumed_at = interrupted_upload(hangar, source, sink, size)
        resumed_exact = sha256(sink) == expected
        print(
            f"interrupted upload: cut after {size * 2 // 5 >> 20} MiB sent, resumed from "
            f"{resumed_at / (1 << 20):.1f} MiB, byte-exact: {'yes' if resumed_exact else 'NO'}"
        )
        print(f"load average after: {load()}")
        good = exact and resumed_exact and resumed_at > 0
        missed = [n for n, r in (("upload", up_ratio), ("download", down_ratio)) if r < args.target]
        if missed:
            print(f"MISSED the target: {' and '.join(missed)}")
        return 0 if good and not missed else 1
    finally:
        for process in servers:
            process.stop()
        sink.unlink(missing_ok=True)
        shutil.rmtree(workdir, ignore_errors=True)


def load() -> str:
    return ", ".join(f"{x:.2f}" for x in os.getloadavg())


if __name__ == "__main__":
    sys.exit(main())
